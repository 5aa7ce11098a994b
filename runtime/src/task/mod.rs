//! Tasks: a spawned future, the handle that awaits it, and the waker that reschedules it.
//!
//! In the article a task is a generator in the `tasks` list. Here a task is one heap
//! allocation holding the future, a state word and a reference count (`raw.rs`, `state.rs`),
//! a [`Waker`](std::task::Waker) that puts it back in its runtime's run queue from any thread
//! (`waker.rs`), a [`JoinHandle`] that collects its output (`join.rs`), and the links that put
//! it on its runtime's list of live tasks (`list.rs`).
//!
//! This layer knows nothing of executors but the `Schedule` trait they implement: where a woken
//! task goes. The public `nbio::task` namespace also names what the layers above make of tasks
//! (the spawn [`Builder`], the [`JoinSet`], the [`Dump`]); those lines of re-exports are the only
//! place this module names anything above it, and no code of the layer uses them.
//!
//! What this module guarantees, whatever the interleaving of threads:
//! - a task is in a run queue at most once, however often it is woken;
//! - a wake that arrives while the task is being polled re-queues it after that poll;
//! - a finished task is never polled again, and its output is dropped exactly once;
//! - a panic in a task is caught and handed to its `JoinHandle` as a [`JoinError`].

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

mod join;
pub(crate) mod list;
#[cfg(all(test, nbio_loom))]
mod loom_tests;
pub(crate) mod raw;
pub(crate) mod state;
pub(crate) mod waiting;
mod waker;

pub use join::{JoinError, JoinHandle};

// The public namespace: what the executor and the observer make of tasks.
pub use crate::executor::join_set::JoinSet;
pub use crate::executor::task_builder::Builder;
pub use crate::observe::{Dump, TaskInfo, TaskState, WaitOn};

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

/// Hands out the task ids of one runtime, from every thread that spawns on it: its tasks and
/// its blocking jobs draw from the same counter, so that an id names one thing in a dump or a
/// trace. Not a protocol: one `fetch_add`, and ids only need to be distinct.
#[derive(Debug)]
pub(crate) struct TaskIds(AtomicU64);

impl TaskIds {
    /// Ids from 1 up.
    pub(crate) fn new() -> TaskIds {
        TaskIds(AtomicU64::new(1))
    }

    /// A fresh id.
    #[inline]
    pub(crate) fn next(&self) -> TaskId {
        TaskId(self.0.fetch_add(1, Relaxed))
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
