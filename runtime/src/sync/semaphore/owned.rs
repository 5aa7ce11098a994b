//! The owned forms of a semaphore: [`Semaphore::acquire_owned`] and its kin take the semaphore
//! by an `Arc`, so that the future ([`AcquireOwned`]) and the permit
//! ([`OwnedSemaphorePermit`]) borrow nothing and are `'static`: a permit can be moved into a
//! spawned task, or kept in a struct, as a connection limit's is. They wait exactly as the
//! borrowed forms do (the same [`PermitWait`]), and promise the same.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{permits_asked, AcquireError, PermitWait, Semaphore, TryAcquireError};

impl Semaphore {
    /// As [`acquire`](Semaphore::acquire), holding the semaphore by an `Arc`: the future and
    /// its permit are `'static`.
    ///
    /// Cancel safety: as `acquire`'s: dropping this future before it completes loses no
    /// permit (one already handed to it passes to the next waiter).
    ///
    /// ```
    /// use nbio::sync::Semaphore;
    /// use std::sync::Arc;
    ///
    /// nbio::block_on(async {
    ///     let limit = Arc::new(Semaphore::new(1));
    ///     let permit = Arc::clone(&limit).acquire_owned().await.unwrap();
    ///     let task = nbio::spawn(async move {
    ///         let _permit = permit; // held by the task, given back when it ends
    ///     });
    ///     task.await.unwrap();
    ///     assert_eq!(limit.available_permits(), 1);
    /// });
    /// ```
    pub fn acquire_owned(self: Arc<Self>) -> AcquireOwned {
        AcquireOwned {
            wait: PermitWait::new(self, 1),
        }
    }

    /// As [`acquire_many`](Semaphore::acquire_many), holding the semaphore by an `Arc`.
    ///
    /// # Panics
    ///
    /// If `n` exceeds [`Semaphore::MAX_PERMITS`] (possible only where `usize` has 32 bits).
    ///
    /// Cancel safety: as `acquire_many`'s: dropping this future before it completes loses no
    /// permit; those already handed to it go on to the next waiters.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// nbio::block_on(async {
    ///     let semaphore = Arc::new(nbio::sync::Semaphore::new(3));
    ///     let permit = Arc::clone(&semaphore).acquire_many_owned(2).await.unwrap();
    ///     assert_eq!((permit.num_permits(), semaphore.available_permits()), (2, 1));
    /// });
    /// ```
    #[track_caller]
    pub fn acquire_many_owned(self: Arc<Self>, n: u32) -> AcquireOwned {
        AcquireOwned {
            wait: PermitWait::new(self, permits_asked(n)),
        }
    }

    /// As [`try_acquire`](Semaphore::try_acquire), holding the semaphore by an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let semaphore = Arc::new(nbio::sync::Semaphore::new(1));
    /// let permit = Arc::clone(&semaphore).try_acquire_owned().unwrap();
    /// assert!(Arc::clone(&semaphore).try_acquire_owned().is_err());
    /// drop(permit);
    /// assert!(semaphore.try_acquire_owned().is_ok());
    /// ```
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_take(1)?;
        Ok(OwnedSemaphorePermit {
            semaphore: self,
            permits: 1,
        })
    }

    /// As [`try_acquire_many`](Semaphore::try_acquire_many), holding the semaphore by an
    /// `Arc`.
    ///
    /// # Panics
    ///
    /// If `n` exceeds [`Semaphore::MAX_PERMITS`] (possible only where `usize` has 32 bits).
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let semaphore = Arc::new(nbio::sync::Semaphore::new(2));
    /// let permit = Arc::clone(&semaphore).try_acquire_many_owned(2).unwrap();
    /// assert_eq!(permit.num_permits(), 2);
    /// ```
    #[track_caller]
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        let permits = permits_asked(n);
        self.try_take_many(permits)?;
        Ok(OwnedSemaphorePermit {
            semaphore: self,
            permits,
        })
    }
}

/// The future of [`Semaphore::acquire_owned`] and [`Semaphore::acquire_many_owned`]: it holds
/// the semaphore by an `Arc`, and is `'static`.
#[must_use = "a future does nothing unless awaited"]
pub struct AcquireOwned {
    wait: PermitWait<Arc<Semaphore>>,
}

impl Future for AcquireOwned {
    type Output = Result<OwnedSemaphorePermit, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.wait.poll_take(cx).map_ok(|()| OwnedSemaphorePermit {
            semaphore: Arc::clone(&this.wait.holder),
            permits: this.wait.permits(),
        })
    }
}

impl fmt::Debug for AcquireOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquireOwned")
            .field("wait", &self.wait)
            .finish()
    }
}

/// Permits of a [`Semaphore`] held through an `Arc` of it (so `'static`); dropping it gives
/// them back.
#[must_use = "dropping the permit gives it back at once"]
pub struct OwnedSemaphorePermit {
    semaphore: Arc<Semaphore>,
    permits: usize,
}

impl OwnedSemaphorePermit {
    /// Keeps the permits out of the semaphore for good: the count is that much lower from now
    /// on. The `Arc` it held is dropped.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let semaphore = Arc::new(nbio::sync::Semaphore::new(2));
    /// Arc::clone(&semaphore).try_acquire_owned().unwrap().forget();
    /// assert_eq!(semaphore.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits it holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore they are permits of.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let semaphore = Arc::new(nbio::sync::Semaphore::new(1));
    /// let permit = Arc::clone(&semaphore).try_acquire_owned().unwrap();
    /// assert!(Arc::ptr_eq(permit.semaphore(), &semaphore));
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.semaphore
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.release(self.permits);
        }
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("made_at", &format_args!("{}", self.semaphore.made_at))
            .field("permits", &self.permits)
            .finish()
    }
}
