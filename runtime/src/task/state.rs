//! The task state word: one `AtomicUsize` that says where a task is in its life and how many
//! references to it exist.
//!
//! The article's loop knows where a generator is by which container holds it: `tasks`,
//! `fds['w']`, or nowhere once it raised `StopIteration`. nbio has to answer the same question
//! from any thread, in one atomic step, because a waker may fire while the task is being polled
//! or from a thread that is not the runtime's. So the whereabouts live in bits.
//!
//! The low byte holds flags, the rest of the word counts references. Every owner of a
//! reference (a run-queue entry, a `Waker`, the `JoinHandle`, the executor's registry of live
//! tasks) holds exactly one; the last one to let go frees the allocation.

/// The task is in a run queue, or will be put back in one when its current poll ends.
///
/// Invariant: only the transition that sets this bit may queue the task, so a task sits in a
/// run queue at most once however many times it is woken.
pub(crate) const SCHEDULED: usize = 1 << 0;

/// The executor is polling the future right now. Only the runtime's thread sets it.
///
/// A wake that finds this bit set only marks the task `SCHEDULED`; the executor re-queues it
/// when the poll returns, so a wake during a poll is never lost and never queues twice.
pub(crate) const RUNNING: usize = 1 << 1;

/// The future finished (returned or panicked) and was dropped; the slot holds its output.
pub(crate) const COMPLETE: usize = 1 << 2;

/// The slot is empty for good: the future was dropped without an output (cancelled), or the
/// output was taken by the `JoinHandle` or dropped. A closed task is never polled again.
pub(crate) const CLOSED: usize = 1 << 3;

/// `JoinHandle::abort` asked for the future to be dropped at its next turn.
pub(crate) const CANCELLED: usize = 1 << 4;

/// A `JoinHandle` exists. While it does, the handle (not the executor) disposes of the output.
pub(crate) const HANDLE: usize = 1 << 5;

/// The join-waker slot holds a waker that the task side may read. While this bit is set and the
/// task is not finished, the `JoinHandle` must not write the slot; it clears the bit first. Once
/// the task has finished, the executor reads the waker, wakes it, then clears the bit.
pub(crate) const JOIN_WAKER: usize = 1 << 6;

/// One reference. The count lives in the bits from here up.
pub(crate) const REF_ONE: usize = 1 << 8;

/// The bits that hold the reference count.
pub(crate) const REF_MASK: usize = !(REF_ONE - 1);

/// True once the future is gone, whether it finished or was cancelled.
#[inline]
pub(crate) fn is_finished(state: usize) -> bool {
    state & (COMPLETE | CLOSED) != 0
}

/// How many references exist beyond those the runtime and the handle account for: the
/// registry's, the handle's (while `HANDLE`), and the run queue's (while queued or running).
/// What is left is held by wakers, somewhere outside the runtime's own bookkeeping.
pub(crate) fn outside_refs(state: usize) -> usize {
    let mut expected = 1;
    if state & HANDLE != 0 {
        expected += 1;
    }
    if state & (SCHEDULED | RUNNING) != 0 {
        expected += 1;
    }
    ((state & REF_MASK) / REF_ONE).saturating_sub(expected)
}
