//! The two things a semaphore hands out: the future that waits for a permit ([`Acquire`]) and
//! the permit itself ([`SemaphorePermit`]), which gives itself back when dropped.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{AcquireError, Arrival, Outcome, Semaphore, TryAcquireError};
use crate::sync::waiters::Key;

/// The future of [`Semaphore::acquire`].
#[must_use = "a future does nothing unless awaited"]
pub struct Acquire<'a> {
    pub(super) semaphore: &'a Semaphore,
    /// Our slot in the waiter list, once queued.
    pub(super) key: Option<Key>,
    pub(super) done: bool,
}

impl<'a> Acquire<'a> {
    /// Polls for the permit without making a [`SemaphorePermit`]: `Mutex` wraps this.
    #[inline]
    pub(crate) fn poll_take(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), AcquireError>> {
        // The fast path, kept small enough to inline: a first poll that finds a free permit.
        if self.key.is_none() && !self.done && crate::context::spend_budget() {
            if let Ok(()) = self.semaphore.try_take() {
                self.done = true;
                return Poll::Ready(Ok(()));
            }
            return self.poll_slow(cx, false);
        }
        self.poll_slow(cx, true)
    }

    /// The polled task waits on this semaphore (a `Mutex` then says more of it).
    #[inline]
    fn waiting(&self) {
        crate::context::waiting_on(crate::context::WaitOn::Semaphore {
            made_at: Some(self.semaphore.made_at),
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
        let outcome = match &self.key {
            None => {
                if check_budget && !crate::context::spend_budget() {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                match self.semaphore.try_take() {
                    Ok(()) => Outcome::Granted,
                    Err(TryAcquireError::Closed) => Outcome::Closed,
                    Err(TryAcquireError::NoPermits) => match self.semaphore.take_or_queue(cx) {
                        Arrival::Took => Outcome::Granted,
                        Arrival::Closed => Outcome::Closed,
                        Arrival::Queued(key) => {
                            self.key = Some(key);
                            self.waiting();
                            return Poll::Pending;
                        }
                    },
                }
            }
            Some(_) => match self.semaphore.check_turn(&mut self.key, cx) {
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
            _ => Err(AcquireError(())),
        })
    }
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let semaphore = this.semaphore;
        this.poll_take(cx)
            .map_ok(|()| SemaphorePermit { semaphore })
    }
}

impl Drop for Acquire<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.semaphore.leave(key);
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// One permit of a [`Semaphore`]; dropping it gives the permit back (to the first waiter, if
/// any).
#[must_use = "dropping the permit gives it back at once"]
pub struct SemaphorePermit<'a> {
    pub(super) semaphore: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit out of the semaphore for good: the count is one lower from now on.
    ///
    /// ```
    /// let semaphore = nbio::sync::Semaphore::new(2);
    /// semaphore.try_acquire().unwrap().forget();
    /// assert_eq!(semaphore.available_permits(), 1);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.semaphore.release(1);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("made_at", &format_args!("{}", self.semaphore.made_at))
            .finish()
    }
}
