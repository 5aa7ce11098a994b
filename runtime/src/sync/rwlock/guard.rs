//! What an [`RwLock`] hands out: a read guard (one of its permits) and a write guard (all of
//! them). Each derefs to the data and gives its permits back when dropped.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

use super::RwLock;

/// A read lock of an [`RwLock`]: derefs to the data, lets go when dropped.
///
/// `Send` and `Sync` when `T: Send + Sync`.
#[must_use = "dropping the guard lets go of the lock at once"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
}

impl<'a, T> RwLockReadGuard<'a, T> {
    /// The read permit is ours.
    #[inline]
    pub(super) fn new(lock: &'a RwLock<T>) -> RwLockReadGuard<'a, T> {
        RwLockReadGuard { lock }
    }
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read permit: no writer holds them all while it lives, so
        // the data is only shared, and the borrow cannot outlive the guard.
        self.lock.data.with(|data| unsafe { &*data })
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.gate.release(1);
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// The write lock of an [`RwLock`]: derefs to the data, mutably; lets go when dropped.
///
/// `Send` and `Sync` when `T: Send + Sync`.
#[must_use = "dropping the guard lets go of the lock at once"]
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
}

impl<'a, T> RwLockWriteGuard<'a, T> {
    /// Every permit is ours: remember who writes.
    #[inline]
    pub(super) fn new(lock: &'a RwLock<T>) -> RwLockWriteGuard<'a, T> {
        lock.hold_write();
        RwLockWriteGuard { lock }
    }

    /// Turns the write lock into a read lock without letting go: no writer can come in
    /// between. The readers queued behind it enter with it, up to the next queued writer
    /// (which then waits for this reader, and the others, to leave).
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let lock = nbio::sync::RwLock::new(1);
    ///     let mut write = lock.write().await;
    ///     *write = 2;
    ///     let read = write.downgrade();
    ///     let other = lock.read().await; // readers come in again
    ///     assert_eq!((*read, *other), (2, 2));
    /// });
    /// ```
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let lock = ManuallyDrop::new(self).lock;
        // Keep one permit, which the read guard gives back.
        lock.release_write(lock.max_reads as usize - 1);
        RwLockReadGuard::new(lock)
    }
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds every permit: no other guard exists while it lives, and the
        // borrow cannot outlive the guard.
        self.lock.data.with(|data| unsafe { &*data })
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        self.lock.data.with_mut(|data| unsafe { &mut *data })
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.release_write(self.lock.max_reads as usize);
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
