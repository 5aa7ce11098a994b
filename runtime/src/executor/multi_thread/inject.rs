//! The injection queue: where tasks wait that no particular worker holds.
//!
//! Tasks spawned or woken from outside the workers (the `block_on` thread, a plain thread, a
//! `Handle`), and the half of a full local queue, go here; every worker looks here every
//! `event_interval` polls and whenever its own queue is empty. One lock guards it, and a length
//! kept beside the lock lets a worker see that it is empty without taking the lock, which is the
//! common case in a busy runtime.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::loom::AtomicUsize;
use crate::task::raw::TaskRef;

/// The shared queue of one runtime.
pub(crate) struct Inject {
    queue: Mutex<Queued>,
    /// `queue.tasks.len()`, readable without the lock.
    len: AtomicUsize,
}

struct Queued {
    tasks: VecDeque<TaskRef>,
    /// The runtime is shutting down: pushes are refused (the task is dropped).
    closed: bool,
}

impl Inject {
    pub(crate) fn new() -> Inject {
        Inject {
            queue: Mutex::new(Queued {
                tasks: VecDeque::new(),
                closed: false,
            }),
            len: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queued> {
        // A push or a pop cannot be left half done by a panic: poisoning is harmless.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether it looks empty (a snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Acquire) == 0
    }

    /// How many tasks wait here (a snapshot).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Acquire)
    }

    /// Queues `tasks`. False if the runtime is shutting down (then they are dropped).
    pub(crate) fn push(&self, tasks: impl IntoIterator<Item = TaskRef>) -> bool {
        let mut queue = self.lock();
        if queue.closed {
            drop(queue);
            return false;
        }
        queue.tasks.extend(tasks);
        self.len.store(queue.tasks.len(), Release);
        true
    }

    /// Takes up to `max` tasks, oldest first.
    pub(crate) fn pop_batch(&self, max: usize) -> Vec<TaskRef> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut queue = self.lock();
        let take = queue.tasks.len().min(max);
        let batch: Vec<TaskRef> = queue.tasks.drain(..take).collect();
        self.len.store(queue.tasks.len(), Release);
        batch
    }

    /// Refuses further pushes and returns what was queued.
    pub(crate) fn close(&self) -> VecDeque<TaskRef> {
        let mut queue = self.lock();
        queue.closed = true;
        self.len.store(0, Release);
        std::mem::take(&mut queue.tasks)
    }
}
