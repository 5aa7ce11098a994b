//! The cheap clock that stamps each turn of the loop, for the dumps' "last polled … ago".
//!
//! `CLOCK_MONOTONIC_COARSE` costs about 4 ns on the project's machine (`Instant::now()` about
//! 30 ns): the kernel keeps it in memory shared with the process and updates it at each
//! scheduler tick. Its resolution is that tick (1 to 4 ms), and under load it can lag by tens
//! of milliseconds and then jump, which is why nbio no longer times polls with it (the watchdog
//! does that, `watchdog.rs`); for "last polled 2 s ago" in a dump it is plenty.

/// Now, in nanoseconds since an arbitrary start. Only differences mean anything.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
pub(crate) fn coarse_nanos() -> u64 {
    use rustix::time::{clock_gettime, ClockId};
    let now = clock_gettime(ClockId::MonotonicCoarse);
    (now.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(now.tv_nsec as u64)
}

/// Elsewhere, the precise clock.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn coarse_nanos() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}
