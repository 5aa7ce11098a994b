//! Runs that repeat: the seeded order in which ready tasks are polled, and the line that tells
//! how to replay a failed run.
//!
//! The article's loop polls its generators in list order, and so does nbio's run queue: first
//! woken, first polled. That order is fixed by the program only as long as nothing races, and a
//! test that passes in one order may fail in another. With `Builder::seed(n)` (or
//! `NBIO_SEED=n` in the environment) the loop picks each next task from the ready ones with a
//! generator seeded by `n`: a different seed tries another order, the same seed replays one.
//! On the current-thread runtime the same seed and the same program give the same order of
//! polls. On worker threads the seed fixes what the runtime decides (which worker a worker
//! steals from first), not what the operating system's scheduler does with the threads.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io;

/// The environment variable that seeds a runtime built without `Builder::seed`.
pub(crate) const SEED_VAR: &str = "NBIO_SEED";

/// The seed `NBIO_SEED` asks for, if it is set.
///
/// # Errors
/// `InvalidInput` if it is set but not a number.
pub(crate) fn from_env() -> io::Result<Option<u64>> {
    let Some(value) = std::env::var_os(SEED_VAR) else {
        return Ok(None);
    };
    let text = value.to_string_lossy();
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.trim().parse().map(Some).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{SEED_VAR}={text:?} is not a seed: give a number, as in {SEED_VAR}=42"),
        )
    })
}

/// A small generator (SplitMix64): plenty for choosing among ready tasks, and the same
/// sequence for the same seed on every machine.
pub(crate) struct Rng {
    state: Cell<u64>,
    seed: u64,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng {
            state: Cell::new(seed),
            seed,
        }
    }

    /// The seed it started from.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    fn next(&self) -> u64 {
        let state = self.state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.state.set(state);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (which must not be zero).
    pub(crate) fn below(&self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Takes one of the queued tasks, chosen by the generator.
    pub(crate) fn pick<T>(&self, queue: &mut VecDeque<T>) -> Option<T> {
        match queue.len() {
            0 => None,
            1 => queue.pop_front(),
            len => queue.swap_remove_back(self.below(len)),
        }
    }
}

/// Says, if the thread unwinds past it, which seed replays the run: a panic that escapes
/// `block_on` (a task's `JoinError` unwrapped, a deadlock report) under a seed.
pub(crate) struct ReplayNote(pub(crate) Option<u64>);

impl Drop for ReplayNote {
    fn drop(&mut self) {
        if let Some(seed) = self.0 {
            if std::thread::panicking() {
                eprintln!("nbio: {SEED_VAR}={seed} replays this run");
            }
        }
    }
}

/// A number below `n` (which must not be zero) for `select!`'s first branch: drawn from the
/// seeded generator of the loop running on this thread, so that under a seed the same branch
/// wins on replay; without a seed, or outside an nbio runtime (`nbio::block_on` inside another
/// executor, say), from a generator of this thread seeded at random.
pub(crate) fn draw_below(n: usize) -> usize {
    let seeded = super::current::with_current(|current| {
        let rng = match current? {
            super::current::Current::Thread(thread) => thread.rng(),
            super::current::Current::Worker(worker) => worker.select_rng(),
            super::current::Current::BlockOn(block_on) => block_on.rng(),
            super::current::Current::Handle(_) => None,
        };
        rng.map(|rng| rng.below(n))
    });
    seeded.unwrap_or_else(|| UNSEEDED.with(|rng| rng.below(n)))
}

thread_local! {
    /// The generator of the unseeded draws: one per thread, no lock, different in every
    /// process (std's hash keys are random), so that no branch of a `select!` is favoured.
    static UNSEEDED: Rng = Rng::new({
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new().build_hasher().finish()
    });
}
