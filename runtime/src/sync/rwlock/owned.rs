//! The owned forms of an [`RwLock`]: [`RwLock::read_owned`] and [`RwLock::write_owned`] take
//! the lock by an `Arc`, so that their futures and guards borrow nothing and are `'static` (a
//! guard can be moved into a spawned task). They wait exactly as `read` and `write` do.

use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::{RwLock, TryLockError, NO_READ, NO_WRITE};
use crate::sync::semaphore::{Gate, PermitWait, Semaphore};

impl<T> RwLock<T> {
    /// As [`read`](RwLock::read), taking the lock by an `Arc`: the future and the guard are
    /// `'static`.
    ///
    /// Cancel safety: as `read`'s: dropping this future before it completes loses nothing, and
    /// a read lock already handed to it passes on.
    ///
    /// ```
    /// use nbio::sync::RwLock;
    /// use std::sync::Arc;
    ///
    /// nbio::block_on(async {
    ///     let lock = Arc::new(RwLock::new(7));
    ///     let read = Arc::clone(&lock).read_owned().await;
    ///     let task = nbio::spawn(async move { *read }); // the task holds the read lock
    ///     assert_eq!(task.await.unwrap(), 7);
    ///     assert!(lock.try_write().is_ok());
    /// });
    /// ```
    pub fn read_owned(self: Arc<Self>) -> ReadOwned<T> {
        ReadOwned {
            wait: PermitWait::new(self, 1),
        }
    }

    /// As [`write`](RwLock::write), taking the lock by an `Arc`: the future and the guard are
    /// `'static`.
    ///
    /// Cancel safety: as `write`'s: dropping this future before it completes loses nothing;
    /// what it was handed passes to the waiters behind it.
    ///
    /// ```
    /// use nbio::sync::RwLock;
    /// use std::sync::Arc;
    ///
    /// nbio::block_on(async {
    ///     let lock = Arc::new(RwLock::new(7));
    ///     let mut write = Arc::clone(&lock).write_owned().await;
    ///     nbio::spawn(async move { *write += 1 }).await.unwrap();
    ///     assert_eq!(*lock.read().await, 8);
    /// });
    /// ```
    pub fn write_owned(self: Arc<Self>) -> WriteOwned<T> {
        let permits = self.max_reads as usize;
        WriteOwned {
            wait: PermitWait::new(self, permits),
        }
    }

    /// As [`try_read`](RwLock::try_read), taking the lock by an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let lock = Arc::new(nbio::sync::RwLock::new(1));
    /// let read = Arc::clone(&lock).try_read_owned().unwrap();
    /// assert_eq!(*read, 1);
    /// ```
    pub fn try_read_owned(self: Arc<Self>) -> Result<OwnedRwLockReadGuard<T>, TryLockError> {
        match self.gate.try_take(1) {
            Ok(()) => Ok(OwnedRwLockReadGuard { lock: self }),
            Err(_) => Err(TryLockError(NO_READ)),
        }
    }

    /// As [`try_write`](RwLock::try_write), taking the lock by an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let lock = Arc::new(nbio::sync::RwLock::new(1));
    /// let write = Arc::clone(&lock).try_write_owned().unwrap();
    /// assert!(lock.try_read().is_err());
    /// drop(write);
    /// ```
    pub fn try_write_owned(self: Arc<Self>) -> Result<OwnedRwLockWriteGuard<T>, TryLockError> {
        match self.gate.try_take(self.max_reads as usize) {
            Ok(()) => Ok(OwnedRwLockWriteGuard::new(self)),
            Err(_) => Err(TryLockError(NO_WRITE)),
        }
    }
}

impl<T> Gate for Arc<RwLock<T>> {
    #[inline]
    fn gate(&self) -> &Semaphore {
        &self.gate
    }
}

/// The future of [`RwLock::read_owned`]: it holds the lock by an `Arc`, and is `'static`.
#[must_use = "a future does nothing unless awaited"]
pub struct ReadOwned<T> {
    wait: PermitWait<Arc<RwLock<T>>>,
}

impl<T> Future for ReadOwned<T> {
    type Output = OwnedRwLockReadGuard<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Nothing here is pinned structurally: `PermitWait` is Unpin.
        let this = self.get_mut();
        match this.wait.poll_take(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(OwnedRwLockReadGuard {
                lock: Arc::clone(&this.wait.holder),
            }),
            Poll::Ready(Err(_)) => unreachable!("an RwLock's semaphore is never closed"),
            Poll::Pending => {
                this.wait.holder.waiting(cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for ReadOwned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadOwned")
            .field("made_at", &format_args!("{}", self.wait.holder.made_at()))
            .field("wait", &self.wait)
            .finish()
    }
}

/// The future of [`RwLock::write_owned`]: it holds the lock by an `Arc`, and is `'static`.
#[must_use = "a future does nothing unless awaited"]
pub struct WriteOwned<T> {
    wait: PermitWait<Arc<RwLock<T>>>,
}

impl<T> Future for WriteOwned<T> {
    type Output = OwnedRwLockWriteGuard<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.wait.poll_take(cx) {
            Poll::Ready(Ok(())) => {
                Poll::Ready(OwnedRwLockWriteGuard::new(Arc::clone(&this.wait.holder)))
            }
            Poll::Ready(Err(_)) => unreachable!("an RwLock's semaphore is never closed"),
            Poll::Pending => {
                this.wait.holder.waiting(cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for WriteOwned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteOwned")
            .field("made_at", &format_args!("{}", self.wait.holder.made_at()))
            .field("wait", &self.wait)
            .finish()
    }
}

/// A read lock of an [`RwLock`] held through an `Arc` of it: derefs to the data, lets go when
/// dropped, borrows nothing.
#[must_use = "dropping the guard lets go of the lock at once"]
pub struct OwnedRwLockReadGuard<T> {
    lock: Arc<RwLock<T>>,
}

impl<T> OwnedRwLockReadGuard<T> {
    /// The lock it holds a read lock of.
    pub fn rwlock(&self) -> &Arc<RwLock<T>> {
        &self.lock
    }
}

impl<T> Deref for OwnedRwLockReadGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read permit until it is dropped, which the borrow of `self`
        // outlives: meanwhile no writer holds them all, and the data is only shared.
        self.lock.data.with(|data| unsafe { &*data })
    }
}

impl<T> Drop for OwnedRwLockReadGuard<T> {
    fn drop(&mut self) {
        self.lock.gate.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedRwLockReadGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The write lock of an [`RwLock`] held through an `Arc` of it: derefs to the data, mutably;
/// lets go when dropped, borrows nothing.
#[must_use = "dropping the guard lets go of the lock at once"]
pub struct OwnedRwLockWriteGuard<T> {
    lock: Arc<RwLock<T>>,
}

impl<T> OwnedRwLockWriteGuard<T> {
    /// Every permit is ours: remember who writes.
    fn new(lock: Arc<RwLock<T>>) -> OwnedRwLockWriteGuard<T> {
        lock.hold_write();
        OwnedRwLockWriteGuard { lock }
    }

    /// The lock it holds the write lock of.
    pub fn rwlock(&self) -> &Arc<RwLock<T>> {
        &self.lock
    }

    /// Turns the write lock into a read lock without letting go, as
    /// [`RwLockWriteGuard::downgrade`](super::RwLockWriteGuard::downgrade) does.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let lock = Arc::new(nbio::sync::RwLock::new(1));
    /// let read = Arc::clone(&lock).try_write_owned().unwrap().downgrade();
    /// assert!(lock.try_read().is_ok() && lock.try_write().is_err());
    /// drop(read);
    /// ```
    pub fn downgrade(self) -> OwnedRwLockReadGuard<T> {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again: the `Arc` is moved out exactly once.
        let lock = unsafe { std::ptr::read(&this.lock) };
        // Keep one permit, which the read guard gives back.
        lock.release_write(lock.max_reads as usize - 1);
        OwnedRwLockReadGuard { lock }
    }
}

impl<T> Deref for OwnedRwLockWriteGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds every permit until it is dropped: no other guard exists.
        self.lock.data.with(|data| unsafe { &*data })
    }
}

impl<T> DerefMut for OwnedRwLockWriteGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        self.lock.data.with_mut(|data| unsafe { &mut *data })
    }
}

impl<T> Drop for OwnedRwLockWriteGuard<T> {
    fn drop(&mut self) {
        self.lock.release_write(self.lock.max_reads as usize);
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedRwLockWriteGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
