//! An async mutex whose waiters take turns in order: [`Mutex`].
//!
//! The article's generators share nothing but the `tasks` list, and only one runs at a time,
//! so they need no lock. Tasks of nbio may run on several threads, and may hold data across an
//! `.await`; `std::sync::Mutex` would block the thread while another task holds it (and every
//! task of that thread with it). This mutex makes the *task* wait instead.
//!
//! It is a [`Semaphore`] of one permit with the data beside it: locking takes the permit,
//! dropping the guard gives it back, and everything the semaphore promises holds here. The
//! uncontended lock and unlock are one compare-and-swap each; waiters are served in the order
//! they came (an unlock hands the lock straight to the first waiter); a lock future dropped
//! while waiting leaves the queue, and one dropped after the lock was handed to it passes the
//! lock on to the next waiter.
//!
//! The mutex also remembers who holds it: the task id of the holder (when it was locked from a
//! task of an nbio runtime) and where the mutex was made, which its `Debug` shows and which a
//! report of who-waits-on-whom can read.
//!
//! [`Mutex::lock_owned`] is the owned form: it takes the mutex by an `Arc`, so its future and
//! its guard ([`OwnedMutexGuard`]) are `'static` and can be moved into a spawned task.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::semaphore::{Acquire, Gate, PermitWait, Semaphore};
use crate::loom::{AtomicU64, UnsafeCell};
use crate::task::{TaskId, TaskKey};

/// An async mutual-exclusion lock: one holder at a time, the others wait in order.
///
/// `Send + Sync` when `T: Send`; share it with an `Arc`. Unlike `std::sync::Mutex` its guard
/// may be held across an `.await`.
///
/// ```
/// use nbio::sync::Mutex;
/// use std::sync::Arc;
///
/// nbio::block_on(async {
///     let count = Arc::new(Mutex::new(0));
///     let tasks: Vec<_> = (0..10)
///         .map(|_| {
///             let count = Arc::clone(&count);
///             nbio::spawn(async move {
///                 let mut count = count.lock().await;
///                 nbio::yield_now().await; // still held: nobody else counts meanwhile
///                 *count += 1;
///             })
///         })
///         .collect();
///     for task in tasks {
///         task.await.unwrap();
///     }
///     assert_eq!(*count.lock().await, 10);
/// });
/// ```
pub struct Mutex<T> {
    /// One permit: whoever holds it holds the lock.
    gate: Semaphore,
    /// The holder: its task id and its runtime's number (a `TaskKey`). The id is 0 while
    /// unlocked, or when the holder is not a task of an nbio runtime (the future given to
    /// `block_on`, another executor's task).
    holder: AtomicU64,
    data: UnsafeCell<T>,
}

// SAFETY: the gate lets one holder at a time reach `data`, and the permit's Acquire/Release
// orders each holder's accesses after the previous one's; so sharing the mutex between threads
// only ever moves `T` between them, which `T: Send` allows.
unsafe impl<T: Send> Sync for Mutex<T> {}
// SAFETY: the mutex owns its `T`; sending it sends the `T`.
unsafe impl<T: Send> Send for Mutex<T> {}

/// The error of [`Mutex::try_lock`] and of [`RwLock`](super::RwLock)'s `try_read` and
/// `try_write`: another holder has the lock (or waiters are queued for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLockError(pub(super) &'static str);

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for TryLockError {}

impl<T> Mutex<T> {
    /// A mutex holding `value`, unlocked.
    ///
    /// ```
    /// let mutex = nbio::sync::Mutex::new(vec![1, 2]);
    /// assert_eq!(mutex.into_inner(), [1, 2]);
    /// ```
    #[track_caller]
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            gate: Semaphore::new(1),
            holder: AtomicU64::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// Waits for the lock; the guard unlocks when dropped. Waiters get the lock in the order
    /// they first polled.
    ///
    /// Cancel safety: dropping this future before it completes loses nothing: it gives up its
    /// place in the line, and if the lock had already been handed to it, the lock passes to
    /// the next waiter (or is unlocked if nobody waits).
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let mutex = nbio::sync::Mutex::new(1);
    ///     *mutex.lock().await += 1;
    ///     assert_eq!(*mutex.lock().await, 2);
    /// });
    /// ```
    pub fn lock(&self) -> Lock<'_, T> {
        Lock {
            mutex: self,
            acquire: self.gate.acquire(),
        }
    }

    /// Takes the lock if it is free now (and nobody is queued for it).
    ///
    /// ```
    /// let mutex = nbio::sync::Mutex::new(());
    /// let guard = mutex.try_lock().unwrap();
    /// assert!(mutex.try_lock().is_err());
    /// drop(guard);
    /// assert!(mutex.try_lock().is_ok());
    /// ```
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.gate.try_take(1) {
            Ok(()) => Ok(self.guard()),
            Err(_) => Err(TryLockError(LOCKED)),
        }
    }

    /// As [`lock`](Mutex::lock), taking the mutex by an `Arc`: the future and the guard hold
    /// it, borrow nothing, and are `'static` (a guard can be moved into a spawned task).
    ///
    /// Cancel safety: as `lock`'s: dropping this future before it completes loses nothing, and
    /// a lock already handed to it passes to the next waiter.
    ///
    /// ```
    /// use nbio::sync::Mutex;
    /// use std::sync::Arc;
    ///
    /// nbio::block_on(async {
    ///     let mutex = Arc::new(Mutex::new(0));
    ///     let mut guard = Arc::clone(&mutex).lock_owned().await;
    ///     let task = nbio::spawn(async move {
    ///         *guard += 1; // the task holds the lock, and unlocks as it ends
    ///     });
    ///     task.await.unwrap();
    ///     assert_eq!(*mutex.lock().await, 1);
    /// });
    /// ```
    pub fn lock_owned(self: Arc<Self>) -> LockOwned<T> {
        LockOwned {
            wait: PermitWait::new(self, 1),
        }
    }

    /// As [`try_lock`](Mutex::try_lock), taking the mutex by an `Arc`.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let mutex = Arc::new(nbio::sync::Mutex::new(1));
    /// let guard = Arc::clone(&mutex).try_lock_owned().unwrap();
    /// assert!(mutex.try_lock().is_err());
    /// drop(guard);
    /// ```
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        match self.gate.try_take(1) {
            Ok(()) => Ok(Mutex::owned_guard(self)),
            Err(_) => Err(TryLockError(LOCKED)),
        }
    }

    /// The data, through an exclusive borrow: no lock is needed, nobody else can hold it.
    ///
    /// ```
    /// let mut mutex = nbio::sync::Mutex::new(1);
    /// *mutex.get_mut() = 2;
    /// assert_eq!(mutex.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves no guard exists (a guard borrows the mutex), so this is
        // the only access to the data.
        self.data.with_mut(|data| unsafe { &mut *data })
    }

    /// The data, taking the mutex apart.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }

    /// The task that took the lock, if it is held and was taken by a task of an nbio runtime
    /// (a guard sent to another task keeps naming the task that locked).
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let mutex = std::sync::Arc::new(nbio::sync::Mutex::new(()));
    ///     let held = std::sync::Arc::clone(&mutex);
    ///     let task = nbio::spawn(async move {
    ///         let _guard = held.lock().await;
    ///         held.holder()
    ///     });
    ///     assert!(task.await.unwrap().is_some()); // the spawned task held it
    ///     assert_eq!(mutex.holder(), None);
    /// });
    /// ```
    ///
    /// The id is that of the holder's runtime, which need not be the caller's: a mutex may be
    /// shared by tasks of several runtimes.
    pub fn holder(&self) -> Option<TaskId> {
        self.holder_key().id()
    }

    fn holder_key(&self) -> TaskKey {
        TaskKey::from_raw(self.holder.load(Relaxed))
    }

    /// Where this mutex was made (its `Mutex::new` call).
    pub fn made_at(&self) -> &'static Location<'static> {
        self.gate.made_at()
    }

    /// The permit is ours: record who holds it and make the guard.
    #[inline]
    fn guard(&self) -> MutexGuard<'_, T> {
        self.hold();
        MutexGuard {
            mutex: self,
            _not_sync_by_default: PhantomData,
        }
    }

    /// As `guard`, for the owned form.
    fn owned_guard(mutex: Arc<Mutex<T>>) -> OwnedMutexGuard<T> {
        mutex.hold();
        OwnedMutexGuard {
            mutex,
            _not_sync_by_default: PhantomData,
        }
    }

    #[inline]
    fn hold(&self) {
        let holder = crate::context::current_key();
        self.holder.store(holder.raw(), Relaxed);
    }

    #[inline]
    fn unlock(&self) {
        self.holder.store(TaskKey::NOBODY.raw(), Relaxed);
        self.gate.release(1);
    }

    /// A lock future of this mutex returns `Pending`: say what it waits on, and who holds it.
    fn waiting(&self, registered: &std::task::Waker) {
        // A holder of another runtime is not named: its id is not one of ours, and the wait
        // graph would follow it to whichever of our tasks has that number.
        let holder = self.holder_key();
        let ours = holder.runtime().is(crate::context::current_key().runtime());
        let on = crate::context::WaitOn::Mutex {
            made_at: Some(self.made_at()),
            holder: holder.id().filter(|_| ours),
        };
        crate::context::waiting_on_registered(on, registered);
    }
}

/// What [`try_lock`](Mutex::try_lock) says when the mutex is held.
const LOCKED: &str = "the mutex is locked; lock().await waits for it";

impl<T> Gate for Arc<Mutex<T>> {
    fn gate(&self) -> &Semaphore {
        &self.gate
    }
}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Mutex");
        out.field("made_at", &format_args!("{}", self.made_at()));
        match self.try_lock() {
            Ok(guard) => out.field("data", &&*guard),
            Err(_) => out
                .field("data", &format_args!("<locked>"))
                .field("holder", &self.holder()),
        };
        out.field("gate", &self.gate).finish()
    }
}

/// The future of [`Mutex::lock`].
#[must_use = "a future does nothing unless awaited"]
pub struct Lock<'a, T> {
    mutex: &'a Mutex<T>,
    acquire: Acquire<'a>,
}

impl<'a, T> Future for Lock<'a, T> {
    type Output = MutexGuard<'a, T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Nothing here is pinned structurally: `Acquire` is Unpin.
        let this = self.get_mut();
        match this.acquire.poll_take(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(this.mutex.guard()),
            Poll::Ready(Err(_)) => unreachable!("a mutex's semaphore is never closed"),
            Poll::Pending => {
                this.mutex.waiting(cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for Lock<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("made_at", &format_args!("{}", self.mutex.made_at()))
            .field("acquire", &self.acquire)
            .finish()
    }
}

/// Holds the lock of a [`Mutex`]: derefs to the data, unlocks when dropped.
///
/// `Send` when `T: Send` (a task holding it may move between threads); `Sync` when `T: Sync`.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T> {
    mutex: &'a Mutex<T>,
    /// Without this the guard would be `Sync` whenever `T: Send`, and `&guard` would share a
    /// `T` that may not be shared (a `Cell`) between threads.
    _not_sync_by_default: PhantomData<*const ()>,
}

// SAFETY: the guard is the exclusive right to the data; moving it to another thread moves
// that right, which `T: Send` allows (the unlock there is ordered by the permit's Release).
unsafe impl<T: Send> Send for MutexGuard<'_, T> {}
// SAFETY: `&MutexGuard` only gives `&T`, which may be shared between threads when `T: Sync`.
unsafe impl<T: Send + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit: no other access to the data exists
        // while it lives, and the borrow cannot outlive the guard.
        self.mutex.data.with(|data| unsafe { &*data })
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        self.mutex.data.with_mut(|data| unsafe { &mut *data })
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// The future of [`Mutex::lock_owned`]: it holds the mutex by an `Arc`, and is `'static`.
#[must_use = "a future does nothing unless awaited"]
pub struct LockOwned<T> {
    wait: PermitWait<Arc<Mutex<T>>>,
}

impl<T> Future for LockOwned<T> {
    type Output = OwnedMutexGuard<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Nothing here is pinned structurally: `PermitWait` is Unpin.
        let this = self.get_mut();
        match this.wait.poll_take(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Mutex::owned_guard(Arc::clone(&this.wait.holder))),
            Poll::Ready(Err(_)) => unreachable!("a mutex's semaphore is never closed"),
            Poll::Pending => {
                this.wait.holder.waiting(cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for LockOwned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockOwned")
            .field("made_at", &format_args!("{}", self.wait.holder.made_at()))
            .field("wait", &self.wait)
            .finish()
    }
}

/// Holds the lock of a [`Mutex`] through an `Arc` of it (see [`Mutex::lock_owned`]): derefs
/// to the data, unlocks when dropped, and borrows nothing.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct OwnedMutexGuard<T> {
    mutex: Arc<Mutex<T>>,
    /// As `MutexGuard`'s: `&guard` must not share a `T` that is only `Send`.
    _not_sync_by_default: PhantomData<*const ()>,
}

// SAFETY: as `MutexGuard`'s: the guard is the exclusive right to the data, and moving it moves
// that right; the `Arc` it holds is `Send` since `Mutex<T>` is `Send + Sync` when `T: Send`.
unsafe impl<T: Send> Send for OwnedMutexGuard<T> {}
// SAFETY: `&OwnedMutexGuard` only gives `&T` (and `&Arc<Mutex<T>>`, shareable when `T: Send`).
unsafe impl<T: Send + Sync> Sync for OwnedMutexGuard<T> {}

impl<T> OwnedMutexGuard<T> {
    /// The mutex it holds the lock of.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let mutex = Arc::new(nbio::sync::Mutex::new(()));
    /// let guard = Arc::clone(&mutex).try_lock_owned().unwrap();
    /// assert!(Arc::ptr_eq(guard.mutex(), &mutex));
    /// ```
    pub fn mutex(&self) -> &Arc<Mutex<T>> {
        &self.mutex
    }
}

impl<T> Deref for OwnedMutexGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex's only permit until it is dropped, which the
        // borrow of `self` outlives: no other access to the data exists meanwhile.
        self.mutex.data.with(|data| unsafe { &*data })
    }
}

impl<T> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        self.mutex.data.with_mut(|data| unsafe { &mut *data })
    }
}

impl<T> Drop for OwnedMutexGuard<T> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Display> fmt::Display for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
