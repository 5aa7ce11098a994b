//! The registry: every task whose future still exists, on an intrusive doubly linked list.
//!
//! The article's loop forgets a generator that waits on nothing: if it is in neither `tasks`
//! nor `fds`, it is simply gone. nbio cannot afford that. A pending task may be held by no
//! waker at all (its waker was dropped), yet its future owns resources whose destructors must
//! run. The registry is how the runtime finds every such task when it is dropped, and how a
//! dump lists them.
//!
//! The links live in each task's header, so registering costs no allocation. Only the
//! runtime's thread touches the list; the registry holds one reference per listed task, which
//! is what keeps every pointer on the list valid.

use std::cell::Cell;
use std::ptr::{self, NonNull};
use std::sync::atomic::AtomicPtr;
use std::sync::atomic::Ordering::Relaxed;

use crate::task::raw::{Header, TaskRef};

/// A task's neighbours on the registry list. Atomic only so that the header stays `Sync`:
/// the runtime's thread is the only one that reads or writes them.
#[derive(Default)]
pub(crate) struct Links {
    prev: AtomicPtr<Header>,
    next: AtomicPtr<Header>,
}

/// The list of live tasks.
pub(crate) struct Registry {
    head: Cell<*mut Header>,
    len: Cell<usize>,
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            head: Cell::new(ptr::null_mut()),
            len: Cell::new(0),
        }
    }

    /// How many tasks are alive.
    pub(crate) fn len(&self) -> usize {
        self.len.get()
    }

    /// Lists a new task, keeping the reference it is given.
    pub(crate) fn insert(&self, task: TaskRef) {
        let ptr = task.into_raw().as_ptr();
        let head = self.head.get();
        // SAFETY: `ptr` is alive (we now own a reference to it) and so is `head`, which the
        // registry holds a reference to; only this thread touches the links.
        unsafe {
            (*ptr).links.prev.store(ptr::null_mut(), Relaxed);
            (*ptr).links.next.store(head, Relaxed);
            if !head.is_null() {
                (*head).links.prev.store(ptr, Relaxed);
            }
        }
        self.head.set(ptr);
        self.len.set(self.len.get() + 1);
    }

    /// Unlists a finished task and returns the registry's reference to it.
    ///
    /// The task must be on this list (each task is inserted once and removed once, when its
    /// future is gone).
    pub(crate) fn remove(&self, task: &TaskRef) -> TaskRef {
        self.unlink(task.as_ptr())
    }

    /// Unlists the first task, if any, returning the registry's reference.
    pub(crate) fn pop(&self) -> Option<TaskRef> {
        NonNull::new(self.head.get()).map(|head| self.unlink(head))
    }

    fn unlink(&self, task: NonNull<Header>) -> TaskRef {
        let ptr = task.as_ptr();
        // SAFETY: the task is on the list, so it and its neighbours are alive, each held by a
        // registry reference; only this thread touches the links.
        unsafe {
            let prev = (*ptr).links.prev.load(Relaxed);
            let next = (*ptr).links.next.load(Relaxed);
            if prev.is_null() {
                debug_assert_eq!(self.head.get(), ptr, "removing a task that is not listed");
                self.head.set(next);
            } else {
                (*prev).links.next.store(next, Relaxed);
            }
            if !next.is_null() {
                (*next).links.prev.store(prev, Relaxed);
            }
        }
        self.len.set(self.len.get() - 1);
        // SAFETY: the reference handed over by `insert` comes back exactly once, here.
        unsafe { TaskRef::from_raw(task) }
    }
}

impl Registry {
    /// Calls `f` on every live task, newest first.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Header)) {
        let mut ptr = self.head.get();
        while !ptr.is_null() {
            // SAFETY: listed tasks are alive (the registry holds a reference to each), and the
            // list does not change while we walk it: `f` only gets a shared header, and the
            // list is only changed by this thread.
            let header = unsafe { &*ptr };
            f(header);
            ptr = header.links.next.load(Relaxed);
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // The runtime shuts every task down before this; anything still listed only loses the
        // registry's reference.
        while let Some(task) = self.pop() {
            drop(task);
        }
    }
}
