//! The journal as a list of decisions, for comparing two runs: what was spawned, polled, woken
//! and stolen, in order, without the times (which never repeat).

use super::event::{Cause, Event, Record, StallReason, Who};

fn who(who: Who) -> String {
    match who {
        Who::Nobody => "the runtime".to_string(),
        Who::Main => "block_on".to_string(),
        Who::Task(id) => format!("task {id}"),
    }
}

/// One record, as a line that two runs of the same program under the same seed agree on. Events
/// that depend on real time (looks at the reactor, batches of wakes from other threads) give
/// `None` and are left out of the comparison.
pub(crate) fn decision(record: &Record) -> Option<String> {
    Some(match &record.event {
        Event::Spawn {
            task, location, by, ..
        } => format!("{} spawns task {task} (at {location})", who(*by)),
        Event::Poll {
            who: w, outcome, ..
        } => format!("poll of {} → {}", who(*w), outcome.as_str()),
        Event::Wake { task, cause } => {
            let by = match cause {
                Cause::Unknown => "an unknown cause".to_string(),
                Cause::Itself => "itself".to_string(),
                Cause::Task(id) => format!("task {id}"),
                Cause::Main => "block_on".to_string(),
                Cause::Io { fd, dir } => format!("fd {fd} {dir:?}"),
                Cause::Timer => "a timer".to_string(),
                Cause::Thread => "another thread".to_string(),
            };
            format!("task {task} woken by {by}")
        }
        Event::Stall {
            who: w, dir, why, ..
        } => {
            let why = match why {
                StallReason::WouldBlock => "WouldBlock",
                StallReason::ShortWrite { .. } => "a short write",
            };
            format!("{} waits for {dir:?} after {why}", who(*w))
        }
        Event::Steal { victim, tasks } => format!("steal of {tasks} from worker {}", victim + 1),
        Event::JobSpawn { job, location, by } => {
            format!("{} spawns blocking job {job} (at {location})", who(*by))
        }
        // A job runs on a pool thread, beside the loop: when it ends depends on that thread.
        Event::Job { .. }
        | Event::SlowPoll { .. }
        | Event::ReactorWait { .. }
        | Event::RemoteWakes { .. } => return None,
    })
}
