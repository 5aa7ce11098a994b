//! A clock cheap enough to read around every poll.
//!
//! Timing each poll is what catches the article's `time.sleep(0.02)` in the act, and a poll can
//! be as short as a few tens of nanoseconds, so `Instant::now()` (about 18 ns here, a vDSO call)
//! would be a large part of it. On x86_64 the time-stamp counter is read instead (about 7 ns),
//! and turned into time with a rate measured against `Instant`: no calibration delay at
//! start-up, the rate is taken once at least a millisecond has passed since the first runtime
//! was built. Every x86_64 CPU of the last fifteen years has an invariant TSC, which ticks at a
//! constant rate on every core; elsewhere the counter is simply nanoseconds from `Instant`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The first reading of both clocks in this process.
static ANCHOR: OnceLock<(Instant, u64)> = OnceLock::new();
/// Nanoseconds per tick, once measured.
static NANOS_PER_TICK: OnceLock<f64> = OnceLock::new();

/// Takes the anchor reading, if not taken yet. Called when a runtime is built.
pub(crate) fn start() {
    anchor();
}

fn anchor() -> (Instant, u64) {
    *ANCHOR.get_or_init(|| (Instant::now(), raw_ticks()))
}

#[cfg(target_arch = "x86_64")]
fn raw_ticks() -> u64 {
    // SAFETY: RDTSC has no preconditions; it reads a counter and cannot fault.
    unsafe { std::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
fn raw_ticks() -> u64 {
    match ANCHOR.get() {
        Some((start, _)) => start.elapsed().as_nanos() as u64,
        None => 0,
    }
}

/// The counter, in ticks. Only differences mean anything.
#[inline]
pub(crate) fn ticks() -> u64 {
    raw_ticks()
}

/// Nanoseconds per tick, or `None` during the first millisecond (too short to measure well).
pub(crate) fn nanos_per_tick() -> Option<f64> {
    if let Some(rate) = NANOS_PER_TICK.get() {
        return Some(*rate);
    }
    if cfg!(not(target_arch = "x86_64")) {
        return Some(*NANOS_PER_TICK.get_or_init(|| 1.0));
    }
    let (start, start_ticks) = anchor();
    let elapsed = start.elapsed();
    let ticks = raw_ticks().wrapping_sub(start_ticks);
    if elapsed < Duration::from_millis(1) || ticks == 0 {
        return None;
    }
    Some(*NANOS_PER_TICK.get_or_init(|| elapsed.as_nanos() as f64 / ticks as f64))
}

/// A number of ticks as a duration, once the rate is known.
pub(crate) fn to_duration(ticks: u64) -> Option<Duration> {
    nanos_per_tick().map(|rate| Duration::from_nanos((ticks as f64 * rate) as u64))
}

/// A duration as a number of ticks, once the rate is known.
pub(crate) fn from_duration(duration: Duration) -> Option<u64> {
    nanos_per_tick().map(|rate| (duration.as_nanos() as f64 / rate) as u64)
}
