//! An async reader-writer lock whose waiters take turns in order: [`RwLock`].
//!
//! A [`Mutex`](super::Mutex) lets one task at a time reach its data; data that is mostly read
//! can let many readers in at once, and a writer alone. As with the mutex, a task that must
//! wait is made to wait, not its thread, and may hold the lock across an `.await`.
//!
//! # How it works
//!
//! The lock is a [`Semaphore`] of `max_reads` permits (by default [`RwLock::MAX_READS`]): a
//! read takes one permit, a write takes them all. Everything else follows from what the
//! semaphore already promises, which is why it is built this way rather than as a state word
//! of its own:
//!
//! - Uncontended, a read or a write is one compare-and-swap on the semaphore's word, and so is
//!   its release; nothing else is touched.
//! - Waiters are served strictly in the order they came, readers and writers alike. A write
//!   that cannot have every permit takes those that are free as it queues and collects the
//!   rest as readers leave, and while it waits the count stays at zero, so **a waiting writer
//!   stops new readers**: they queue behind it, and a stream of readers cannot starve it.
//! - When a writer lets go, its permits fill the queue from the front: every reader queued
//!   before the next writer gets one, so consecutive queued readers enter together, and the
//!   next writer starts collecting what is left.
//! - A read or write future dropped while it waits gives back what it was handed: a lock that
//!   was granted to it passes on, and a writer's partial collection goes to the waiters behind
//!   it (the semaphore's `leave`).
//!
//! The other way, a word of its own (a reader count, a writer bit, a writer-waiting bit) with
//! a queue for readers and one for writers, would save nothing on the uncontended path (one
//! compare-and-swap either way) and would need a second wake protocol, with its own lost-wakeup
//! and cancellation cases, to keep readers and writers in one order. What this one costs: while
//! a writer waits, each reader that leaves takes the waiter list's lock to hand its permit over
//! (`acquire_many`'s partial grants, `semaphore/mod.rs`), as any release with waiters does.
//!
//! The lock remembers which task holds it for writing (when a task of an nbio runtime does): a
//! read that waits says so in the dump, and the wait graph follows it to that task. A write that
//! waits on readers waits on all of them and names none.
//!
//! The owned forms ([`RwLock::read_owned`], [`RwLock::write_owned`]) take the lock by an `Arc`,
//! so their futures and guards are `'static` (`owned.rs`).

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll, Waker};

mod guard;
mod owned;

pub use guard::{RwLockReadGuard, RwLockWriteGuard};
pub use owned::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, ReadOwned, WriteOwned};

use super::mutex::TryLockError;
use super::semaphore::{Gate, PermitWait, Semaphore};
use crate::loom::{AtomicU64, UnsafeCell};
use crate::task::{TaskId, TaskKey};

/// An async reader-writer lock: many readers or one writer at a time, served in the order they
/// came; a writer waiting stops new readers.
///
/// `Send` when `T: Send`, `Sync` when `T: Send + Sync` (readers on several threads share a
/// `&T`); share it with an `Arc`. Its guards may be held across an `.await`.
///
/// ```
/// use nbio::sync::RwLock;
/// use std::sync::Arc;
///
/// nbio::block_on(async {
///     let config = Arc::new(RwLock::new(String::from("v1")));
///     {
///         let a = config.read().await;
///         let b = config.read().await; // readers share
///         assert_eq!((a.as_str(), b.as_str()), ("v1", "v1"));
///     }
///     let writer = nbio::spawn({
///         let config = Arc::clone(&config);
///         async move { *config.write().await = String::from("v2") }
///     });
///     writer.await.unwrap();
///     assert_eq!(*config.read().await, "v2");
/// });
/// ```
pub struct RwLock<T> {
    /// `max_reads` permits: a reader holds one, a writer all of them.
    gate: Semaphore,
    /// How many permits a write takes: all the gate has.
    max_reads: u32,
    /// The task holding the write lock, with its runtime's number (a `TaskKey`); 0 while none
    /// does, or when the writer is not a task of an nbio runtime.
    writer: AtomicU64,
    data: UnsafeCell<T>,
}

// SAFETY: the lock owns its `T`; sending it sends the `T`.
unsafe impl<T: Send> Send for RwLock<T> {}
// SAFETY: the gate lets either one writer (`&mut T`, so `T` moves between threads: `Send`) or
// readers (`&T` on several threads at once: `Sync`) reach the data, never both; the permits'
// Acquire/Release order each holder's accesses after those of the holders before it.
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}

/// What `try_read` says while the lock is written or a writer waits.
const NO_READ: &str = "the RwLock is write-locked, or a writer waits for it; read().await waits";
/// What `try_write` says while the lock is held.
const NO_WRITE: &str = "the RwLock is held (or others wait for it); write().await waits for it";

impl<T> RwLock<T> {
    /// The most readers a lock can let in at once (and the default), as tokio's.
    pub const MAX_READS: u32 = u32::MAX >> 3;

    /// A lock holding `value`, unlocked, letting in up to [`RwLock::MAX_READS`] readers.
    ///
    /// ```
    /// let lock = nbio::sync::RwLock::new(5);
    /// assert_eq!(lock.into_inner(), 5);
    /// ```
    #[track_caller]
    pub fn new(value: T) -> RwLock<T> {
        RwLock::with_max_readers(value, RwLock::<T>::MAX_READS)
    }

    /// A lock letting in up to `max_reads` readers at once: the next reader waits until one
    /// leaves (as a reader waits behind a writer).
    ///
    /// # Panics
    ///
    /// If `max_reads` is 0 or exceeds [`RwLock::MAX_READS`].
    ///
    /// ```
    /// let lock = nbio::sync::RwLock::with_max_readers((), 2);
    /// let (_a, _b) = (lock.try_read().unwrap(), lock.try_read().unwrap());
    /// assert!(lock.try_read().is_err()); // a third reader would wait
    /// ```
    #[track_caller]
    pub fn with_max_readers(value: T, max_reads: u32) -> RwLock<T> {
        assert!(
            (1..=RwLock::<T>::MAX_READS).contains(&max_reads),
            "RwLock::with_max_readers(_, {max_reads}): between 1 and RwLock::MAX_READS ({})",
            RwLock::<T>::MAX_READS
        );
        RwLock {
            gate: Semaphore::new(max_reads as usize),
            max_reads,
            writer: AtomicU64::new(0),
            data: UnsafeCell::new(value),
        }
    }

    /// Waits to read; the guard lets go when dropped. Readers share the lock, but a reader
    /// that comes while a writer holds it or waits for it waits its turn behind that writer.
    ///
    /// Cancel safety: dropping this future before it completes loses nothing: it gives up its
    /// place in the line, and a read lock already handed to it passes to the waiters behind.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let lock = nbio::sync::RwLock::new(1);
    ///     let (a, b) = (lock.read().await, lock.read().await);
    ///     assert_eq!(*a + *b, 2);
    /// });
    /// ```
    pub fn read(&self) -> Read<'_, T> {
        Read {
            wait: PermitWait::new(self, 1),
        }
    }

    /// Waits to write: until every reader and writer before it has let go. The guard lets go
    /// when dropped.
    ///
    /// Cancel safety: dropping this future before it completes loses nothing: it gives up its
    /// place in the line, and what it was handed (the lock, or the read permits it was
    /// collecting) passes to the waiters behind it.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let lock = nbio::sync::RwLock::new(1);
    ///     *lock.write().await += 1;
    ///     assert_eq!(*lock.read().await, 2);
    /// });
    /// ```
    pub fn write(&self) -> Write<'_, T> {
        Write {
            wait: PermitWait::new(self, self.max_reads as usize),
        }
    }

    /// Reads if no writer holds the lock or waits for it (and a reader's place is free).
    ///
    /// ```
    /// let lock = nbio::sync::RwLock::new(1);
    /// let read = lock.try_read().unwrap();
    /// assert!(lock.try_write().is_err());
    /// drop(read);
    /// assert!(lock.try_write().is_ok());
    /// ```
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        match self.gate.try_take(1) {
            Ok(()) => Ok(RwLockReadGuard::new(self)),
            Err(_) => Err(TryLockError(NO_READ)),
        }
    }

    /// Writes if nobody holds the lock or waits for it.
    ///
    /// ```
    /// let lock = nbio::sync::RwLock::new(1);
    /// *lock.try_write().unwrap() = 2;
    /// let read = lock.try_read().unwrap();
    /// assert!(lock.try_write().is_err());
    /// assert_eq!(*read, 2);
    /// ```
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        match self.gate.try_take(self.max_reads as usize) {
            Ok(()) => Ok(RwLockWriteGuard::new(self)),
            Err(_) => Err(TryLockError(NO_WRITE)),
        }
    }

    /// The data, through an exclusive borrow: no lock is needed, nobody else can hold it.
    ///
    /// ```
    /// let mut lock = nbio::sync::RwLock::new(1);
    /// *lock.get_mut() = 2;
    /// assert_eq!(lock.into_inner(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` proves no guard exists (a guard borrows the lock, or holds an
        // `Arc` of it, which then could not be borrowed mutably), so this is the only access.
        self.data.with_mut(|data| unsafe { &mut *data })
    }

    /// The data, taking the lock apart.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }

    /// The task that holds the write lock, if one does and it is a task of an nbio runtime
    /// (the id is of that task's runtime, which need not be the caller's).
    ///
    /// ```
    /// let lock = nbio::sync::RwLock::new(());
    /// let _write = lock.try_write().unwrap();
    /// assert_eq!(lock.writer(), None); // taken outside any task
    /// ```
    pub fn writer(&self) -> Option<TaskId> {
        self.writer_key().id()
    }

    /// Where this lock was made (its `RwLock::new` or `with_max_readers` call).
    pub fn made_at(&self) -> &'static Location<'static> {
        self.gate.made_at()
    }

    fn writer_key(&self) -> TaskKey {
        TaskKey::from_raw(self.writer.load(Relaxed))
    }

    /// The write lock is ours: remember who holds it.
    #[inline]
    fn hold_write(&self) {
        self.writer
            .store(crate::context::current_key().raw(), Relaxed);
    }

    /// Gives back `permits` of a writer's permits (all of them, or all but one to keep a read).
    #[inline]
    fn release_write(&self, permits: usize) {
        self.writer.store(TaskKey::NOBODY.raw(), Relaxed);
        self.gate.release(permits);
    }

    /// A read or write future returns `Pending`: say what it waits on, and which task holds
    /// the lock for writing, if one of the waiter's runtime does.
    fn waiting(&self, registered: &Waker) {
        let writer = self.writer_key();
        let ours = writer.runtime().is(crate::context::current_key().runtime());
        let on = crate::context::WaitOn::RwLock {
            made_at: Some(self.made_at()),
            writer: writer.id().filter(|_| ours),
        };
        crate::context::waiting_on_registered(on, registered);
    }
}

impl<T> Gate for &RwLock<T> {
    #[inline]
    fn gate(&self) -> &Semaphore {
        &self.gate
    }
}

impl<T: Default> Default for RwLock<T> {
    #[track_caller]
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("RwLock");
        out.field("made_at", &format_args!("{}", self.made_at()));
        match self.try_read() {
            Ok(guard) => out.field("data", &&*guard),
            Err(_) => out
                .field("data", &format_args!("<locked>"))
                .field("writer", &self.writer()),
        };
        out.field("max_reads", &self.max_reads)
            .field("gate", &self.gate)
            .finish()
    }
}

/// The future of [`RwLock::read`].
#[must_use = "a future does nothing unless awaited"]
pub struct Read<'a, T> {
    wait: PermitWait<&'a RwLock<T>>,
}

impl<'a, T> Future for Read<'a, T> {
    type Output = RwLockReadGuard<'a, T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Nothing here is pinned structurally: `PermitWait` is Unpin.
        let this = self.get_mut();
        let lock = this.wait.holder;
        match this.wait.poll_take(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(RwLockReadGuard::new(lock)),
            Poll::Ready(Err(_)) => unreachable!("an RwLock's semaphore is never closed"),
            Poll::Pending => {
                lock.waiting(cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for Read<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Read")
            .field("made_at", &format_args!("{}", self.wait.holder.made_at()))
            .field("wait", &self.wait)
            .finish()
    }
}

/// The future of [`RwLock::write`].
#[must_use = "a future does nothing unless awaited"]
pub struct Write<'a, T> {
    wait: PermitWait<&'a RwLock<T>>,
}

impl<'a, T> Future for Write<'a, T> {
    type Output = RwLockWriteGuard<'a, T>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let lock = this.wait.holder;
        match this.wait.poll_take(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(RwLockWriteGuard::new(lock)),
            Poll::Ready(Err(_)) => unreachable!("an RwLock's semaphore is never closed"),
            Poll::Pending => {
                lock.waiting(cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> fmt::Debug for Write<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Write")
            .field("made_at", &format_args!("{}", self.wait.holder.made_at()))
            .field("wait", &self.wait)
            .finish()
    }
}
