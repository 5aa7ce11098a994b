//! The task state word: one atomic that says where a task is in its life and how many
//! references to it exist, and every transition it may make, each a named function.
//!
//! The article's loop knows where a generator is by which container holds it: `tasks`,
//! `fds['w']`, or nowhere once it raised `StopIteration`. nbio has to answer the same question
//! from any thread, in one atomic step, because a waker may fire while the task is being polled
//! or from a thread that is not the runtime's. So the whereabouts live in bits, and the rest of
//! the task layer changes them only through the functions below: the whole protocol reads in
//! this one file, and the loom models (`loom_tests.rs`) check exactly these functions.
//!
//! The word is 32 bits, so that it shares a word of the header with the vtable (`raw.rs`): the
//! low seven bits hold flags, the other 25 count references. Every owner of a reference (a
//! run-queue entry, a `Waker`, the `JoinHandle`, the runtime's list of live tasks) holds
//! exactly one; the last one to let go frees the allocation.
//!
//! Most transitions are a compare-and-swap loop over [`State::transition`]: read the word,
//! decide, write the new word only if nobody changed it meanwhile. The few that only ever add
//! a bit or a reference whatever the word holds (`wake`, `ref_inc`, `ref_dec`, two bit
//! clearings) are single read-modify-writes, which cannot fail and are cheaper.

use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};

use crate::loom::AtomicU32;

/// The task is in a run queue, or will be put back in one when its current poll ends.
///
/// Invariant: only the transition that sets this bit may queue the task, so a task sits in a
/// run queue at most once however many times it is woken.
const SCHEDULED: u32 = 1 << 0;

/// An executor is polling the future right now (or dropping it). Only the thread that took the
/// task from a run queue sets it, and while it is set that thread alone touches the future.
///
/// A wake that finds this bit set only marks the task `SCHEDULED`; the executor re-queues it
/// when the poll returns, so a wake during a poll is never lost and never queues twice.
const RUNNING: u32 = 1 << 1;

/// The future finished (returned or panicked) and was dropped; the slot holds its output.
const COMPLETE: u32 = 1 << 2;

/// The slot is empty for good: the future was dropped without an output (cancelled), or the
/// output was taken by the `JoinHandle` or dropped. A closed task is never polled again.
const CLOSED: u32 = 1 << 3;

/// `JoinHandle::abort` asked for the future to be dropped at its next turn.
pub(crate) const CANCELLED: u32 = 1 << 4;

/// A `JoinHandle` exists. While it does, the handle (not the executor) disposes of the output.
const HANDLE: u32 = 1 << 5;

/// The join-waker slot holds a waker that the task side may read. While this bit is set and the
/// task is not finished, the `JoinHandle` must not write the slot; it clears the bit first. Once
/// the task has finished, the executor reads the waker, wakes it, then clears the bit.
const JOIN_WAKER: u32 = 1 << 6;

/// One reference. The count lives in the bits from here up: 25 bits.
const REF_ONE: u32 = 1 << 7;

/// The bits that hold the reference count.
const REF_MASK: u32 = !(REF_ONE - 1);

/// The most references a task may have: past it, `ref_inc` stops the process, as `Arc` does
/// past `isize::MAX`. Half the count's range, so that the threads adding references at the
/// moment one of them sees the limit cannot carry the count into the flags. Each reference is
/// a waker or a queue entry held somewhere: 16 million of one task is a leak, not a program.
const REF_LIMIT: u32 = 1 << 24;

/// The state word of one task.
pub(crate) struct State(AtomicU32);

/// The word as one transition saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot(u32);

impl Snapshot {
    fn has(self, bits: u32) -> bool {
        self.0 & bits != 0
    }

    /// True once the future is gone, whether it finished or was cancelled.
    pub(crate) fn is_finished(self) -> bool {
        self.has(COMPLETE | CLOSED)
    }

    /// The future left an output (it returned or panicked), rather than being dropped unfinished.
    pub(crate) fn has_output(self) -> bool {
        self.has(COMPLETE)
    }

    /// The output was already taken or dropped.
    pub(crate) fn is_closed(self) -> bool {
        self.has(CLOSED)
    }

    /// In a run queue, or about to be put back in one.
    pub(crate) fn is_scheduled(self) -> bool {
        self.has(SCHEDULED)
    }

    /// Being polled right now.
    pub(crate) fn is_running(self) -> bool {
        self.has(RUNNING)
    }

    /// A `JoinHandle` still exists (the task is not detached).
    pub(crate) fn has_handle(self) -> bool {
        self.has(HANDLE)
    }

    /// The join-waker slot is published to the task side.
    pub(crate) fn has_join_waker(self) -> bool {
        self.has(JOIN_WAKER)
    }

    fn refs(self) -> usize {
        ((self.0 & REF_MASK) / REF_ONE) as usize
    }

    /// How many references exist beyond those the runtime and the handle account for: the
    /// list of live tasks' (one), the handle's (while `HANDLE`), and the run queue's (while
    /// queued or running). What is left is held by wakers, somewhere outside the runtime's own
    /// bookkeeping: a socket, a timer, another task, another thread.
    pub(crate) fn outside_refs(self) -> usize {
        let mut expected = 1;
        if self.has(HANDLE) {
            expected += 1;
        }
        if self.has(SCHEDULED | RUNNING) {
            expected += 1;
        }
        self.refs().saturating_sub(expected)
    }
}

/// What a transition does with the word it read.
enum Step<R> {
    /// Write this word (if nobody changed the old one meanwhile), then answer `R`.
    Set(u32, R),
    /// Leave the word as it is and answer `R`.
    Keep(R),
}

/// What [`State::wake`] asks of its caller.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The task was idle: the caller queues it, giving the queue a reference.
    Schedule,
    /// It is queued, running (it will be re-queued when its poll ends) or finished.
    Nothing,
}

/// What [`State::start_run`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// Poll the future: it is ours until the poll ends.
    Poll,
    /// It was aborted: drop the future instead of polling it.
    Cancel,
    /// It finished already (a stale queue entry after shutdown, say): nothing to do.
    Gone,
}

/// What [`State::end_pending_run`] decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AfterPoll {
    /// A wake came while it ran: the queue's reference goes back in the queue.
    Requeue,
    /// Nothing woke it: the queue's reference was released in the same step.
    Idle,
}

/// What [`State::finish`] leaves to its caller.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Finished {
    /// No handle exists: the caller drops the output, which nobody will collect.
    pub(crate) drop_output: bool,
    /// A handle's waker is published: the caller wakes it, then calls `joiner_woken`.
    pub(crate) wake_joiner: bool,
}

/// What [`State::drop_handle`] leaves to the dropped handle.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct HandleDropped {
    /// The output was in the slot and nobody else will touch it: drop it.
    pub(crate) drop_output: bool,
    /// The join-waker slot is the handle's again: empty it.
    pub(crate) clear_waker: bool,
    /// A waker was registered and the task has not finished: the handle is dropped while
    /// waiting.
    pub(crate) was_waiting: bool,
}

impl State {
    /// A new task: scheduled (it is runnable at once), with a handle, and three references (the
    /// run queue's, the list of live tasks', the handle's).
    pub(crate) fn new() -> State {
        State(AtomicU32::new(SCHEDULED | HANDLE | (3 * REF_ONE)))
    }

    /// The word now.
    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Acquire))
    }

    /// The one compare-and-swap loop every conditional transition is written with: `decide`
    /// sees the current word and says what to write; if another thread changed the word in the
    /// meantime, `decide` runs again on the new one.
    fn transition<R>(&self, mut decide: impl FnMut(Snapshot) -> Step<R>) -> R {
        let mut current = self.0.load(Acquire);
        loop {
            match decide(Snapshot(current)) {
                Step::Keep(answer) => return answer,
                Step::Set(next, answer) => {
                    match self.0.compare_exchange_weak(current, next, AcqRel, Acquire) {
                        Ok(_) => return answer,
                        Err(actual) => current = actual,
                    }
                }
            }
        }
    }

    /// Adds one reference.
    pub(crate) fn ref_inc(&self) {
        let before = self.0.fetch_add(REF_ONE, Relaxed);
        if Snapshot(before).refs() >= REF_LIMIT as usize {
            // The count would soon wrap around; as `Arc` does, stop the process.
            std::process::abort();
        }
    }

    /// Drops one reference. True if it was the last: the caller frees the task.
    pub(crate) fn ref_dec(&self) -> bool {
        let before = Snapshot(self.0.fetch_sub(REF_ONE, AcqRel));
        debug_assert!(before.refs() > 0, "task reference count underflow");
        before.refs() == 1
    }

    /// Makes the task runnable, with `extra` (`CANCELLED` for an abort) set too: the single
    /// step behind `Waker::wake`, `wake_by_ref` and `JoinHandle::abort`. Only the caller that
    /// turns `SCHEDULED` on for an idle task is told to queue it.
    pub(crate) fn wake(&self, extra: u32) -> Wake {
        let before = Snapshot(self.0.fetch_or(SCHEDULED | extra, AcqRel));
        if before.has(SCHEDULED | RUNNING) || before.is_finished() {
            Wake::Nothing
        } else {
            Wake::Schedule
        }
    }

    /// SCHEDULED → RUNNING, as the executor takes the task from a run queue. From here on a
    /// wake only marks the task for a re-queue.
    pub(crate) fn start_run(&self) -> Start {
        self.transition(|now| {
            if now.is_finished() {
                return Step::Keep(Start::Gone);
            }
            let next = (now.0 & !SCHEDULED) | RUNNING;
            Step::Set(
                next,
                if now.has(CANCELLED) {
                    Start::Cancel
                } else {
                    Start::Poll
                },
            )
        })
    }

    /// RUNNING → idle after a `Pending` poll: re-queue if a wake came meanwhile, else release
    /// the queue's reference in the same step. The caller holds another reference (the list of
    /// live tasks'), so this is never the last.
    pub(crate) fn end_pending_run(&self) -> AfterPoll {
        self.transition(|now| {
            let next = now.0 & !RUNNING;
            if now.has(SCHEDULED) {
                Step::Set(next, AfterPoll::Requeue)
            } else {
                debug_assert!(now.refs() > 1, "the queue held the last reference");
                Step::Set(next - REF_ONE, AfterPoll::Idle)
            }
        })
    }

    /// Takes an unfinished task for shutdown (its runtime is going away): sets RUNNING so that
    /// the future is ours to drop. False if it already finished.
    pub(crate) fn start_shutdown(&self) -> bool {
        self.transition(|now| {
            if now.is_finished() {
                return Step::Keep(false);
            }
            debug_assert!(!now.has(RUNNING), "a task is being polled during shutdown");
            Step::Set(now.0 | RUNNING, true)
        })
    }

    /// RUNNING → finished, once the future is gone: `COMPLETE` if an output waits in the slot,
    /// `COMPLETE | CLOSED` if it does but no handle will collect it, `CLOSED` if there is none.
    pub(crate) fn finish(&self, has_output: bool) -> Finished {
        self.transition(|now| {
            let mut next = now.0 & !(RUNNING | SCHEDULED);
            let mut drop_output = false;
            if has_output {
                next |= COMPLETE;
                if !now.has(HANDLE) {
                    next |= CLOSED;
                    drop_output = true;
                }
            } else {
                next |= CLOSED;
            }
            let wake_joiner = now.has(JOIN_WAKER);
            Step::Set(
                next,
                Finished {
                    drop_output,
                    wake_joiner,
                },
            )
        })
    }

    /// The executor has woken the handle's waker after `finish`: the slot is the handle's again.
    pub(crate) fn joiner_woken(&self) {
        self.0.fetch_and(!JOIN_WAKER, Release);
    }

    /// The handle took the output out of the slot: nobody may read or drop it again.
    pub(crate) fn output_taken(&self) {
        self.0.fetch_or(CLOSED, AcqRel);
    }

    /// Publishes the join-waker slot to the task side, unless the task has finished (then the
    /// word is returned: the handle collects the result instead of waiting).
    pub(crate) fn set_join_waker(&self) -> Result<(), Snapshot> {
        self.transition(|now| {
            if now.is_finished() {
                Step::Keep(Err(now))
            } else {
                Step::Set(now.0 | JOIN_WAKER, Ok(()))
            }
        })
    }

    /// Takes the join-waker slot back from the task side to change the waker, unless the task
    /// has finished (then the word is returned and the slot stays readable by the executor).
    pub(crate) fn unset_join_waker(&self) -> Result<(), Snapshot> {
        self.transition(|now| {
            if now.is_finished() {
                Step::Keep(Err(now))
            } else {
                Step::Set(now.0 & !JOIN_WAKER, Ok(()))
            }
        })
    }

    /// The handle is dropped: clear `HANDLE`; take the output if it waits uncollected (marking
    /// it closed), and the join-waker slot if the task has not finished (a finished task's
    /// executor may still be reading it; it hands the slot back with `joiner_woken`).
    pub(crate) fn drop_handle(&self) -> HandleDropped {
        self.transition(|now| {
            let mut next = now.0 & !HANDLE;
            let drop_output = now.has(COMPLETE) && !now.has(CLOSED);
            if drop_output {
                next |= CLOSED;
            }
            let owns_waker = now.has(JOIN_WAKER) && !now.is_finished();
            if owns_waker {
                next &= !JOIN_WAKER;
            }
            Step::Set(
                next,
                HandleDropped {
                    drop_output,
                    clear_waker: owns_waker || !now.has(JOIN_WAKER),
                    was_waiting: owns_waker,
                },
            )
        })
    }
}
