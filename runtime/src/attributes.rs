//! What `#[nbio::main]` and `#[nbio::test]` expand to call (the attributes themselves are in
//! the `nbio-macros` package, `runtime/macros/`), and what `select!` and `join!` call
//! (`runtime/src/macros/`). Not for direct use: the names may change.

use std::future::Future;

use crate::executor::{Builder, OnCycle, Runtime};
pub use crate::macros::join::{join_poll, try_join_poll};

/// The attribute's arguments.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// `worker_threads = N`.
    pub worker_threads: Option<usize>,
    /// `seed = N`.
    pub seed: Option<u64>,
    /// `virtual_time`.
    pub virtual_time: bool,
}

impl Settings {
    fn builder(&self) -> Builder {
        let mut builder = Runtime::builder().virtual_time(self.virtual_time);
        if let Some(workers) = self.worker_threads {
            builder = builder.worker_threads(workers);
        }
        if let Some(seed) = self.seed {
            builder = builder.seed(seed);
        }
        builder
    }
}

/// `#[nbio::main]`: builds the runtime and runs `body` on it. A runtime that cannot start
/// (the process is out of descriptors or threads) ends the program with one line and exit
/// status 1.
pub fn run_main<T>(settings: Settings, body: impl Future<Output = T>) -> T {
    match settings.builder().build() {
        Ok(runtime) => runtime.block_on(body),
        Err(err) => {
            eprintln!("nbio::main: could not start the runtime: {err}");
            std::process::exit(1);
        }
    }
}

/// What a test function may return: `()`, or a `Result` (an `Err` fails the test).
pub trait TestOutcome {
    /// Whether this outcome fails the test.
    fn failed(&self) -> bool;
}

impl TestOutcome for () {
    fn failed(&self) -> bool {
        false
    }
}

impl<T, E> TestOutcome for Result<T, E> {
    fn failed(&self) -> bool {
        self.is_err()
    }
}

/// `#[nbio::test]`: runs `body` under a seed (the one given, else `NBIO_SEED`, else a fresh
/// one), and says which seed replays the run if the test fails, by a panic or by an `Err`. A
/// cycle of tasks waiting on each other panics (`OnCycle::Panic`): the test fails with the
/// report instead of hanging.
pub fn run_test<T: TestOutcome>(settings: Settings, body: impl Future<Output = T>) -> T {
    let seed = match settings.seed {
        Some(seed) => seed,
        None => match crate::executor::seed_from_env() {
            Ok(from_env) => from_env.unwrap_or_else(fresh_seed),
            Err(err) => panic!("nbio::test: {err}"),
        },
    };
    // A cycle of tasks waiting on each other fails the test rather than hang it.
    let runtime = Settings {
        seed: Some(seed),
        ..settings
    }
    .builder()
    .on_cycle(OnCycle::Panic)
    .build()
    .unwrap_or_else(|err| panic!("nbio::test could not start the runtime: {err}"));
    // A panic escaping block_on prints the replay line itself (the runtime has a seed).
    let outcome = runtime.block_on(body);
    if outcome.failed() {
        eprintln!("nbio: NBIO_SEED={seed} replays this run");
    }
    outcome
}

/// A seed nobody chose: different for every test and every run.
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// `nbio::select!` without `biased;`: the branch to poll first, below `branches`. Under a
/// seed it comes from the running runtime's seeded generator (so a replay picks the same
/// winners); otherwise from a cheap generator of this thread. One branch (or none) draws
/// nothing.
#[inline]
pub fn select_start(branches: usize) -> usize {
    if branches <= 1 {
        return 0;
    }
    crate::executor::draw_below(branches)
}
