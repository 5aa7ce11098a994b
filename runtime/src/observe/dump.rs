//! `Runtime::dump()`: every live task, one line each, and whether it can still run.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use super::explain::{human, thousands};
use crate::task::TaskId;

/// The live tasks of a runtime, as they are now. Printing it gives one line per task.
///
/// ```
/// let rt = nbio::Runtime::new()?;
/// let handle = nbio::task::Builder::new().name("waiter").spawn_on(&rt, std::future::pending::<()>());
/// rt.block_on(nbio::yield_now()); // let it be polled once
/// let dump = rt.dump();
/// assert_eq!(dump.tasks().len(), 1);
/// assert_eq!(dump.tasks()[0].name.as_deref(), Some("waiter"));
/// assert!(dump.tasks()[0].can_never_run()); // pending() keeps no waker
/// println!("{dump}");
/// # drop(handle);
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Dump {
    pub(crate) tasks: Vec<TaskInfo>,
}

impl Dump {
    /// The live tasks, oldest first.
    pub fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }
}

/// One live task in a [`Dump`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskInfo {
    /// Its id.
    pub id: TaskId,
    /// Its name, if it was spawned with [`task::Builder::name`](crate::task::Builder::name).
    pub name: Option<String>,
    /// Where it was spawned (unknown only past a million distinct spawn sites).
    pub spawned_at: Option<&'static Location<'static>>,
    /// Whether it is running, queued or waiting.
    pub state: TaskState,
    /// How many times it was polled (the count stops at 536,870,911).
    pub polls: u64,
    /// How long ago its last poll began, if it was ever polled.
    pub since_last_poll: Option<Duration>,
    /// What last made it runnable: "spawn", "a timer", "socket readiness", "another task", …
    pub last_woken_by: &'static str,
    /// Whether anything outside the runtime (a socket, a timer, another task, another thread)
    /// holds a waker of this task.
    pub waker_held: bool,
    /// On a multi-thread runtime, the index of the worker that last polled it (0 is the
    /// first); `None` on the current-thread runtime, or if it ran elsewhere.
    pub worker: Option<usize>,
}

impl TaskInfo {
    /// A task that waits while nothing holds its waker can never be woken: it is stuck.
    pub fn can_never_run(&self) -> bool {
        self.state == TaskState::Idle && !self.waker_held
    }
}

/// Where a live task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Being polled right now.
    Running,
    /// In the run queue.
    Scheduled,
    /// Waiting to be woken.
    Idle,
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} live task(s):", self.tasks.len())?;
        for task in &self.tasks {
            writeln!(f, "  {task}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name}#{}", self.id.0)?,
            None => write!(f, "task#{}", self.id.0)?,
        }
        let state = match self.state {
            TaskState::Running => "running",
            TaskState::Scheduled => "scheduled",
            TaskState::Idle => "idle",
        };
        if let Some(at) = self.spawned_at {
            write!(f, " (spawned at {at})")?;
        }
        write!(f, ": {state}, {} poll(s)", thousands(self.polls))?;
        if let Some(worker) = self.worker {
            write!(f, ", last on worker {}", worker + 1)?;
        }
        if let Some(ago) = self.since_last_poll {
            write!(f, ", last polled {} ago", human(ago))?;
        }
        write!(f, ", last woken by {}", self.last_woken_by)?;
        if self.can_never_run() {
            write!(f, "; nothing holds its waker: it can never run again")
        } else if self.state == TaskState::Idle {
            write!(f, "; its waker is held elsewhere")
        } else {
            Ok(())
        }
    }
}
