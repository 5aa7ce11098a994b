//! Tasks: a spawned future, the handle that awaits it, and the waker that reschedules it.
//!
//! In the article a task is a generator in the `tasks` list. Here a task is one heap
//! allocation holding the future, a state word and a reference count (`raw.rs`, `state.rs`),
//! a [`Waker`](std::task::Waker) that puts it back in its runtime's run queue from any thread
//! (`waker.rs`), and a [`JoinHandle`] that collects its output (`join.rs`).
//!
//! What this module guarantees, whatever the interleaving of threads:
//! - a task is in a run queue at most once, however often it is woken;
//! - a wake that arrives while the task is being polled re-queues it after that poll;
//! - a finished task is never polled again, and its output is dropped exactly once;
//! - a panic in a task is caught and handed to its `JoinHandle` as a [`JoinError`].

use std::fmt;

mod join;
#[cfg(all(test, nbio_loom))]
mod loom_tests;
pub(crate) mod raw;
pub(crate) mod state;
mod waker;

pub use crate::executor::task_builder::Builder;
pub use crate::observe::{Dump, TaskInfo, TaskState};
pub use join::{JoinError, JoinHandle};

/// Identifies a task within its runtime. Ids are handed out in spawn order, starting at 1,
/// and never reused; they are what traces, dumps and errors call a task (`#7`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The number behind the id.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
