//! A worker's run queue: its owner pushes and pops without a lock, and idle workers steal half.
//!
//! The current-thread loop keeps its run queue to itself, so a `VecDeque` does. A worker of the
//! multi-thread runtime must let the others reach its queue: when it is stuck in a long poll
//! (a computation, a blocking call), the tasks queued behind that poll, the ones it spawned just
//! before included, are taken by a worker that has nothing to do. So the queue is a ring of
//! atomic slots shared by its owner and any number of thieves:
//!
//! - `tail` is written by the owner only: a push stores the task in `slots[tail]` and then
//!   publishes it by advancing `tail` (release).
//! - `head` is the next task to take, by the owner (`pop`, one task) or a thief (`steal_half`,
//!   a batch), and every take is one compare-and-swap that moves `head` over the taken slots.
//!   Whoever wins the CAS owns what it read; a loser reads again.
//! - Slots hold raw task pointers in atomics, so a thief that reads a slot the owner is
//!   reusing only reads a stale pointer, never a torn value; its CAS then fails (`head` has
//!   moved past that slot, or the owner could not have reused it), and it throws the pointer
//!   away. Positions are 64-bit counters, so they do not wrap in the life of a process.
//!
//! The queue is FIFO for everyone: the owner takes the oldest task as a thief would. Its size
//! is fixed (256); a push into a full queue moves half of it to the runtime's shared injection
//! queue instead, where any worker finds it.
//!
//! Tasks move in batches wherever they can, since a burst of spawns (a loop that spawns
//! thousands of tasks without awaiting) sends most of them through these moves:
//!
//! - a thief copies the slots it claims straight into its own ring and publishes them all with
//!   one store of its `tail`, after its CAS has made them its own (`steal_half`);
//! - the owner queues a batch from the injection queue the same way (`push_batch`), never more
//!   than its free room (`room`), which only the owner's pushes can shrink;
//! - a full ring gives up its older half with one CAS (`push`).
//!
//! Slots past `tail` are nobody's: a thief or a batch may write there before it publishes, and
//! a taker never reads them as tasks, since it reads only below a `tail` it loaded.

use std::ptr::{self, NonNull};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::loom::{AtomicPtr, AtomicUsize};
use crate::task::raw::{Header, TaskRef};

/// How many tasks a local queue holds (four under loom, so that a model can fill it).
#[cfg(not(nbio_loom))]
pub(crate) const CAPACITY: usize = 256;
#[cfg(nbio_loom)]
pub(crate) const CAPACITY: usize = 4;
const MASK: usize = CAPACITY - 1;

/// One worker's queue.
pub(crate) struct Queue {
    /// The next position to take. Moved forward by a CAS, by the owner or a thief.
    head: AtomicUsize,
    /// The next position to fill. Only the owner writes it.
    tail: AtomicUsize,
    /// A fixed-size array, so that `position & MASK` needs no bounds check.
    slots: Box<[AtomicPtr<Header>; CAPACITY]>,
}

// SAFETY: the queue holds counted task references as raw pointers in atomics; every task
// reference is `Send` (see `TaskRef`), and the protocol above gives each reference to exactly
// one taker.
unsafe impl Send for Queue {}
// SAFETY: as above; every shared access is atomic, and `push`/`pop` are only called by the
// owner (the worker thread the queue belongs to), which the worker loop guarantees.
unsafe impl Sync for Queue {}

/// What did not fit: a batch moved out of a full queue, for the injection queue.
pub(crate) type Overflow = Vec<TaskRef>;

impl Queue {
    pub(crate) fn new() -> Queue {
        Queue {
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            slots: Box::new(std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut()))),
        }
    }

    /// How many tasks are queued (a snapshot; it may change at once).
    pub(crate) fn len(&self) -> usize {
        let tail = self.tail.load(Acquire);
        let head = self.head.load(Acquire);
        tail.saturating_sub(head)
    }

    /// Whether the queue looks empty (a snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many more tasks fit. Owner only: thieves can only make room meanwhile, so the
    /// owner may push this many, at once with `push_batch` or one by one.
    pub(crate) fn room(&self) -> usize {
        let tail = self.tail.load(Relaxed); // ours
        let head = self.head.load(Acquire);
        CAPACITY - (tail - head)
    }

    /// Queues what `tasks` yields at the back, up to the queue's room, and publishes them with
    /// one store of `tail`. Owner only. What does not fit is left in `tasks`.
    pub(crate) fn push_batch(&self, tasks: &mut impl Iterator<Item = TaskRef>) -> usize {
        let start = self.tail.load(Relaxed); // ours
        let room = self.room();
        let mut tail = start;
        for task in tasks.take(room) {
            // Room means the position `tail - CAPACITY` was taken: the slot is free to reuse.
            self.slots[tail & MASK].store(task.into_raw().as_ptr(), Relaxed);
            tail += 1;
        }
        if tail != start {
            self.tail.store(tail, Release);
        }
        tail - start
    }

    /// Queues `task` at the back. Owner only. If the queue is full, moves half of it (the
    /// oldest) and `task` out, and returns them for the injection queue.
    #[inline]
    pub(crate) fn push(&self, task: TaskRef) -> Option<Overflow> {
        let tail = self.tail.load(Relaxed); // ours
        let head = self.head.load(Acquire);
        if tail - head < CAPACITY {
            self.slots[tail & MASK].store(task.into_raw().as_ptr(), Relaxed);
            self.tail.store(tail + 1, Release);
            return None;
        }
        self.overflow(task)
    }

    /// `push` into a full queue, out of the way of the common case.
    #[cold]
    #[inline(never)]
    fn overflow(&self, task: TaskRef) -> Option<Overflow> {
        let Some(mut overflow) = self.take(CAPACITY / 2) else {
            // Thieves emptied it meanwhile: there is room after all.
            return self.push(task);
        };
        overflow.push(task);
        Some(overflow)
    }

    /// Takes the oldest task. Owner only (thieves use `steal_half`): the hot path of every
    /// worker, so one slot and one CAS, no batch.
    pub(crate) fn pop(&self) -> Option<TaskRef> {
        loop {
            let head = self.head.load(Acquire);
            let tail = self.tail.load(Relaxed); // ours
            if head == tail {
                return None;
            }
            let pointer = self.slots[head & MASK].load(Relaxed); // our own store
            if self
                .head
                .compare_exchange(head, head + 1, AcqRel, Acquire)
                .is_ok()
            {
                let pointer = NonNull::new(pointer).expect("a queued slot holds a task");
                // SAFETY: the CAS gave us position `head`, which we filled ourselves: the
                // reference pushed there is ours now, and nobody else can take it.
                return Some(unsafe { TaskRef::from_raw(pointer) });
            }
        }
    }

    /// Takes up to half of the queued tasks (at least one if there is any), oldest first,
    /// into `into`, which belongs to the thief (the caller is its owner). Returns how many it
    /// took.
    ///
    /// The slots are copied straight into the thief's ring, past its `tail`, where nobody reads
    /// them; only once the CAS on this queue's `head` has made them the thief's does one store
    /// of the thief's `tail` publish them. A lost CAS leaves nothing published, and it tries
    /// again.
    pub(crate) fn steal_half(&self, into: &Queue) -> usize {
        let start = into.tail.load(Relaxed); // the thief's own
        let room = into.room();
        loop {
            let head = self.head.load(Acquire);
            let tail = self.tail.load(Acquire);
            let count = tail.saturating_sub(head).div_ceil(2).min(room);
            if count == 0 {
                return 0;
            }
            for offset in 0..count {
                let pointer = self.slots[(head + offset) & MASK].load(Acquire);
                into.slots[(start + offset) & MASK].store(pointer, Relaxed);
            }
            if self
                .head
                .compare_exchange(head, head + count, AcqRel, Acquire)
                .is_ok()
            {
                // The CAS gave us the positions [head, head + count), each filled by the
                // owner before it published `tail`: the references copied are ours to
                // publish. (A lost CAS may have copied stale pointers; they stay unpublished
                // and are overwritten by the next try.)
                into.tail.store(start + count, Release);
                return count;
            }
        }
    }

    /// Claims up to `wanted` tasks (at most half a queue) from the front, retrying until it
    /// succeeds or the queue is empty.
    fn take(&self, wanted: usize) -> Option<Vec<TaskRef>> {
        loop {
            let head = self.head.load(Acquire);
            let tail = self.tail.load(Acquire);
            let available = tail.saturating_sub(head);
            if available == 0 {
                return None;
            }
            if let Some(batch) = self.take_from(head, wanted.min(available)) {
                return Some(batch);
            }
        }
    }

    /// One attempt to claim the `count` tasks from position `head`: read their slots, then
    /// move `head` past them with a CAS. `None` if another taker moved `head` first.
    fn take_from(&self, head: usize, count: usize) -> Option<Vec<TaskRef>> {
        let mut pointers = [ptr::null_mut(); CAPACITY / 2];
        let pointers = &mut pointers[..count];
        for (position, pointer) in (head..).zip(pointers.iter_mut()) {
            *pointer = self.slots[position & MASK].load(Acquire);
        }
        if self
            .head
            .compare_exchange(head, head + count, AcqRel, Acquire)
            .is_err()
        {
            return None; // what we read may be stale or someone else's: forget it
        }
        // One more than the batch: a full `push` adds its own task, without a second allocation.
        let mut batch = Vec::with_capacity(count + 1);
        batch.extend(pointers.iter().map(|&pointer| {
            let pointer = NonNull::new(pointer).expect("a queued slot holds a task");
            // SAFETY: the CAS gave us the positions [head, head + count), each of which the
            // owner filled (and published with `tail`) before we read it, and which nobody
            // else can take now: the reference pushed there is ours.
            unsafe { TaskRef::from_raw(pointer) }
        }));
        Some(batch)
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // The runtime empties its queues before it drops them; what is left loses its
        // reference here.
        while let Some(batch) = self.take(CAPACITY / 2) {
            drop(batch);
        }
    }
}
