//! The narrative: one line per journal event, in the spirit of the article's own prints
//! ("Blocking with 5242880 remaining").

use std::fmt::{self, Write as _};
use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use super::event::{Cause, Event, PollOutcome, Record, StallReason, Who};
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
    let _ = match &record.event {
        Event::Spawn {
            task, location, by, ..
        } => {
            let task = task_label(*task, names);
            spawn(&mut out, "spawn", &task, location, *by, names)
        }
        Event::Poll {
            who, took, outcome, ..
        } => poll(&mut out, *who, *took, *outcome, names),
        Event::Wake { task, cause } => wake(&mut out, *task, *cause, names),
        Event::ReactorWait {
            took,
            events,
            blocking,
        } => reactor_wait(&mut out, *took, *events, *blocking),
        Event::RemoteWakes { tasks, .. } => remote_wakes(&mut out, *tasks),
        Event::Stall {
            who,
            fd,
            dir,
            remaining,
            why,
        } => wait(&mut out, *who, *fd, *dir, *remaining, *why, names),
        Event::Steal { victim, tasks } => steal(&mut out, *victim, *tasks),
        Event::SlowPoll { who, took } => slow_poll(&mut out, *who, *took, names),
        Event::JobSpawn { job, location, by } => {
            let job = format!("job#{}", job.0);
            spawn(&mut out, "spawn_blocking", &job, location, *by, names)
        }
        Event::Job {
            job,
            took,
            queued_for,
            outcome,
            awaiter,
            ..
        } => job_ran(
            &mut out,
            *job,
            *took,
            *queued_for,
            *outcome,
            *awaiter,
            names,
        ),
    };
    Some(out)
}

/// A task or a blocking job was spawned: `spawn fetch#12 (at src/main.rs:8:5), by block_on`,
/// or `spawn_blocking job#7 (at src/main.rs:9:5), by fetch#12`.
fn spawn(
    out: &mut String,
    how: &str,
    what: &str,
    location: &Location<'_>,
    by: Who,
    names: Names<'_>,
) -> fmt::Result {
    write!(
        out,
        "{how} {what} (at {location}), by {}",
        who_label(by, names)
    )
}

/// `fetch#12: polled for 3.2 µs → pending`.
fn poll(
    out: &mut String,
    who: Who,
    took: Duration,
    outcome: PollOutcome,
    names: Names<'_>,
) -> fmt::Result {
    write!(
        out,
        "{}: polled for {} → {}",
        who_label(who, names),
        human(took),
        outcome.as_str()
    )
}

/// What woke a task, and which: `timer → wake fetch#12`.
fn wake(out: &mut String, task: TaskId, cause: Cause, names: Names<'_>) -> fmt::Result {
    let target = task_label(task, names);
    match cause {
        Cause::Io { fd, dir } => {
            write!(
                out,
                "reactor: fd {fd} {} → wake {target}",
                direction_word(dir)
            )
        }
        Cause::Timer => write!(out, "timer → wake {target}"),
        Cause::Task(by) => write!(out, "{} → wake {target}", task_label(by, names)),
        Cause::Main => write!(out, "block_on → wake {target}"),
        Cause::Itself => write!(out, "{target} woke itself; back to the end of the queue"),
        Cause::Thread => write!(out, "another thread → wake {target}"),
        Cause::Unknown => write!(out, "wake {target}"),
    }
}

/// `reactor: waited 12.45 ms → 1 event(s)`.
fn reactor_wait(out: &mut String, took: Duration, events: usize, blocking: bool) -> fmt::Result {
    let how = if blocking {
        "waited"
    } else {
        "looked, without blocking, for"
    };
    write!(out, "reactor: {how} {} → {events} event(s)", human(took))
}

/// Tasks woken from other threads joined the run queue.
fn remote_wakes(out: &mut String, tasks: usize) -> fmt::Result {
    write!(
        out,
        "runtime: {tasks} task(s) woken from other threads join the run queue"
    )
}

/// `send_data#2: WouldBlock with 5,242,880 bytes remaining, waiting for writable on fd 7`, or
/// a short write.
fn wait(
    out: &mut String,
    who: Who,
    fd: RawFd,
    dir: Direction,
    remaining: Option<usize>,
    why: StallReason,
    names: Names<'_>,
) -> fmt::Result {
    let who = who_label(who, names);
    let dir = direction_word(dir);
    match (why, remaining) {
        (StallReason::WouldBlock, Some(bytes)) => write!(
            out,
            "{who}: WouldBlock with {} bytes remaining, waiting for {dir} on fd {fd}",
            thousands(bytes as u64),
        ),
        (StallReason::WouldBlock, None) => {
            write!(out, "{who}: WouldBlock, waiting for {dir} on fd {fd}")
        }
        (StallReason::ShortWrite { took }, remaining) => write!(
            out,
            "{who}: short write, the kernel took {} bytes with {} bytes remaining: its \
             buffer is full, waiting for {dir} on fd {fd} (no EAGAIN needed)",
            thousands(took as u64),
            thousands(remaining.unwrap_or(0) as u64),
        ),
    }
}

/// `stole 3 task(s) from worker 2 (…)`.
fn steal(out: &mut String, victim: usize, tasks: usize) -> fmt::Result {
    write!(
        out,
        "stole {tasks} task(s) from worker {} (its queue was busy, this one was idle)",
        victim + 1
    )
}

/// `fetch#12: slow poll, held the thread for 25.00 ms`.
fn slow_poll(out: &mut String, who: Who, took: Duration, names: Names<'_>) -> fmt::Result {
    write!(
        out,
        "{}: slow poll, held the thread for {}",
        who_label(who, names),
        human(took)
    )
}

/// `blocking pool: job#7 ran for 1.20 ms after 3.2 µs in the queue → wake fetch#12`, or the
/// job was aborted before it ran.
fn job_ran(
    out: &mut String,
    job: TaskId,
    took: Duration,
    queued_for: Duration,
    outcome: PollOutcome,
    awaiter: Option<TaskId>,
    names: Names<'_>,
) -> fmt::Result {
    match outcome {
        PollOutcome::Cancelled => write!(
            out,
            "blocking pool: job#{} was aborted after {} in the queue; its closure never ran",
            job.0,
            human(queued_for)
        ),
        _ => write!(
            out,
            "blocking pool: job#{} ran for {} after {} in the queue",
            job.0,
            human(took),
            human(queued_for)
        ),
    }?;
    match awaiter {
        Some(awaiter) => write!(out, " → wake {}", task_label(awaiter, names)),
        None => Ok(()),
    }
}
