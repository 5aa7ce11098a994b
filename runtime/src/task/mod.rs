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
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU32, AtomicU64};

mod join;
pub(crate) mod list;
mod local;
#[cfg(all(test, nbio_loom))]
mod loom_tests;
pub(crate) mod owned;
pub(crate) mod polled;
pub(crate) mod raw;
mod schedule;
pub(crate) mod state;
mod vtable;
mod waker;

pub(crate) use waker::borrowed as borrowed_waker;

pub use join::{JoinError, JoinHandle};
pub use local::{AccessError, LocalKey, TaskLocalFuture};

// The public namespace: what the executor and the observer make of tasks.
pub use crate::diagnose::WaitOn;
pub use crate::executor::block_in_place;
pub use crate::executor::join_set::JoinSet;
pub use crate::executor::task_builder::Builder;
pub use crate::observe::{Dump, TaskInfo, TaskState};

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
pub(crate) struct TaskIds {
    next: AtomicU64,
    /// Which runtime the ids are of.
    runtime: RuntimeNo,
}

impl TaskIds {
    /// Ids from 1 up, of a new runtime.
    pub(crate) fn new() -> TaskIds {
        TaskIds {
            next: AtomicU64::new(1),
            runtime: RuntimeNo::fresh(),
        }
    }

    /// A fresh id.
    #[inline]
    pub(crate) fn next(&self) -> TaskId {
        TaskId(self.next.fetch_add(1, Relaxed))
    }

    /// The runtime these ids number the tasks of.
    pub(crate) fn runtime(&self) -> RuntimeNo {
        self.runtime
    }
}

/// Which runtime of the process a task belongs to: what makes a [`TaskId`], which is numbered
/// per runtime, mean one task in the whole process.
///
/// The sync primitives and `JoinHandle`s work across runtimes, and the wait graph follows the
/// task ids they record (a `Mutex`'s holder, a handle's task). Task 8 of one runtime is not
/// task 8 of another, so an edge is drawn only between tasks of the same runtime, and the
/// recorders compare these numbers to know. They count up from 1 as runtimes are built and are
/// never reused; a process that builds more than a million runtimes gets
/// [`RuntimeNo::UNKNOWN`] for the rest, which is never the same as anything (their waits on
/// each other are then shown, but not followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RuntimeNo(u32);

impl RuntimeNo {
    /// How many bits a number takes (beside a 44-bit task id in one word, see `TaskKey`).
    const BITS: u32 = 20;
    /// Numbers ran out, or the code is not running in a runtime.
    pub(crate) const UNKNOWN: RuntimeNo = RuntimeNo(0);

    fn fresh() -> RuntimeNo {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let max = (1 << Self::BITS) - 1;
        match NEXT.fetch_update(Relaxed, Relaxed, |n| (n <= max).then_some(n + 1)) {
            Ok(n) => RuntimeNo(n),
            Err(_) => RuntimeNo::UNKNOWN,
        }
    }

    /// Whether `self` and `other` are known to be the same runtime.
    #[inline]
    pub(crate) fn is(self, other: RuntimeNo) -> bool {
        self != RuntimeNo::UNKNOWN && self == other
    }
}

/// A task's id with its runtime's number, in one word: names one task in the whole process
/// (while both live), or, with id 0, code of that runtime that is not a task (the future
/// given to `block_on`). A `Mutex` keeps its holder's this way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskKey(u64);

impl TaskKey {
    const ID_BITS: u32 = 64 - RuntimeNo::BITS;
    /// Nobody: the word of an unlocked mutex.
    pub(crate) const NOBODY: TaskKey = TaskKey(0);

    /// Task `id` (0: none) of `runtime`. An id is at most 44 bits, as a task's header keeps
    /// it (`TaskMeta`).
    #[inline]
    pub(crate) fn new(runtime: RuntimeNo, id: u64) -> TaskKey {
        debug_assert!(id >> Self::ID_BITS == 0, "task id {id} is past 44 bits");
        TaskKey((u64::from(runtime.0) << Self::ID_BITS) | (id & ((1 << Self::ID_BITS) - 1)))
    }

    /// The task, if it is one.
    #[inline]
    pub(crate) fn id(self) -> Option<TaskId> {
        match self.0 & ((1 << Self::ID_BITS) - 1) {
            0 => None,
            id => Some(TaskId(id)),
        }
    }

    /// Its runtime.
    #[inline]
    pub(crate) fn runtime(self) -> RuntimeNo {
        RuntimeNo((self.0 >> Self::ID_BITS) as u32)
    }

    /// The word, for an atomic.
    #[inline]
    pub(crate) fn raw(self) -> u64 {
        self.0
    }

    /// Back from [`raw`](Self::raw).
    #[inline]
    pub(crate) fn from_raw(raw: u64) -> TaskKey {
        TaskKey(raw)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
