//! The injection queue: how work reaches a loop from threads that cannot touch its own queue.
//!
//! A loop's run queue belongs to its thread (the current-thread loop's, without a lock) or to
//! one worker (a ring others may only steal from). A wake from another thread, a spawn through
//! a `Handle`, or the overflow of a full ring cannot go there; it comes here instead: one queue
//! under a lock, with its length kept beside the lock so that a loop sees it empty without
//! taking the lock, which is the common case in a busy runtime. Both flavours use this one type:
//! the current-thread loop for what other threads hand it (`current_thread/remote.rs`), the
//! workers for tasks no particular worker holds.
//!
//! Once the runtime shuts down the queue is closed: what is pushed after that is handed back to
//! the caller to dispose of.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::Mutex;

use crate::loom::{lock, AtomicUsize};

/// The queue of one runtime, of `T`s (a task, or what a thread hands the current-thread loop).
pub(crate) struct Inject<T> {
    queue: Mutex<Queued<T>>,
    /// `queue.items.len()`, readable without the lock.
    len: AtomicUsize,
}

struct Queued<T> {
    items: VecDeque<T>,
    /// The runtime is shutting down: pushes are refused.
    closed: bool,
}

impl<T> Inject<T> {
    pub(crate) fn new() -> Inject<T> {
        Inject {
            queue: Mutex::new(Queued {
                items: VecDeque::new(),
                closed: false,
            }),
            len: AtomicUsize::new(0),
        }
    }

    /// Whether it looks empty (a snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(Acquire) == 0
    }

    /// How many wait here (a snapshot).
    pub(crate) fn len(&self) -> usize {
        self.len.load(Acquire)
    }

    /// Queues `items` and, still under the lock, calls `queued` (the current-thread loop rings
    /// its doorbell there, so that no push slips between its drain and its ring). If the queue
    /// is closed, hands the items back instead.
    pub(crate) fn push<I>(&self, items: I, queued: impl FnOnce()) -> Result<(), I>
    where
        I: IntoIterator<Item = T>,
    {
        let mut queue = lock(&self.queue);
        if queue.closed {
            return Err(items);
        }
        queue.items.extend(items);
        self.len.store(queue.items.len(), Release);
        queued();
        Ok(())
    }

    /// Takes up to `max` items, oldest first, calling `taken` under the lock.
    pub(crate) fn pop_batch(&self, max: usize, taken: impl FnOnce()) -> VecDeque<T> {
        let mut queue = lock(&self.queue);
        taken();
        let take = queue.items.len().min(max);
        let batch = if take == queue.items.len() {
            std::mem::take(&mut queue.items)
        } else {
            queue.items.drain(..take).collect()
        };
        self.len.store(queue.items.len(), Release);
        batch
    }

    /// Takes up to `max` items, oldest first, and hands them to `take` under the lock, which
    /// moves them where they go (a worker's ring) without collecting them first. What `take`
    /// leaves goes back to the front, in order, so that nothing is dropped under the lock.
    /// `take` must not run user code, nor touch this queue.
    pub(crate) fn pop_with<R>(
        &self,
        max: usize,
        take: impl FnOnce(&mut std::collections::vec_deque::Drain<'_, T>) -> R,
    ) -> R {
        let mut queue = lock(&self.queue);
        let count = queue.items.len().min(max);
        let mut batch = queue.items.drain(..count);
        let taken = take(&mut batch);
        let left: Vec<T> = batch.collect();
        for item in left.into_iter().rev() {
            queue.items.push_front(item);
        }
        self.len.store(queue.items.len(), Release);
        taken
    }

    /// Refuses further pushes and returns what was queued.
    pub(crate) fn close(&self) -> VecDeque<T> {
        let mut queue = lock(&self.queue);
        queue.closed = true;
        self.len.store(0, Release);
        std::mem::take(&mut queue.items)
    }
}
