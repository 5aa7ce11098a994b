//! Tasks that wait for each other at a meeting point: [`Barrier`].
//!
//! The article's generators never meet: each runs its own course. A barrier is the point where
//! `n` tasks stop until all `n` have come, then go on together: the phases of a computation
//! split among tasks, or a test that starts its clients at the same moment. It can be used
//! again: once `n` have passed, the next `n` meet at it.
//!
//! # How it works
//!
//! One lock guards a count of the parties that have arrived in this round and the list of
//! those waiting (`waiters.rs`):
//!
//! 1. An arrival takes the lock and counts itself. If it is not the `n`-th, it queues (in the
//!    same critical section: the last arrival either finds it queued or has not come yet) and
//!    waits.
//! 2. The `n`-th arrival is the round's *leader*: still under the lock, it sets the count back
//!    to zero and takes every waiter off the queue, which marks them released; it wakes them
//!    after letting go of the lock, and completes at once.
//! 3. A woken waiter finds its slot off the queue: it was released, and completes.
//!
//! Waker clones are made before the lock is taken, and wakers are woken or dropped after it is
//! let go, so a waker that calls back into the barrier finds it free.
//!
//! # Cancellation
//!
//! A wait dropped while still queued takes its arrival back: the round then needs one more
//! party, as if the dropped one had never come. (tokio's barrier keeps the arrival of a dropped
//! wait; here a `select!` that gives up on the barrier does not open it for the others with a
//! party short.) A wait dropped after its round opened, woken but not polled again, changes
//! nothing: the round counted it and has moved on.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll};

use super::waiters::{Key, WaitList, WakeList};
use crate::loom::{Mutex, MutexGuard};

/// A meeting point for `n` tasks: each [`wait`](Barrier::wait) returns once `n` have called
/// it, and the barrier is ready for the next `n`.
///
/// `Send + Sync`; share it with an `Arc` between tasks, threads and runtimes.
///
/// ```
/// use nbio::sync::Barrier;
/// use std::sync::Arc;
///
/// nbio::block_on(async {
///     let barrier = Arc::new(Barrier::new(3));
///     let parties: Vec<_> = (0..3)
///         .map(|_| {
///             let barrier = Arc::clone(&barrier);
///             nbio::spawn(async move { barrier.wait().await.is_leader() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for party in parties {
///         leaders += party.await.unwrap() as usize;
///     }
///     assert_eq!(leaders, 1); // the last to arrive leads
/// });
/// ```
pub struct Barrier {
    /// How many arrivals open a round.
    parties: usize,
    /// The arrivals of this round and the parties waiting.
    round: Mutex<Round>,
    /// Where the barrier was made: what a report of who waits on it names.
    made_at: &'static Location<'static>,
}

/// One round of the barrier, under its lock.
#[derive(Debug)]
struct Round {
    /// Arrivals counted in this round, waiting or not yet polled again; fewer than `parties`.
    arrived: usize,
    /// The waiting parties. A slot taken off the queue was released by its round's leader.
    waiters: WaitList<()>,
}

/// What [`Barrier::wait`] returns: whether this party was the round's leader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this party was the last of its round to arrive, the one that opened the
    /// barrier. Exactly one party of each round is.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let barrier = nbio::sync::Barrier::new(1);
    ///     assert!(barrier.wait().await.is_leader()); // a round of one: its leader
    /// });
    /// ```
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

impl Barrier {
    /// A barrier for rounds of `parties` tasks. A barrier of 0 parties is one of 1: every
    /// wait completes at once, as its round's leader.
    ///
    /// ```
    /// let barrier = nbio::sync::Barrier::new(4);
    /// assert_eq!(barrier.parties(), 4);
    /// ```
    #[track_caller]
    pub fn new(parties: usize) -> Barrier {
        Barrier {
            parties: parties.max(1),
            round: Mutex::new(Round {
                arrived: 0,
                waiters: WaitList::new(),
            }),
            made_at: Location::caller(),
        }
    }

    /// Arrives at the barrier and waits until `parties` arrivals have been counted in this
    /// round; the last of them is the round's leader and completes at once.
    ///
    /// The arrival is counted at the first poll, not when the future is made.
    ///
    /// Cancel safety: dropping the future before its round opened takes its arrival back (the
    /// round waits for one more party); dropping it after (woken, not yet polled) changes
    /// nothing, and the round it belonged to stays open for the others.
    ///
    /// ```
    /// use nbio::sync::Barrier;
    /// use std::sync::Arc;
    ///
    /// nbio::block_on(async {
    ///     let barrier = Arc::new(Barrier::new(2));
    ///     let other = nbio::spawn({
    ///         let barrier = Arc::clone(&barrier);
    ///         async move { barrier.wait().await }
    ///     });
    ///     let mine = barrier.wait().await;
    ///     let theirs = other.await.unwrap();
    ///     assert!(mine.is_leader() != theirs.is_leader());
    /// });
    /// ```
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
            done: false,
        }
    }

    /// How many arrivals open a round.
    ///
    /// ```
    /// assert_eq!(nbio::sync::Barrier::new(0).parties(), 1);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// Where this barrier was made (its `Barrier::new` call).
    ///
    /// ```
    /// let barrier = nbio::sync::Barrier::new(2);
    /// assert_eq!(barrier.made_at().line(), line!() - 1);
    /// ```
    pub fn made_at(&self) -> &'static Location<'static> {
        self.made_at
    }

    fn lock_round(&self) -> MutexGuard<'_, Round> {
        // No code of the user runs under this lock: a panic could only come from the list's
        // own bookkeeping, which leaves it consistent.
        self.round.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let round = self.lock_round();
        let tasks: Vec<_> = round
            .waiters
            .iter()
            .filter_map(|waiter| waiter.task)
            .collect();
        f.debug_struct("Barrier")
            .field("made_at", &format_args!("{}", self.made_at))
            .field("parties", &self.parties)
            .field("arrived", &round.arrived)
            .field("waiting_tasks", &tasks)
            .finish()
    }
}

/// The future of [`Barrier::wait`].
///
/// ```
/// use std::pin::pin;
///
/// let barrier = nbio::sync::Barrier::new(2);
/// let first = pin!(barrier.wait());
/// // Made, not yet polled: not counted. A future that never runs never arrives.
/// assert!(format!("{barrier:?}").contains("arrived: 0"));
/// # drop(first);
/// ```
#[must_use = "a future does nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    /// Our slot in the waiter list, once counted and queued.
    key: Option<Key>,
    done: bool,
}

impl BarrierWait<'_> {
    /// The first poll: count our arrival; open the round if we are its last, else queue.
    fn arrive(&mut self, cx: &Context<'_>) -> Poll<BarrierWaitResult> {
        // A round of one completes at once every time: a loop over it must still let the other
        // tasks run. Not counted yet, so nothing to undo.
        if !crate::context::spend_budget() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let barrier = self.barrier;
        // Cloned before the lock: a waker's clone may be anyone's code. The leader does not
        // need it, and drops it after the lock is let go.
        let waker = cx.waker().clone();
        let mut wakers = WakeList::new();
        let unused = {
            let mut round = barrier.lock_round();
            round.arrived += 1;
            if round.arrived < barrier.parties {
                self.key = Some(round.waiters.push_back(waker, ()));
                drop(round);
                self.waiting();
                return Poll::Pending;
            }
            // We are the leader: open the round for everyone in it, and start the next one.
            round.arrived = 0;
            round
                .waiters
                .drain(|waiter| wakers.push(waiter.waker.take()));
            waker
        };
        wakers.wake_all();
        drop(unused);
        Poll::Ready(BarrierWaitResult { leader: true })
    }

    /// A queued party polls again: released if its slot is off the queue.
    fn check(&mut self, cx: &Context<'_>) -> Poll<BarrierWaitResult> {
        let fresh = cx.waker().clone();
        let mut round = self.barrier.lock_round();
        let key = self.key.as_ref().expect("a queued BarrierWait has a key");
        if round.waiters.is_queued(key) {
            let stale = round.waiters.get_mut(key).waker.replace(fresh);
            drop(round);
            drop(stale);
            self.waiting();
            return Poll::Pending;
        }
        let released = round
            .waiters
            .remove(self.key.take().expect("checked above"));
        drop(round);
        drop((released, fresh));
        Poll::Ready(BarrierWaitResult { leader: false })
    }

    /// The polled task waits on this barrier's other parties.
    #[inline]
    fn waiting(&self) {
        crate::context::waiting_on(crate::context::WaitOn::Barrier {
            made_at: Some(self.barrier.made_at),
        });
    }
}

impl Future for BarrierWait<'_> {
    type Output = BarrierWaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let this = self.get_mut();
        assert!(
            !this.done,
            "a BarrierWait future was polled after it completed"
        );
        let poll = match this.key {
            Some(_) => this.check(cx),
            None => this.arrive(cx),
        };
        this.done = poll.is_ready();
        poll
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let gone = {
            let mut round = self.barrier.lock_round();
            if round.waiters.is_queued(&key) {
                // Still waiting: the round has not opened, and goes on without us.
                round.arrived -= 1;
            }
            round.waiters.remove(key)
        };
        drop(gone); // its waker, after the lock is let go
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("made_at", &format_args!("{}", self.barrier.made_at))
            .field("queued", &self.key.is_some())
            .finish()
    }
}
