//! The narrative: one line per journal event, in the spirit of the article's own prints
//! ("Blocking with 5242880 remaining").

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use super::event::{Cause, Event, PollOutcome, Record, WaitReason, Who};
use crate::reactor::Direction;
use crate::task::TaskId;

/// Looks up a task's name.
pub(crate) type Names<'a> = &'a dyn Fn(TaskId) -> Option<Arc<str>>;

/// How a line calls a task: `counter#1`, or `task#3` if it has no name.
pub(crate) fn task_label(id: TaskId, names: Names<'_>) -> String {
    match names(id) {
        Some(name) => format!("{name}#{}", id.0),
        None => format!("task#{}", id.0),
    }
}

/// How a line calls whoever holds the thread: a task's label, `block_on`, or `runtime`.
pub(crate) fn who_label(who: Who, names: Names<'_>) -> String {
    match who {
        Who::Nobody => "runtime".to_string(),
        Who::Main => "block_on".to_string(),
        Who::Task(id) => task_label(id, names),
    }
}

fn direction_word(dir: Direction) -> &'static str {
    match dir {
        Direction::Read => "readable",
        Direction::Write => "writable",
    }
}

/// `5242880` as `5,242,880`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration the way a person reads it: `850 ns`, `3.2 µs`, `12.45 ms`, `2.00 s`.
pub(crate) fn human(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos < 1_000 {
        format!("{nanos} ns")
    } else if nanos < 1_000_000 {
        format!("{:.1} µs", nanos as f64 / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.2} ms", nanos as f64 / 1e6)
    } else {
        format!("{:.2} s", nanos as f64 / 1e9)
    }
}

/// The line for one record, or `None` for records that say nothing on their own.
///
/// Lines are printed as records arrive, and a poll or a reactor wait is recorded when it ends:
/// such a line shows its end time, so that times only go forward down the page.
pub(crate) fn line(record: &Record, names: Names<'_>) -> Option<String> {
    let ended = match &record.event {
        Event::Poll { took, .. }
        | Event::Job { took, .. }
        | Event::ReactorWait { took, .. }
        | Event::RemoteWakes { took, .. } => record.at + *took,
        _ => record.at,
    };
    let mut out = format!("[{:>10.3} ms] ", ended.as_secs_f64() * 1e3);
    match &record.event {
        Event::Spawn {
            task, location, by, ..
        } => {
            let _ = write!(
                out,
                "spawn {} (at {location}), by {}",
                task_label(*task, names),
                who_label(*by, names)
            );
        }
        Event::Poll {
            who, took, outcome, ..
        } => {
            let _ = write!(
                out,
                "{}: polled for {} → {}",
                who_label(*who, names),
                human(*took),
                outcome.as_str()
            );
        }
        Event::Wake { task, cause } => {
            let target = task_label(*task, names);
            let _ = match cause {
                Cause::Io { fd, dir } => {
                    write!(
                        out,
                        "reactor: fd {fd} {} → wake {target}",
                        direction_word(*dir)
                    )
                }
                Cause::Timer => write!(out, "timer → wake {target}"),
                Cause::Task(by) => write!(out, "{} → wake {target}", task_label(*by, names)),
                Cause::Main => write!(out, "block_on → wake {target}"),
                Cause::Itself => write!(out, "{target} woke itself; back to the end of the queue"),
                Cause::Thread => write!(out, "another thread → wake {target}"),
                Cause::Unknown => write!(out, "wake {target}"),
            };
        }
        Event::ReactorWait {
            took,
            events,
            blocking,
        } => {
            let how = if *blocking {
                "waited"
            } else {
                "looked, without blocking, for"
            };
            let _ = write!(out, "reactor: {how} {} → {events} event(s)", human(*took));
        }
        Event::RemoteWakes { tasks, .. } => {
            let _ = write!(
                out,
                "runtime: {tasks} task(s) woken from other threads join the run queue"
            );
        }
        Event::Wait {
            who,
            fd,
            dir,
            remaining,
            why,
        } => {
            let who = who_label(*who, names);
            let dir = direction_word(*dir);
            let _ = match (why, remaining) {
                (WaitReason::WouldBlock, Some(bytes)) => write!(
                    out,
                    "{who}: WouldBlock with {} bytes remaining, waiting for {dir} on fd {fd}",
                    thousands(*bytes as u64),
                ),
                (WaitReason::WouldBlock, None) => {
                    write!(out, "{who}: WouldBlock, waiting for {dir} on fd {fd}")
                }
                (WaitReason::ShortWrite { took }, remaining) => write!(
                    out,
                    "{who}: short write, the kernel took {} bytes with {} bytes remaining: its \
                     buffer is full, waiting for {dir} on fd {fd} (no EAGAIN needed)",
                    thousands(*took as u64),
                    thousands(remaining.unwrap_or(0) as u64),
                ),
            };
        }
        Event::Steal { victim, tasks } => {
            let _ = write!(
                out,
                "stole {tasks} task(s) from worker {} (its queue was busy, this one was idle)",
                victim + 1
            );
        }
        Event::SlowPoll { who, took } => {
            let _ = write!(
                out,
                "{}: slow poll, held the thread for {}",
                who_label(*who, names),
                human(*took)
            );
        }
        Event::JobSpawn { job, location, by } => {
            let _ = write!(
                out,
                "spawn_blocking job#{} (at {location}), by {}",
                job.0,
                who_label(*by, names)
            );
        }
        Event::Job {
            job,
            took,
            queued_for,
            outcome,
            awaiter,
            ..
        } => {
            let _ = match outcome {
                PollOutcome::Cancelled => write!(
                    out,
                    "blocking pool: job#{} was aborted after {} in the queue; its closure never ran",
                    job.0,
                    human(*queued_for)
                ),
                _ => write!(
                    out,
                    "blocking pool: job#{} ran for {} after {} in the queue",
                    job.0,
                    human(*took),
                    human(*queued_for)
                ),
            };
            if let Some(awaiter) = awaiter {
                let _ = write!(out, " → wake {}", task_label(*awaiter, names));
            }
        }
    }
    Some(out)
}
