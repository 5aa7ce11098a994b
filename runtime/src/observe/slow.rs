//! The slow-poll warning: what a flagged poll really was, and the one line that says so.
//!
//! A poll the watchdog flagged (`watchdog.rs`) has lasted at least one sampling period. When it
//! ends, its own thread reads the precise clock and its CPU time, and this module decides:
//!
//! - shorter than the threshold after all: no line (it still counts for `longest_poll`);
//! - the thread was blocked in a system call during it (a sleep, a blocking read): the task's
//!   doing, and the line says so;
//! - the thread was runnable but hardly ran (the operating system, or the virtual machine the
//!   system runs in, gave the CPU to something else): not the task's doing, and the line says
//!   that instead of blaming it;
//! - otherwise it computed for that long on the CPU: the task's doing.

use std::time::{Duration, Instant};

use super::explain::human;
use super::watchdog::{own_cpu_time, Sighting};
use super::Who;

/// A task that blocks in every poll gets one warning line per this much time, not one per poll.
const WARNING_EVERY: Duration = Duration::from_secs(1);

/// What a flagged poll turned out to be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Verdict {
    /// Blocked in a system call for part of it.
    Blocked,
    /// On the CPU for most of it.
    Computing,
    /// Runnable, but the CPU went elsewhere: `ran` of the `window` the CPU time was measured over.
    Descheduled { ran: Duration, window: Duration },
}

/// The measured facts about one flagged poll.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlowPoll {
    /// How long it certainly held the thread: from the watchdog's first sight of it to its end.
    pub(crate) held: Duration,
    pub(crate) verdict: Verdict,
}

impl SlowPoll {
    /// Measures a poll that just ended, from what the watchdog saw of it.
    pub(crate) fn measure(sighting: &Sighting, period: Duration) -> Option<SlowPoll> {
        let now = Instant::now();
        let held = now.saturating_duration_since(sighting.since?);
        let verdict = if sighting.blocked_samples > 0 {
            Verdict::Blocked
        } else {
            match sighting.cpu_at_flag {
                Some((at, cpu_then)) => {
                    let window = now.saturating_duration_since(at);
                    let ran = own_cpu_time().saturating_sub(cpu_then);
                    // Over a window too short to tell, give the task the benefit of the doubt.
                    if window >= period && ran < window / 2 {
                        Verdict::Descheduled { ran, window }
                    } else {
                        Verdict::Computing
                    }
                }
                None => Verdict::Computing,
            }
        };
        Some(SlowPoll { held, verdict })
    }
}

/// When each offender was last warned about, and how many slow polls went unmentioned since.
/// A short list searched in order: only the tasks that were slow are in it, and `forget` runs
/// for every task that finishes, so it must cost next to nothing when the task is not there.
#[derive(Default)]
pub(crate) struct RateLimit {
    warned: Vec<(Who, Instant, u64)>,
}

impl RateLimit {
    /// Whether to print a line for `who` now; if so, how many were held back since the last.
    pub(crate) fn admit(&mut self, who: Who) -> Option<u64> {
        let now = Instant::now();
        match self.warned.iter_mut().find(|(w, _, _)| *w == who) {
            Some((_, last, held_back)) if now.duration_since(*last) < WARNING_EVERY => {
                *held_back += 1;
                None
            }
            Some((_, last, held_back)) => {
                *last = now;
                Some(std::mem::take(held_back))
            }
            None => {
                self.warned.push((who, now, 0));
                Some(0)
            }
        }
    }

    /// `who` is gone; forget it.
    #[inline]
    pub(crate) fn forget(&mut self, who: Who) {
        if !self.warned.is_empty() {
            self.warned.retain(|(w, _, _)| *w != who);
        }
    }
}

/// The warning line. `what` names the poller ("task fetch#3 (spawned at src/main.rs:9:5)"),
/// `thread` the thread it held.
pub(crate) fn line(
    what: &str,
    thread: &str,
    slow: &SlowPoll,
    threshold: Duration,
    held_back: u64,
) -> String {
    let also = if held_back > 0 {
        format!("; {held_back} more slow poll(s) of it in the last second went unreported")
    } else {
        String::new()
    };
    let held = human(slow.held);
    let threshold = human(threshold);
    match slow.verdict {
        Verdict::Descheduled { ran, window } => format!(
            "nbio: slow poll: {what} was polled for at least {held} (threshold {threshold}), but \
             {thread} ran for only {} of the last {} of it: the operating system or the virtual \
             machine gave the CPU to something else, so this is not the task's doing{also}",
            human(ran),
            human(window),
        ),
        Verdict::Blocked => format!(
            "nbio: slow poll: {what} held {thread} for at least {held} (threshold {threshold}), \
             blocked in a system call (a sleep or blocking I/O); a poll must not block: await \
             instead of sleeping or doing blocking I/O{also}"
        ),
        Verdict::Computing => format!(
            "nbio: slow poll: {what} held {thread} for at least {held} (threshold {threshold}), \
             computing; a poll must not block: await between pieces of long work, or move it to \
             another thread{also}"
        ),
    }
}
