//! Tasks pinned to one thread: what `spawn_local` makes on a worker or on the `block_on` thread.
//!
//! A future that is not `Send` (it holds an `Rc`, say) may only ever be polled, and dropped,
//! on the thread that made it. So such a task never enters a queue another thread can take
//! from: its thread keeps it in a queue of its own (`PinnedRunner::ready`), a wake on that
//! thread puts it straight back there, and a wake from anywhere else goes into the thread's
//! *inbox* and wakes that thread, which moves it over. The thread also keeps the list of its
//! pinned tasks, and drops their futures itself when the runtime shuts down.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, Weak};

use super::idle::{Parker, Unparked};
use super::Shared;
use crate::executor::current::{self, Current};
use crate::loom::lock;
use crate::task::list::TaskList;
use crate::task::owned::OwnedTasks;
use crate::task::raw::{Schedule, TaskRef};
use crate::task::RuntimeNo;

/// Who runs the pinned tasks, and how to wake it.
pub(crate) enum Owner {
    /// Worker number `index` of the runtime.
    Worker { runtime: Weak<Shared>, index: usize },
    /// The thread in the runtime's `block_on`, which may be waiting in the reactor.
    BlockOn {
        parker: Arc<Parker>,
        runtime: Weak<Shared>,
    },
}

/// The part of a thread's pinned tasks that other threads reach.
pub(crate) struct Pinned {
    owner: Owner,
    /// The owner's runtime (`Schedule::runtime`).
    runtime: RuntimeNo,
    /// Wakes from other threads, waiting for the owner to take them.
    inbox: Mutex<Inbox>,
    /// `inbox.tasks.len()`, readable without the lock.
    inbox_len: AtomicUsize,
    /// Every pinned task of this thread whose future still exists.
    pub(crate) tasks: OwnedTasks<Mutex<TaskList>>,
    /// Wakes of pinned tasks made on this thread (for `Stats::wakes`). Only the owner writes it.
    local_wakes: AtomicU64,
}

struct Inbox {
    tasks: VecDeque<TaskRef>,
    closed: bool,
}

impl Pinned {
    pub(crate) fn new(owner: Owner, runtime: RuntimeNo) -> Arc<Pinned> {
        Arc::new(Pinned {
            owner,
            runtime,
            inbox: Mutex::new(Inbox {
                tasks: VecDeque::new(),
                closed: false,
            }),
            inbox_len: AtomicUsize::new(0),
            tasks: OwnedTasks::new(Mutex::default()),
            local_wakes: AtomicU64::new(0),
        })
    }

    /// Whether wakes from other threads wait in the inbox (a snapshot).
    pub(crate) fn has_inbox(&self) -> bool {
        self.inbox_len.load(Acquire) != 0
    }

    /// A wake from another thread: into the inbox, and wake the owner.
    fn push_remote(&self, task: TaskRef) {
        let mut inbox = lock(&self.inbox);
        if inbox.closed {
            drop(inbox);
            drop(task); // the owner is gone: its tasks were dropped with it
            return;
        }
        inbox.tasks.push_back(task);
        self.inbox_len.store(inbox.tasks.len(), Release);
        drop(inbox);
        match &self.owner {
            Owner::Worker { runtime, index } => {
                if let Some(runtime) = runtime.upgrade() {
                    runtime.note_remote_wake();
                    runtime.unpark(*index);
                }
            }
            Owner::BlockOn { parker, runtime } => {
                if parker.unpark() == Unparked::NotifyDriver {
                    if let Some(runtime) = runtime.upgrade() {
                        runtime.reactor.notify();
                    }
                }
            }
        }
    }

    /// The wakes of pinned tasks made on this thread so far.
    pub(crate) fn wakes(&self) -> u64 {
        self.local_wakes.load(Relaxed)
    }

    /// Refuses further wakes and returns what waited (the owner is shutting down).
    pub(crate) fn close(&self) -> VecDeque<TaskRef> {
        let mut inbox = lock(&self.inbox);
        inbox.closed = true;
        self.inbox_len.store(0, Release);
        std::mem::take(&mut inbox.tasks)
    }
}

impl Schedule for Arc<Pinned> {
    fn schedule(&self, task: TaskRef) {
        current::with_current(|current| {
            let runner = match current {
                Some(Current::Worker(worker)) => Some(worker.pinned_runner()),
                Some(Current::BlockOn(block_on)) => Some(block_on.pinned_runner()),
                _ => None,
            };
            match runner {
                // On the owner's thread: straight into its queue, no lock.
                Some(runner) if Arc::ptr_eq(&runner.pinned, self) => runner.push(task),
                _ => self.push_remote(task),
            }
        });
    }

    fn runtime(&self) -> RuntimeNo {
        self.runtime
    }
}

/// The owner's side: its ready pinned tasks. Lives on the owner's thread only.
pub(crate) struct PinnedRunner {
    pub(crate) pinned: Arc<Pinned>,
    ready: RefCell<VecDeque<TaskRef>>,
}

impl PinnedRunner {
    pub(crate) fn new(pinned: Arc<Pinned>) -> PinnedRunner {
        PinnedRunner {
            pinned,
            ready: RefCell::default(),
        }
    }

    /// A pinned task woken on its own thread.
    pub(crate) fn push(&self, task: TaskRef) {
        // Only this thread writes the count: a load and a store, no read-modify-write.
        let wakes = &self.pinned.local_wakes;
        wakes.store(wakes.load(Relaxed) + 1, Relaxed);
        self.ready.borrow_mut().push_back(task);
    }

    /// Queues a task spawned here, or puts back one that woke itself while it ran (the
    /// executor counts that wake).
    pub(crate) fn requeue(&self, task: TaskRef) {
        self.ready.borrow_mut().push_back(task);
    }

    /// The next ready pinned task, moving the inbox over first if anything waits there.
    pub(crate) fn pop(&self) -> Option<TaskRef> {
        if self.pinned.has_inbox() {
            let mut inbox = lock(&self.pinned.inbox);
            self.pinned.inbox_len.store(0, Release);
            self.ready.borrow_mut().append(&mut inbox.tasks);
        }
        self.ready.borrow_mut().pop_front()
    }

    /// Whether a pinned task is ready (here or in the inbox).
    pub(crate) fn has_ready(&self) -> bool {
        self.pinned.has_inbox() || !self.ready.borrow().is_empty()
    }

    /// Drops every pinned task's future, on this (their) thread: the runtime is shutting down.
    pub(crate) fn shutdown(&self) {
        drop(self.pinned.close());
        // A destructor may wake or spawn other pinned tasks; the loop catches up.
        (self.pinned.tasks).shutdown_all(|| drop(std::mem::take(&mut *self.ready.borrow_mut())));
        drop(self.pinned.close());
    }
}
