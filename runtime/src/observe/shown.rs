//! One wait, drawn as the tail of a dump line: "waits on Mutex made at src/main.rs:12, held by
//! task#5". What the wait means is `diagnose`'s; this file only prints it.

use std::fmt;
use std::panic::Location;
use std::time::Instant;

use crate::diagnose::WaitOn;
use crate::task::TaskId;

/// Prints a wait as a dump line's tail: "waits on Mutex made at src/main.rs:12, held by task
/// 5". `job` says whether a `Join` target is a blocking job.
pub(crate) struct Shown<'a> {
    pub(crate) on: WaitOn,
    pub(crate) is_job: bool,
    pub(crate) label: &'a dyn Fn(TaskId) -> String,
}

fn made(f: &mut fmt::Formatter<'_>, what: &str, at: Option<&Location<'_>>) -> fmt::Result {
    match at {
        Some(at) => write!(f, "{what} made at {at}"),
        None => write!(f, "{what} (where it was made is not known)"),
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("waits on ")?;
        match self.on {
            WaitOn::Socket { fd, write } => {
                let dir = if write { "writable" } else { "readable" };
                write!(f, "fd {fd} becoming {dir}")
            }
            WaitOn::Timer { deadline } => {
                let now = Instant::now();
                match deadline.checked_duration_since(now) {
                    Some(left) => write!(f, "a timer due in {}", super::human(left)),
                    None => write!(f, "a timer that is due"),
                }
            }
            WaitOn::Join(id) if self.is_job => write!(f, "the JoinHandle of blocking job#{}", id.0),
            WaitOn::Join(id) => write!(f, "the JoinHandle of {}", (self.label)(id)),
            WaitOn::JoinElsewhere(id) => {
                write!(f, "the JoinHandle of #{} of another runtime", id.0)
            }
            WaitOn::Channel { made_at } => made(f, "an mpsc channel", made_at),
            WaitOn::Oneshot { made_at } => made(f, "a oneshot channel", made_at),
            WaitOn::Notify { made_at } => made(f, "a Notify", made_at),
            WaitOn::Semaphore { made_at } => made(f, "a Semaphore", made_at),
            WaitOn::Mutex { made_at, holder } => {
                made(f, "Mutex", made_at)?;
                match holder {
                    Some(id) => write!(f, ", held by {}", (self.label)(id)),
                    None => f.write_str(", held by no task of this runtime"),
                }
            }
            WaitOn::RwLock { made_at, writer } => {
                made(f, "RwLock", made_at)?;
                match writer {
                    Some(id) => write!(f, ", write-locked by {}", (self.label)(id)),
                    None => {
                        f.write_str(", read-locked, or write-locked by no task of this runtime")
                    }
                }
            }
            WaitOn::Barrier { made_at } => made(f, "the other parties of a Barrier", made_at),
            WaitOn::OnceCell { made_at } => {
                made(f, "another future initialising a OnceCell", made_at)
            }
            WaitOn::Cancelled { made_at } => {
                made(f, "the cancellation of a CancellationToken", made_at)
            }
            WaitOn::Broadcast { made_at } => made(f, "a broadcast channel", made_at),
            WaitOn::Watch { made_at } => made(f, "a watch channel", made_at),
            WaitOn::Duplex { made_at } => made(f, "the other end of a duplex pair", made_at),
            WaitOn::ChildExit { pid } => write!(f, "the exit of child process {pid}"),
        }
    }
}
