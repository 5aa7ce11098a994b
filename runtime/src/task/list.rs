//! The list of live tasks: every task whose future still exists, on an intrusive doubly linked
//! list whose links live in each task's header.
//!
//! The article's loop forgets a generator that waits on nothing: if it is in neither `tasks`
//! nor `fds`, it is simply gone. nbio cannot afford that. A pending task may be held by no
//! waker at all (its waker was dropped), yet its future owns resources whose destructors must
//! run. The list is how a runtime finds every such task when it is dropped, and how a dump
//! lists them.
//!
//! The links live in the header, so listing a task costs no allocation. The list holds one
//! reference per listed task, which is what keeps every pointer on it valid. It is not
//! synchronised itself: a runtime keeps it where only one thread at a time can reach it (a
//! `Cell` on the current-thread runtime's own thread, a lock on the multi-thread one).

use std::ptr::{self, NonNull};
use std::sync::atomic::AtomicPtr;
use std::sync::atomic::Ordering::Relaxed;

use super::raw::{Header, TaskRef};

/// A task's neighbours on its runtime's list. Atomic only so that the header stays `Sync`;
/// they are only read and written by whoever has the list, with the list's own exclusion.
#[derive(Default)]
pub(crate) struct Links {
    prev: AtomicPtr<Header>,
    next: AtomicPtr<Header>,
}

/// The live tasks of a runtime (or of one shard of it).
pub(crate) struct TaskList {
    head: *mut Header,
    len: usize,
}

// SAFETY: the list only holds counted references to tasks (each `Send` as a `TaskRef` is), and
// it is only ever used by one thread at a time, through `&mut`.
unsafe impl Send for TaskList {}

impl Default for TaskList {
    fn default() -> TaskList {
        TaskList::new()
    }
}

impl TaskList {
    pub(crate) const fn new() -> TaskList {
        TaskList {
            head: ptr::null_mut(),
            len: 0,
        }
    }

    /// How many tasks are listed.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Lists a new task, keeping the reference it is given.
    pub(crate) fn insert(&mut self, task: TaskRef) {
        let ptr = task.into_raw().as_ptr();
        let head = self.head;
        // SAFETY: `ptr` is alive (we now own a reference to it) and so is `head`, which the
        // list holds a reference to; `&mut self` means nobody else touches the links.
        unsafe {
            (*ptr).links.prev.store(ptr::null_mut(), Relaxed);
            (*ptr).links.next.store(head, Relaxed);
            if !head.is_null() {
                (*head).links.prev.store(ptr, Relaxed);
            }
        }
        self.head = ptr;
        self.len += 1;
    }

    /// Unlists a finished task and returns the list's reference to it.
    ///
    /// # Safety
    /// The task must be on *this* list (each task is inserted once, into one list, and removed
    /// once, when its future is gone).
    pub(crate) unsafe fn remove(&mut self, task: &TaskRef) -> TaskRef {
        // SAFETY: forwarded from the caller.
        unsafe { self.unlink(task.as_ptr()) }
    }

    /// Unlists the first task, if any, returning the list's reference.
    pub(crate) fn pop(&mut self) -> Option<TaskRef> {
        // SAFETY: the head is on this list.
        NonNull::new(self.head).map(|head| unsafe { self.unlink(head) })
    }

    /// # Safety
    /// `task` must be on this list.
    unsafe fn unlink(&mut self, task: NonNull<Header>) -> TaskRef {
        let ptr = task.as_ptr();
        // SAFETY: the task is on the list (the caller's promise), so it and its neighbours are
        // alive, each held by a reference of the list; `&mut self` excludes everyone else.
        unsafe {
            let prev = (*ptr).links.prev.load(Relaxed);
            let next = (*ptr).links.next.load(Relaxed);
            if prev.is_null() {
                debug_assert_eq!(self.head, ptr, "removing a task that is not listed");
                self.head = next;
            } else {
                (*prev).links.next.store(next, Relaxed);
            }
            if !next.is_null() {
                (*next).links.prev.store(prev, Relaxed);
            }
        }
        self.len -= 1;
        // SAFETY: the reference handed over by `insert` comes back exactly once, here.
        unsafe { TaskRef::from_raw(task) }
    }

    /// Calls `f` on every listed task, newest first.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Header)) {
        let mut ptr = self.head;
        while !ptr.is_null() {
            // SAFETY: listed tasks are alive (the list holds a reference to each), and the
            // list cannot change while we walk it: `f` only gets a shared header and we hold
            // `&self`.
            let header = unsafe { &*ptr };
            f(header);
            ptr = header.links.next.load(Relaxed);
        }
    }
}

impl Drop for TaskList {
    fn drop(&mut self) {
        // A runtime shuts every task down before this; anything still listed only loses the
        // list's reference.
        while let Some(task) = self.pop() {
            drop(task);
        }
    }
}
