//! The runtime's clock: the real one, or a virtual one that only moves when nothing else can.
//!
//! Timers compare their deadlines against this clock, not against `Instant::now()` directly, so
//! that a runtime built with `Builder::virtual_time(true)` can run an hour of sleeps in no time:
//! its clock starts at the real now and stands still while tasks run; when no task can run (and
//! no blocking job is running, and no socket event is ready), the loop moves it straight to the
//! next timer's deadline. Same program, same clock readings: a test that sleeps is exact and fast.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Real time, or a virtual clock.
pub(crate) enum Clock {
    /// `Instant::now()`.
    Real,
    /// Starts at the real now; moves only by `advance` and `advance_to`.
    Virtual(Mutex<Instant>),
}

impl Clock {
    pub(crate) fn new(virtual_time: bool) -> Clock {
        if virtual_time {
            Clock::Virtual(Mutex::new(Instant::now()))
        } else {
            Clock::Real
        }
    }

    /// Now, by this clock.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        match self {
            Clock::Real => Instant::now(),
            Clock::Virtual(now) => *now.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Whether this is a virtual clock.
    pub(crate) fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual(_))
    }

    /// Moves a virtual clock forward by `by` (a real clock is left alone).
    pub(crate) fn advance(&self, by: Duration) {
        if let Clock::Virtual(now) = self {
            let mut now = now.lock().unwrap_or_else(|e| e.into_inner());
            *now = now.checked_add(by).unwrap_or(*now);
        }
    }

    /// Moves a virtual clock forward to `deadline`, if that is later than now.
    pub(crate) fn advance_to(&self, deadline: Instant) {
        if let Clock::Virtual(now) = self {
            let mut now = now.lock().unwrap_or_else(|e| e.into_inner());
            if deadline > *now {
                *now = deadline;
            }
        }
    }
}
