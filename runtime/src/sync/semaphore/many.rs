//! Requests for many permits at once: [`Semaphore::acquire_many`] and
//! [`Semaphore::try_acquire_many`]. A request waits as one for a single permit does (the same
//! `PermitWait`); how it keeps its place in the line while it collects its permits is the
//! module's "How it works".

use super::{Acquire, PermitWait, Semaphore, SemaphorePermit, TryAcquireError};

impl Semaphore {
    /// Waits for `n` permits at once and returns them as one [`SemaphorePermit`]; dropping it
    /// gives all `n` back. The request keeps its place in the line: permits given back while
    /// it waits go to it until it has all `n`, and waiters behind it wait, even those asking
    /// for fewer than are free (no large request starves behind a stream of small ones).
    ///
    /// A request for more permits than the semaphore will ever hold waits until
    /// [`add_permits`](Semaphore::add_permits) makes them, or the semaphore is closed; until
    /// then it holds what it was given and keeps everyone behind it waiting (nbio cannot tell
    /// whether more will be added). `n` is a `u32`, as tokio's is, so on 64-bit targets it
    /// never exceeds [`Semaphore::MAX_PERMITS`]. A request for no permits completes at once.
    ///
    /// # Panics
    ///
    /// If `n` exceeds [`Semaphore::MAX_PERMITS`] (possible only where `usize` has 32 bits).
    ///
    /// Cancel safety: as [`acquire`](Semaphore::acquire): dropping this future before it
    /// completes loses no permit; those already handed to it go on to the next waiters (or back
    /// to the count).
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let semaphore = nbio::sync::Semaphore::new(5);
    ///     let three = semaphore.acquire_many(3).await.unwrap();
    ///     assert_eq!((three.num_permits(), semaphore.available_permits()), (3, 2));
    ///     drop(three);
    ///     assert_eq!(semaphore.available_permits(), 5);
    /// });
    /// ```
    #[track_caller]
    pub fn acquire_many(&self, n: u32) -> Acquire<'_> {
        Acquire {
            wait: PermitWait::new(self, permits_asked(n)),
        }
    }

    /// Takes `n` permits if they are free now and nobody is queued; a request for none
    /// succeeds unless the semaphore is closed.
    ///
    /// # Panics
    ///
    /// If `n` exceeds [`Semaphore::MAX_PERMITS`] (possible only where `usize` has 32 bits).
    ///
    /// ```
    /// use nbio::sync::{Semaphore, TryAcquireError};
    ///
    /// let semaphore = Semaphore::new(3);
    /// let two = semaphore.try_acquire_many(2).unwrap();
    /// assert_eq!(semaphore.try_acquire_many(2).unwrap_err(), TryAcquireError::NoPermits);
    /// drop(two);
    /// assert_eq!(semaphore.try_acquire_many(3).unwrap().num_permits(), 3);
    /// ```
    #[track_caller]
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        let permits = permits_asked(n);
        self.try_take_many(permits)?;
        Ok(SemaphorePermit {
            semaphore: self,
            permits,
        })
    }

    /// `try_take`, where `permits` may be zero: that takes nothing, and succeeds even while
    /// others are queued (it takes nothing from them).
    pub(super) fn try_take_many(&self, permits: usize) -> Result<(), TryAcquireError> {
        if permits == 0 {
            return match self.is_closed() {
                true => Err(TryAcquireError::Closed),
                false => Ok(()),
            };
        }
        self.try_take(permits)
    }
}

/// `n` permits as a count; the panic of a request the semaphore could never hold.
#[inline]
#[track_caller]
pub(super) fn permits_asked(n: u32) -> usize {
    let permits = n as usize;
    if permits > Semaphore::MAX_PERMITS {
        request_too_large(n);
    }
    permits
}

#[cold]
#[inline(never)]
#[track_caller]
fn request_too_large(n: u32) -> ! {
    panic!(
        "Semaphore: a request for {n} permits can never be met: a semaphore holds at most \
         Semaphore::MAX_PERMITS ({})",
        Semaphore::MAX_PERMITS
    )
}
