//! The live tasks a runtime owns: one registry for every flavour, so that the dump, the
//! deadlock check and shutdown walk it in one place.
//!
//! A runtime must find every task whose future still exists: to drop them when it is dropped
//! (their destructors must run), and to list them in a dump. The tasks themselves are linked
//! through their headers (`list.rs`); this file is who may touch those links, and when:
//!
//! - the current-thread runtime keeps its one list in a `RefCell`: only its thread touches it,
//!   and a spawn or a finish costs no atomic operation;
//! - the multi-thread runtime keeps its `Send` tasks in lists behind locks, in shards picked by
//!   task id, so two workers rarely meet on the same lock; each thread's pinned tasks are one
//!   more list behind a lock, which other threads only read, for dumps.
//!
//! [`OwnedTasks`] is the same type in each case, over the cell that fits ([`Exclusive`]).

use std::cell::RefCell;
use std::sync::Mutex;

use super::list::TaskList;
use super::raw::{Header, TaskRef};
use super::TaskId;
use crate::loom::lock;

/// A way to reach one or more `TaskList`s exclusively: a `RefCell` on one thread, locks across
/// threads.
pub(crate) trait Exclusive {
    /// Calls `f` with the list task `id` belongs in.
    fn with<R>(&self, id: TaskId, f: impl FnOnce(&mut TaskList) -> R) -> R;
    /// Calls `f` with each list in turn.
    fn each(&self, f: impl FnMut(&mut TaskList));
}

impl Exclusive for RefCell<TaskList> {
    #[inline]
    fn with<R>(&self, _: TaskId, f: impl FnOnce(&mut TaskList) -> R) -> R {
        f(&mut self.borrow_mut())
    }

    fn each(&self, mut f: impl FnMut(&mut TaskList)) {
        f(&mut self.borrow_mut())
    }
}

impl Exclusive for Mutex<TaskList> {
    fn with<R>(&self, _: TaskId, f: impl FnOnce(&mut TaskList) -> R) -> R {
        f(&mut lock(self))
    }

    fn each(&self, mut f: impl FnMut(&mut TaskList)) {
        f(&mut lock(self))
    }
}

/// Lists behind locks, a task in the shard its id picks.
pub(crate) struct Shards(Box<[Mutex<TaskList>]>);

impl Shards {
    /// `count` shards (at least one).
    pub(crate) fn new(count: usize) -> Shards {
        Shards((0..count.max(1)).map(|_| Mutex::default()).collect())
    }
}

impl Exclusive for Shards {
    fn with<R>(&self, id: TaskId, f: impl FnOnce(&mut TaskList) -> R) -> R {
        f(&mut lock(&self.0[id.0 as usize % self.0.len()]))
    }

    fn each(&self, mut f: impl FnMut(&mut TaskList)) {
        for shard in self.0.iter() {
            f(&mut lock(shard));
        }
    }
}

/// The live tasks of a runtime (or of one thread's pinned tasks), in the cell `C`.
pub(crate) struct OwnedTasks<C: Exclusive> {
    lists: C,
}

impl<C: Exclusive> OwnedTasks<C> {
    pub(crate) fn new(lists: C) -> OwnedTasks<C> {
        OwnedTasks { lists }
    }

    /// Lists a new task, keeping the reference it is given (a new task's `registered`).
    #[inline]
    pub(crate) fn insert(&self, task: TaskRef) {
        let id = task.header().id();
        self.lists.with(id, |list| list.insert(task));
    }

    /// Unlists a finished task and returns the list's reference to it, to drop once the list
    /// is no longer borrowed (dropping it may free the task, and run nothing of the user's).
    ///
    /// # Safety
    /// The task must be listed here: every task is inserted once, into one registry, and
    /// removed once, when its future is gone.
    #[inline]
    pub(crate) unsafe fn remove(&self, task: &TaskRef) -> TaskRef {
        let id = task.header().id();
        // SAFETY: forwarded from the caller; the task's id picks the list it was inserted in.
        self.lists.with(id, |list| unsafe { list.remove(task) })
    }

    /// How many tasks are listed.
    pub(crate) fn len(&self) -> usize {
        let mut len = 0;
        self.lists.each(|list| len += list.len());
        len
    }

    /// Calls `f` on every listed task. The lists are held while it runs: `f` must not spawn,
    /// finish or drop a task.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Header)) {
        self.lists.each(|list| list.for_each(&mut f));
    }

    /// Drops the future of every listed task, on this thread (the runtime is shutting down),
    /// until none is left, calling `between` before each (to let go of what the last
    /// destructor queued). A destructor run here may wake, spawn or even finish other tasks: no
    /// list is borrowed while it runs, and the loop catches up.
    pub(crate) fn shutdown_all(&self, mut between: impl FnMut()) {
        loop {
            between();
            let mut next = None;
            self.lists.each(|list| {
                if next.is_none() {
                    next = list.pop();
                }
            });
            let Some(task) = next else {
                break;
            };
            task.shutdown();
        }
    }
}
