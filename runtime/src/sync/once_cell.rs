//! A value set once, by whichever task gets there first: [`OnceCell`].
//!
//! The article's program sets up its sockets before the loop starts. Tasks often need
//! something set up once, lazily, by an `.await` (a connection pool, a configuration read
//! from a file) and shared by everyone after: the first task to ask runs the initialisation,
//! the others wait for its value instead of running it again.
//!
//! # How it works
//!
//! The value sits in a cell beside a `ready` flag; the flag is set, once, after the value is
//! written, so a reader that sees it (`get`, one atomic load) sees the value. The right to
//! initialise is taken under a lock, together with the list of those waiting for it
//! (`waiters.rs`):
//!
//! 1. A caller that finds the cell empty and nobody initialising takes the right (an
//!    [`InitRight`]), lets go of the lock, and runs its initialisation with no lock held: it
//!    is the user's code, and may take as long as it likes.
//! 2. A caller that finds someone initialising queues, in the same critical section that saw
//!    it, and waits.
//! 3. The initialiser that succeeds writes the value, then under the lock sets `ready` and
//!    takes every waiter off the queue (each finds the value there), and wakes them after.
//!    Setting `ready` and emptying the queue in one critical section is what makes step 2
//!    safe: a waiter queued before it is woken, one that comes after sees `ready`.
//! 4. An initialiser that fails, panics or is dropped gives the right back: to the first
//!    waiter, whose turn it now is to initialise, or to nobody if nobody waits.
//!
//! Waker clones are made before the lock is taken, and wakers are woken or dropped after it is
//! let go; the initialisation runs with no lock held.
//!
//! # Cancellation
//!
//! A waiting `get_or_init` that is dropped leaves the queue. One dropped while it initialises
//! (a `timeout` around a slow connect) drops its initialisation future and hands the right to
//! the next caller, who starts afresh: the cell is never left "being initialised" by nobody.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::PoisonError;
use std::task::{Context, Poll};

use super::waiters::{Key, WaitList, WakeList};
use crate::loom::{AtomicBool, Mutex, MutexGuard, UnsafeCell};

/// A cell that is set once, by [`set`](OnceCell::set) or by the first caller of
/// [`get_or_init`](OnceCell::get_or_init), and read without waiting from then on.
///
/// `Sync` when `T: Send + Sync` (the value is shared by reference, and dropped by whoever
/// drops the cell), `Send` when `T: Send`; share it with an `Arc`, or in a `static`-like
/// place of your own.
///
/// ```
/// use nbio::sync::OnceCell;
/// use std::sync::Arc;
///
/// nbio::block_on(async {
///     let config = Arc::new(OnceCell::new());
///     let readers: Vec<_> = (0..3)
///         .map(|_| {
///             let config = Arc::clone(&config);
///             nbio::spawn(async move {
///                 // One of the three reads the "file"; the others wait for its value.
///                 *config.get_or_init(|| async { nbio::yield_now().await; 8080 }).await
///             })
///         })
///         .collect();
///     for reader in readers {
///         assert_eq!(reader.await.unwrap(), 8080);
///     }
/// });
/// ```
pub struct OnceCell<T> {
    /// Set once, with Release, after `value` was written; read with Acquire before reading it.
    ready: AtomicBool,
    /// `Some` once `ready` is set. Written only by the holder of the right to initialise,
    /// before `ready`; never written again after.
    value: UnsafeCell<Option<T>>,
    /// Who initialises, and who waits for it.
    init: Mutex<Init>,
    /// Where the cell was made: what a report of who waits on it names.
    made_at: &'static Location<'static>,
}

// SAFETY: the value is written once, by the one holder of the right to initialise, before
// `ready` is set with Release; it is only read after `ready` is seen with Acquire, and never
// written again while shared. Sharing the cell shares `&T` between threads (`T: Sync`) and
// lets any thread set it or drop it with the cell (`T: Send`).
unsafe impl<T: Send + Sync> Sync for OnceCell<T> {}
// SAFETY: the cell owns its `T`; sending it sends the `T`.
unsafe impl<T: Send> Send for OnceCell<T> {}

/// Under the lock: the right to initialise and the queue of those waiting.
#[derive(Debug)]
struct Init {
    /// Someone holds the right to initialise (an [`InitRight`] lives). Stays set once the cell
    /// is ready: nobody initialises again.
    taken: bool,
    /// Those waiting for the initialiser, each told what happened when taken off the queue.
    waiters: WaitList<Turn>,
}

/// What happened to a queued waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Turn {
    Waiting,
    /// The value is there.
    Ready,
    /// The initialiser gave up, and handed the right to this waiter.
    Yours,
}

/// The error of [`OnceCell::set`], with the value that was not stored.
///
/// ```
/// use nbio::sync::{OnceCell, SetError};
///
/// let cell = OnceCell::new();
/// cell.set("first").unwrap();
/// match cell.set("second") {
///     Err(SetError::AlreadySet(value)) => assert_eq!(value, "second"),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SetError<T> {
    /// The cell already holds a value.
    AlreadySet(T),
    /// A `get_or_init` is initialising the cell now.
    Initialising(T),
}

impl<T> SetError<T> {
    /// The value that was not stored.
    ///
    /// ```
    /// let cell = nbio::sync::OnceCell::new();
    /// cell.set(1).unwrap();
    /// assert_eq!(cell.set(2).unwrap_err().into_inner(), 2);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            SetError::AlreadySet(value) | SetError::Initialising(value) => value,
        }
    }
}

impl<T> fmt::Debug for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::AlreadySet(_) => f.write_str("AlreadySet(..)"),
            SetError::Initialising(_) => f.write_str("Initialising(..)"),
        }
    }
}

impl<T> fmt::Display for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::AlreadySet(_) => f.write_str("the OnceCell already holds a value"),
            SetError::Initialising(_) => f.write_str(
                "a get_or_init is initialising the OnceCell; await get_or_init to get its value",
            ),
        }
    }
}

impl<T> std::error::Error for SetError<T> {}

impl<T> OnceCell<T> {
    /// An empty cell.
    ///
    /// ```
    /// let cell = nbio::sync::OnceCell::<u32>::new();
    /// assert_eq!(cell.get(), None);
    /// ```
    #[track_caller]
    pub fn new() -> OnceCell<T> {
        OnceCell {
            ready: AtomicBool::new(false),
            value: UnsafeCell::new(None),
            init: Mutex::new(Init {
                taken: false,
                waiters: WaitList::new(),
            }),
            made_at: Location::caller(),
        }
    }

    /// The value, if the cell holds one. Never waits.
    ///
    /// ```
    /// let cell = nbio::sync::OnceCell::new();
    /// cell.set("ready").unwrap();
    /// assert_eq!(cell.get(), Some(&"ready"));
    /// ```
    pub fn get(&self) -> Option<&T> {
        if !self.ready.load(Acquire) {
            return None;
        }
        // SAFETY: `ready` was seen with Acquire: the value was written before it was set with
        // Release, and is never written again while the cell is shared.
        self.value.with(|value| unsafe { (*value).as_ref() })
    }

    /// The value, if the cell holds one; `&mut self` proves nobody else looks at it.
    ///
    /// ```
    /// let mut cell = nbio::sync::OnceCell::new();
    /// cell.set(1).unwrap();
    /// *cell.get_mut().unwrap() += 1;
    /// assert_eq!(cell.get(), Some(&2));
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T> {
        // SAFETY: `&mut self`: no other reference to the cell, so none to its value.
        self.value.with_mut(|value| unsafe { (*value).as_mut() })
    }

    /// Stores `value` if the cell is empty and nobody is initialising it; otherwise gives it
    /// back in the error. (Nobody waits for a cell nobody initialises: `set` wakes no one.)
    ///
    /// ```
    /// use nbio::sync::{OnceCell, SetError};
    ///
    /// let cell = OnceCell::new();
    /// assert!(cell.set(1).is_ok());
    /// assert_eq!(cell.set(2), Err(SetError::AlreadySet(2)));
    /// assert_eq!(cell.get(), Some(&1));
    /// ```
    pub fn set(&self, value: T) -> Result<(), SetError<T>> {
        let right = {
            let mut init = self.lock_init();
            if self.ready.load(Acquire) {
                return Err(SetError::AlreadySet(value));
            }
            if init.taken {
                return Err(SetError::Initialising(value));
            }
            init.taken = true;
            InitRight { cell: self }
        };
        right.fill(value);
        Ok(())
    }

    /// The value; if the cell is empty, the first caller runs `f().await` to make it, and the
    /// others wait for that value. `f` runs at most once per caller, and only if the cell is
    /// empty when the caller's turn comes.
    ///
    /// Cancel safety: dropping the future while it waits gives up its place; dropping it
    /// while its `f` runs drops that initialisation, and the next waiter (or the next caller)
    /// initialises instead. A panic in `f` does the same.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let cell = nbio::sync::OnceCell::new();
    ///     assert_eq!(*cell.get_or_init(|| async { 1 }).await, 1);
    ///     assert_eq!(*cell.get_or_init(|| async { 2 }).await, 1); // set already: f not run
    /// });
    /// ```
    pub async fn get_or_init<F, Fut>(&self, f: F) -> &T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        match self
            .get_or_try_init(|| async { Ok::<T, std::convert::Infallible>(f().await) })
            .await
        {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// As [`get_or_init`](OnceCell::get_or_init), for an initialisation that can fail: an
    /// error is returned to this caller, the cell stays empty, and the next waiter (or the
    /// next caller) tries in its turn.
    ///
    /// Cancel safety: as `get_or_init`'s.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let cell = nbio::sync::OnceCell::new();
    ///     let failed = cell.get_or_try_init(|| async { Err("no route") }).await;
    ///     assert_eq!(failed, Err("no route"));
    ///     assert_eq!(cell.get(), None); // still empty: the next caller tries
    ///     let port = cell.get_or_try_init(|| async { Ok::<_, &str>(443) }).await;
    ///     assert_eq!(port, Ok(&443));
    /// });
    /// ```
    pub async fn get_or_try_init<E, F, Fut>(&self, f: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(value) = self.get() {
            return Ok(value);
        }
        let turn = InitTurn {
            cell: self,
            key: None,
        };
        let Some(right) = turn.await else {
            return Ok(self.get().expect("a OnceCell was ready for its waiter"));
        };
        // The right is ours, and no lock is held: run the user's initialisation. If it fails,
        // panics or is dropped, `right` hands the turn on as it is dropped.
        let value = f().await?;
        Ok(right.fill(value))
    }

    /// The value, if the cell holds one, taking the cell apart.
    ///
    /// ```
    /// let cell = nbio::sync::OnceCell::new();
    /// cell.set(String::from("kept")).unwrap();
    /// assert_eq!(cell.into_inner().as_deref(), Some("kept"));
    /// ```
    pub fn into_inner(self) -> Option<T> {
        self.value.into_inner()
    }

    /// Where this cell was made (its `OnceCell::new` call).
    ///
    /// ```
    /// let cell = nbio::sync::OnceCell::<u8>::new();
    /// assert_eq!(cell.made_at().line(), line!() - 1);
    /// ```
    pub fn made_at(&self) -> &'static Location<'static> {
        self.made_at
    }

    fn lock_init(&self) -> MutexGuard<'_, Init> {
        // No code of the user runs under this lock; the list stays consistent on a panic.
        self.init.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Under the lock: the right was given back. The first waiter gets it, or nobody holds it.
    fn pass_right_on(init: &mut Init, wakers: &mut WakeList) {
        match init.waiters.pop_front() {
            Some(waiter) => {
                waiter.data = Turn::Yours;
                wakers.push(waiter.waker.take());
            }
            None => init.taken = false,
        }
    }
}

impl<T> Default for OnceCell<T> {
    #[track_caller]
    fn default() -> OnceCell<T> {
        OnceCell::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (initialising, tasks) = {
            let init = self.lock_init();
            let tasks: Vec<_> = init
                .waiters
                .iter()
                .filter_map(|waiter| waiter.task)
                .collect();
            (init.taken && self.get().is_none(), tasks)
        };
        // The value's Debug is the user's code: called with the lock let go.
        f.debug_struct("OnceCell")
            .field("made_at", &format_args!("{}", self.made_at))
            .field("value", &self.get())
            .field("initialising", &initialising)
            .field("waiting_tasks", &tasks)
            .finish()
    }
}

/// The right to initialise a [`OnceCell`]: one holder at a time. Filled, it publishes the
/// value; dropped unfilled (an error, a panic, a cancelled `get_or_init`), it passes the turn.
struct InitRight<'a, T> {
    cell: &'a OnceCell<T>,
}

impl<'a, T> InitRight<'a, T> {
    /// Writes the value, publishes it, and wakes everyone waiting for it.
    fn fill(self, value: T) -> &'a T {
        let cell = self.cell;
        std::mem::forget(self); // the right is used up, not given back
                                // SAFETY: we hold the right, so nobody else writes the cell, and `ready` is not set
                                // yet, so nobody reads it.
        cell.value.with_mut(|slot| unsafe { *slot = Some(value) });
        let mut wakers = WakeList::new();
        {
            let mut init = cell.lock_init();
            // With the queue emptied in the same critical section: whoever queues later
            // sees `ready` first (step 3 of the module's documentation).
            cell.ready.store(true, Release);
            init.waiters.drain(|waiter| {
                waiter.data = Turn::Ready;
                wakers.push(waiter.waker.take());
            });
        }
        wakers.wake_all();
        cell.get().expect("a OnceCell is ready once filled")
    }
}

impl<T> Drop for InitRight<'_, T> {
    fn drop(&mut self) {
        let mut wakers = WakeList::new();
        OnceCell::<T>::pass_right_on(&mut self.cell.lock_init(), &mut wakers);
        wakers.wake_all();
    }
}

/// Waits for the right to initialise, or for the value: `Some(right)` if it is this caller's
/// turn to initialise, `None` if the cell became ready.
struct InitTurn<'a, T> {
    cell: &'a OnceCell<T>,
    /// Our slot in the waiter list, once queued.
    key: Option<Key>,
}

impl<'a, T> InitTurn<'a, T> {
    /// The polled task waits on another future initialising this cell.
    #[inline]
    fn waiting(&self) {
        crate::context::waiting_on(crate::context::WaitOn::OnceCell {
            made_at: Some(self.cell.made_at),
        });
    }

    fn right(&self) -> Poll<Option<InitRight<'a, T>>> {
        Poll::Ready(Some(InitRight { cell: self.cell }))
    }
}

impl<'a, T> Future for InitTurn<'a, T> {
    type Output = Option<InitRight<'a, T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let cell = this.cell;
        // Cloned before the lock (a waker's clone may be anyone's code), dropped after it
        // if it is not stored.
        let fresh = cx.waker().clone();
        let mut init = cell.lock_init();
        let Some(key) = &this.key else {
            // The first poll: the value, the right, or a place in the queue.
            if cell.ready.load(Acquire) {
                drop(init);
                return Poll::Ready(None);
            }
            if !init.taken {
                init.taken = true;
                drop(init);
                return this.right();
            }
            this.key = Some(init.waiters.push_back(fresh, Turn::Waiting));
            drop(init);
            this.waiting();
            return Poll::Pending;
        };
        let turn = init.waiters.get(key).data;
        if turn == Turn::Waiting {
            let stale = init.waiters.get_mut(key).waker.replace(fresh);
            drop(init);
            drop(stale);
            this.waiting();
            return Poll::Pending;
        }
        let gone = init.waiters.remove(this.key.take().expect("checked above"));
        drop(init);
        drop((gone, fresh));
        match turn {
            Turn::Yours => this.right(),
            _ => Poll::Ready(None),
        }
    }
}

impl<T> Drop for InitTurn<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let mut wakers = WakeList::new();
        let gone = {
            let mut init = self.cell.lock_init();
            let gone = init.waiters.remove(key);
            if gone.data == Turn::Yours {
                // Handed the right, but never to use it: the next waiter's turn.
                OnceCell::<T>::pass_right_on(&mut init, &mut wakers);
            }
            gone
        };
        wakers.wake_all();
        drop(gone); // its waker, after the lock is let go
    }
}
