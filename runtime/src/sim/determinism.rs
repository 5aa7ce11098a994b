//! Checking that a test repeats: run it twice under one seed and compare what the runtime did.
//!
//! A seed (`Builder::seed`) fixes the order in which the runtime polls ready tasks, and virtual
//! time (`Builder::virtual_time`) fixes what its clock reads. What they cannot fix is a body that
//! looks outside the runtime for its decisions: the wall clock, a global counter, a random
//! number, the order a `HashMap` iterates in. [`check_determinism`] finds those: it runs the body
//! twice on fresh runtimes with the same seed and virtual time, keeps each run's journal, and
//! compares them decision by decision (each spawn, poll and wake, in order). If they differ, it
//! says where, and what each run did there.

use std::fmt;
use std::future::Future;
use std::io;

use super::{Sim, SimError, SimReport};
use crate::executor::{OnCycle, Runtime};

/// Where two runs of the same body, under the same seed, stopped agreeing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The seed both runs used.
    pub seed: u64,
    /// The index (from 0) of the first decision that differs.
    pub at: usize,
    /// What the first run did there (`None`: it had already finished).
    pub first: Option<String>,
    /// What the second run did there.
    pub second: Option<String>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let said = |what: &Option<String>| what.clone().unwrap_or_else(|| "nothing more".into());
        write!(
            f,
            "two runs under NBIO_SEED={} diverged at decision {}: the first run: {}; the second: \
             {} (something outside the runtime decides: the wall clock, a global counter, a \
             random number, a HashMap's order?)",
            self.seed,
            self.at,
            said(&self.first),
            said(&self.second)
        )
    }
}

impl std::error::Error for Divergence {}

/// Runs `body()` twice, each time on a fresh current-thread runtime with `seed` and virtual time,
/// and compares the two runs' decisions. `Ok` with the two outputs if they agree.
///
/// ```
/// use std::time::Duration;
/// // Deterministic: its decisions depend only on the seed.
/// let same = nbio::sim::check_determinism(3, || async {
///     let tasks: Vec<_> = (0..4u64)
///         .map(|i| nbio::spawn(async move { nbio::time::sleep(Duration::from_millis(i)).await }))
///         .collect();
///     for task in tasks {
///         task.await.unwrap();
///     }
/// });
/// assert!(same.is_ok());
///
/// // Not deterministic: how many tasks it spawns depends on a counter outside the runtime.
/// static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// let differs = nbio::sim::check_determinism(3, || async {
///     let runs = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
///     for _ in 0..=runs {
///         nbio::spawn(async {}).await.unwrap();
///     }
/// });
/// let divergence = differs.unwrap_err();
/// assert!(divergence.to_string().contains("diverged at decision"));
/// ```
///
/// # Errors
/// A [`Divergence`] that says where the runs differed. (The journal keeps the last 262,144
/// records of each run; a body that makes more is compared on what was kept.)
///
/// # Panics
/// If a runtime cannot be built, or if `body` panics (the panic says which seed replays it).
/// A deadlock, or a cycle of tasks waiting on each other, panics too (`OnCycle::Panic`), with
/// a report that names the tasks and says which seed replays the run.
pub fn check_determinism<F, Fut>(
    seed: u64,
    body: F,
) -> Result<(Fut::Output, Fut::Output), Divergence>
where
    F: Fn() -> Fut,
    Fut: Future,
{
    let run = || -> io::Result<(Fut::Output, Vec<String>)> {
        let runtime = Runtime::builder()
            .seed(seed)
            .virtual_time(true)
            .trace(true)
            .on_cycle(OnCycle::Panic)
            .build()?;
        let output = runtime.block_on(body());
        let (decisions, _dropped) = runtime
            .decisions()
            .expect("the journal is on for a determinism check");
        Ok((output, decisions))
    };
    let built =
        |err: io::Error| panic!("nbio::sim::check_determinism could not build a runtime: {err}");
    let (first_output, first) = run().unwrap_or_else(built);
    let (second_output, second) = run().unwrap_or_else(built);
    match first_difference(seed, &first, &second) {
        None => Ok((first_output, second_output)),
        Some(divergence) => Err(divergence),
    }
}

impl Sim {
    /// Builds the simulation twice with `build`, runs both with the runtime's journal on, and
    /// compares them decision by decision (each spawn, poll and wake) and then event by event
    /// on the network (`SimReport::log`). `Ok` with the first run's outcome (which may itself
    /// be a failed run, a [`SimError`]) if they agree.
    ///
    /// ```
    /// use nbio::sim::Sim;
    /// use std::time::Duration;
    ///
    /// let build = || {
    ///     let mut sim = Sim::builder().seed(5).build();
    ///     sim.host("ticker", || async {
    ///         for _ in 0..10 {
    ///             nbio::time::sleep(Duration::from_millis(10)).await;
    ///         }
    ///     });
    ///     sim.client("c", async { nbio::time::sleep(Duration::from_millis(35)).await });
    ///     sim
    /// };
    /// let outcome = Sim::check_determinism(build).expect("one seed, one run");
    /// assert!(outcome.is_ok());
    /// ```
    ///
    /// # Errors
    /// A [`Divergence`] that says where the two runs first differed: something inside the
    /// simulation decides by what the seed does not fix (the real clock, a global counter, a
    /// random number, a `HashMap`'s order). The journal keeps the last 262,144 records of each
    /// run; a longer run is compared on what was kept and on its whole network log.
    pub fn check_determinism<F>(build: F) -> Result<Result<SimReport, SimError>, Divergence>
    where
        F: Fn() -> Sim,
    {
        let run = || {
            let sim = build();
            let seed = sim.seed();
            let (outcome, mut decisions) = sim.run_journaled(true);
            if let Ok(report) = &outcome {
                decisions.extend(
                    report
                        .log()
                        .into_iter()
                        .map(|line| format!("network: {line}")),
                );
            }
            (seed, outcome, decisions)
        };
        let (seed, outcome, first) = run();
        let (_, _, second) = run();
        match first_difference(seed, &first, &second) {
            None => Ok(outcome),
            Some(divergence) => Err(divergence),
        }
    }
}

/// Where two runs' records first differ, if they do.
fn first_difference(seed: u64, first: &[String], second: &[String]) -> Option<Divergence> {
    let at = (first.iter().zip(second))
        .position(|(a, b)| a != b)
        .or_else(|| (first.len() != second.len()).then(|| first.len().min(second.len())))?;
    Some(Divergence {
        seed,
        at,
        first: first.get(at).cloned(),
        second: second.get(at).cloned(),
    })
}
