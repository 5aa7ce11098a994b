//! One poll: the step every loop takes, written once.
//!
//! The article's loop takes a step with `next(task)`; mini-tokio's with `task.poll()`. nbio's
//! current-thread loop, its workers and the `block_on` thread of the multi-thread runtime all
//! take theirs here, and keep only what really differs between them: where a task that woke
//! itself goes back to, and which list a finished one leaves. One step is:
//!
//! 1. a fresh budget (`context::reset_budget`), so that one task cannot hold the thread;
//! 2. the polled-task slot and the wait word (`task::polled::begin`): who is being polled, and
//!    where a `Pending` writes what it waits on (`diagnose`);
//! 3. the observer's start and end of the poll (`observe`: the journal, the slow-poll watchdog);
//! 4. the poll itself (`TaskRef::run`), and what it came to: [`Polled`].
//!
//! The future given to `block_on`, which is not a task, is polled by [`poll_main`] with the same
//! steps.
//!
//! The task header carries a metadata slot that the task layer never reads (`Metadata`); this
//! file says which of its words is which: [`notes`] (the observer's) and [`wait_word`]
//! (`diagnose`'s).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll, Waker};

use crate::context;
use crate::observe::{Cause, Observer, PollOutcome, TaskNotes, Who};
use crate::task::polled;
use crate::task::raw::{FinishedTask, Header, RunOutcome, TaskRef};
use crate::task::RuntimeNo;

/// The metadata word the observer keeps its notes in (polls, last poll, last wake cause).
const NOTES: usize = 0;
/// The metadata word a `Pending` says what it waits on in (`diagnose::WaitOn`).
const WAIT: usize = 1;

/// The observer's word of `task` (see `observe::TaskNotes`).
#[inline]
pub(crate) fn notes(task: &Header) -> &AtomicU64 {
    task.metadata.word(NOTES)
}

/// The wait word of `task` (see `diagnose::WaitOn`).
#[inline]
pub(crate) fn wait_word(task: &Header) -> &AtomicU64 {
    task.metadata.word(WAIT)
}

/// What one poll of a task came to, for the loop that polled it.
pub(crate) enum Polled {
    /// It returned `Pending` and nothing woke it meanwhile: its waker will bring it back.
    Idle,
    /// It woke itself while it ran (`yield_now`, almost always): the loop puts it back in its
    /// queue, behind the others.
    Requeue(TaskRef),
    /// Its future is gone: the loop takes it off its list of live tasks and counts it
    /// (`completed` if it returned or panicked, not cancelled), then drops `task`, which tells
    /// its `JoinHandle`: in that order, so that the counts are true for whoever the handle wakes.
    Finished { task: FinishedTask, completed: bool },
}

/// Polls `task` once, on the loop of runtime `runtime` that records into `observer`.
///
/// One match on what the poll came to tells the observer and makes the loop's answer: the
/// hottest path of the runtime (a yield, a hand-off) takes no other branch on it.
#[inline(always)]
pub(crate) fn poll_task(task: TaskRef, runtime: RuntimeNo, observer: &Observer) -> Polled {
    let header = task.header();
    let (id, site) = (header.id(), header.meta.tag());
    context::reset_budget();
    let started = observer.poll_started(Who::Task(id), Some(notes(header)));
    let waits = polled::begin(header, wait_word(header), runtime);
    let outcome = task.run();
    let waited = waits.end();
    let ended = |outcome| observer.poll_ended(started, Who::Task(id), Some(site), outcome, waited);
    match outcome {
        RunOutcome::Idle => {
            ended(PollOutcome::Pending);
            Polled::Idle
        }
        RunOutcome::Requeue(task) => {
            ended(PollOutcome::Yielded);
            // The journal recorded this wake with the poll; the dump's note is kept here.
            TaskNotes::of(notes(task.header())).record_wake(Cause::Itself);
            Polled::Requeue(task)
        }
        RunOutcome::Finished(task) => {
            let completed = task.has_output();
            ended(if completed {
                PollOutcome::Done
            } else {
                PollOutcome::Cancelled
            });
            observer.finished(id);
            Polled::Finished { task, completed }
        }
    }
}

/// The future given to `block_on`: what it needs beside the future to be polled like a task.
pub(crate) struct MainPoll<'a> {
    /// Its waker (the loop's own `Wake` type).
    pub(crate) waker: &'a Waker,
    /// Its wait word, which the loop keeps for it.
    pub(crate) wait: &'a AtomicU64,
    pub(crate) runtime: RuntimeNo,
    pub(crate) observer: &'a Observer,
}

/// Polls the future given to `block_on` once.
pub(crate) fn poll_main<F: Future>(future: Pin<&mut F>, main: &MainPoll<'_>) -> Poll<F::Output> {
    context::reset_budget();
    let started = main.observer.poll_started(Who::Main, None);
    let waits = polled::begin_main(main.wait, main.waker, main.runtime);
    let poll = future.poll(&mut Context::from_waker(main.waker));
    let waited = waits.end();
    let outcome = match poll {
        Poll::Ready(_) => PollOutcome::Done,
        Poll::Pending => PollOutcome::Pending,
    };
    main.observer
        .poll_ended(started, Who::Main, None, outcome, waited);
    poll
}
