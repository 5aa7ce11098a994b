//! The clock that times every poll.
//!
//! Timing each poll is what catches the article's `time.sleep(0.02)` in the act, and a poll can
//! be as short as twenty nanoseconds, so the clock must cost next to nothing. Measured on the
//! project's machine: `Instant::now()` (`CLOCK_MONOTONIC`) costs 15 ns, the CPU's cycle counter
//! about 14 ns once out-of-order execution has to wait for it, and `CLOCK_MONOTONIC_COARSE`
//! 3 ns: the kernel keeps it in memory shared with the process and only updates it at each
//! scheduler tick. Its resolution is that tick (1–4 ms), plenty to notice a poll that blocks
//! the thread for 10 ms or more.
//!
//! So polls are timed with the coarse clock, unless the slow-poll threshold is finer than its
//! resolution can tell (then with `Instant`), or the platform has no coarse clock.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A monotonic clock read in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PollClock {
    /// The kernel's tick-granular clock: cheap, coarse.
    Coarse,
    /// `Instant`: exact, five times dearer.
    Precise,
}

impl PollClock {
    /// The cheapest clock that can still tell whether a poll exceeded `threshold`.
    pub(crate) fn for_threshold(threshold: Option<Duration>) -> PollClock {
        match (coarse_resolution(), threshold) {
            (Some(resolution), Some(threshold)) if threshold >= resolution * 2 => PollClock::Coarse,
            (Some(_), None) => PollClock::Coarse,
            _ => PollClock::Precise,
        }
    }

    /// Now, in nanoseconds since an arbitrary start. Only differences mean anything.
    #[inline]
    pub(crate) fn now(self) -> u64 {
        match self {
            PollClock::Coarse => coarse_nanos(),
            PollClock::Precise => precise_nanos(),
        }
    }

    /// The smallest difference the clock can show.
    pub(crate) fn resolution(self) -> Duration {
        match self {
            PollClock::Coarse => coarse_resolution().unwrap_or_default(),
            PollClock::Precise => Duration::from_nanos(1),
        }
    }
}

fn precise_nanos() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn coarse_nanos() -> u64 {
    use rustix::time::{clock_gettime, ClockId};
    let now = clock_gettime(ClockId::MonotonicCoarse);
    (now.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(now.tv_nsec as u64)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn coarse_nanos() -> u64 {
    precise_nanos()
}

/// The coarse clock's resolution, if the platform has one.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn coarse_resolution() -> Option<Duration> {
    static RESOLUTION: OnceLock<Duration> = OnceLock::new();
    Some(*RESOLUTION.get_or_init(|| {
        let res = rustix::time::clock_getres(rustix::time::ClockId::MonotonicCoarse);
        Duration::new(res.tv_sec as u64, res.tv_nsec as u32)
    }))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn coarse_resolution() -> Option<Duration> {
    None
}
