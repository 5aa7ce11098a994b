//! The two things a semaphore hands out: the future that waits for permits ([`Acquire`]) and
//! the permits themselves ([`SemaphorePermit`]), which give themselves back when dropped.
//!
//! The waiting is done once, by [`PermitWait`], for every future that waits on a semaphore:
//! `Acquire` and the owned `AcquireOwned`, a `Mutex`'s lock and an `RwLock`'s read and write,
//! borrowed or owned. What each holds its semaphore by (a borrow, an `Arc` of it or of the lock
//! around it) is a [`Gate`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{AcquireError, Arrival, Outcome, Semaphore, TryAcquireError};
use crate::sync::waiters::Key;

/// What a waiting future reaches its semaphore through: a borrow of it, or an `Arc` of it or
/// of the lock built on it (the owned forms, whose futures are `'static`).
pub(crate) trait Gate {
    /// The semaphore the future waits on.
    fn gate(&self) -> &Semaphore;
}

impl Gate for &Semaphore {
    #[inline]
    fn gate(&self) -> &Semaphore {
        self
    }
}

impl Gate for Arc<Semaphore> {
    #[inline]
    fn gate(&self) -> &Semaphore {
        self
    }
}

/// A wait for `permits` permits of the semaphore behind `holder`: the body of every future
/// that waits on a semaphore. Dropped while queued, it leaves the queue and passes on what it
/// was given (`Semaphore::leave`).
pub(crate) struct PermitWait<G: Gate> {
    /// How the semaphore is reached; an owned form moves a clone of it into its guard.
    pub(crate) holder: G,
    /// How many permits it waits for.
    permits: usize,
    /// Our slot in the waiter list, once queued.
    key: Option<Key>,
    done: bool,
}

impl<G: Gate> PermitWait<G> {
    #[inline]
    pub(crate) fn new(holder: G, permits: usize) -> PermitWait<G> {
        PermitWait {
            holder,
            permits,
            key: None,
            done: false,
        }
    }

    /// Polls for the permits; `Ok` once they are ours (the caller makes the permit or guard).
    #[inline]
    pub(crate) fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), AcquireError>> {
        // The fast path, kept small enough to inline: a first poll that finds the permits free.
        if self.key.is_none() && !self.done && crate::context::spend_budget() {
            if let Ok(()) = self.holder.gate().try_take(self.permits) {
                self.done = true;
                return Poll::Ready(Ok(()));
            }
            return self.poll_slow(cx, false);
        }
        self.poll_slow(cx, true)
    }

    /// How many permits it waits for.
    pub(crate) fn permits(&self) -> usize {
        self.permits
    }

    /// Whether it is on the semaphore's queue.
    pub(crate) fn is_queued(&self) -> bool {
        self.key.is_some()
    }

    /// The polled task waits on this semaphore (a `Mutex` or an `RwLock` then says more of it).
    #[inline]
    fn waiting(&self) {
        crate::context::waiting_on(crate::context::WaitOn::Semaphore {
            made_at: Some(self.holder.gate().made_at),
        });
    }

    /// Everything but the fast path: the budget is spent (`check_budget`: not yet checked),
    /// the permits are gone, or we are queued.
    #[cold]
    #[inline(never)]
    fn poll_slow(
        &mut self,
        cx: &mut Context<'_>,
        check_budget: bool,
    ) -> Poll<Result<(), AcquireError>> {
        assert!(
            !self.done,
            "an Acquire future was polled after it completed"
        );
        let semaphore = self.holder.gate();
        let outcome = match &self.key {
            None => {
                if check_budget && !crate::context::spend_budget() {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                match semaphore.try_take(self.permits) {
                    Ok(()) => Outcome::Granted,
                    Err(TryAcquireError::Closed) => Outcome::Closed,
                    Err(TryAcquireError::NoPermits) => {
                        match semaphore.take_or_queue(self.permits, cx) {
                            Arrival::Took => Outcome::Granted,
                            Arrival::Closed => Outcome::Closed,
                            Arrival::Queued(key) => {
                                self.key = Some(key);
                                self.waiting();
                                return Poll::Pending;
                            }
                        }
                    }
                }
            }
            Some(_) => match semaphore.check_turn(&mut self.key, cx) {
                Poll::Pending => {
                    self.waiting();
                    return Poll::Pending;
                }
                Poll::Ready(outcome) => outcome,
            },
        };
        self.done = true;
        Poll::Ready(match outcome {
            Outcome::Granted => Ok(()),
            Outcome::Closed => Err(AcquireError(())),
        })
    }
}

impl<G: Gate> Drop for PermitWait<G> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.holder.gate().leave(key);
        }
    }
}

impl<G: Gate> fmt::Debug for PermitWait<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermitWait")
            .field("permits", &self.permits)
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// The future of [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
#[must_use = "a future does nothing unless awaited"]
pub struct Acquire<'a> {
    pub(super) wait: PermitWait<&'a Semaphore>,
}

impl<'a> Acquire<'a> {
    /// Polls for the permit without making a [`SemaphorePermit`]: `Mutex` wraps this.
    #[inline]
    pub(crate) fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), AcquireError>> {
        self.wait.poll_take(cx)
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (semaphore, permits) = (this.wait.holder, this.wait.permits);
        this.wait
            .poll_take(cx)
            .map_ok(|()| SemaphorePermit { semaphore, permits })
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("permits", &self.wait.permits)
            .field("queued", &self.wait.is_queued())
            .finish_non_exhaustive()
    }
}

/// Permits of a [`Semaphore`] (one, or the `n` of an `acquire_many`); dropping it gives them
/// back (to the first waiters, if any).
#[must_use = "dropping the permit gives it back at once"]
pub struct SemaphorePermit<'a> {
    pub(super) semaphore: &'a Semaphore,
    pub(super) permits: usize,
}

impl SemaphorePermit<'_> {
    /// Keeps the permits out of the semaphore for good: the count is that much lower from now
    /// on.
    ///
    /// ```
    /// let semaphore = nbio::sync::Semaphore::new(2);
    /// semaphore.try_acquire().unwrap().forget();
    /// assert_eq!(semaphore.available_permits(), 1);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }

    /// How many permits it holds.
    ///
    /// ```
    /// let semaphore = nbio::sync::Semaphore::new(4);
    /// assert_eq!(semaphore.try_acquire_many(3).unwrap().num_permits(), 3);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.release(self.permits);
        }
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("made_at", &format_args!("{}", self.semaphore.made_at))
            .field("permits", &self.permits)
            .finish()
    }
}
