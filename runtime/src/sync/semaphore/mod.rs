//! A counting semaphore that serves its waiters in order: [`Semaphore`].
//!
//! The article's loop has no limit on how many generators may send at once; a semaphore is
//! that limit. It holds a number of permits; [`Semaphore::acquire`] takes one, waiting while
//! there are none, and dropping the [`SemaphorePermit`] gives it back;
//! [`Semaphore::acquire_many`] takes several at once. [`Mutex`](super::Mutex) is a semaphore
//! of one permit with the data beside it, and [`RwLock`](super::RwLock) one of many permits: a
//! read takes one, a write takes them all. The owned forms (`acquire_owned`, `owned.rs`) hold
//! the semaphore by an `Arc`, so their futures and permits are `'static`.
//!
//! # How it works
//!
//! One atomic word holds the permits and two flags:
//!
//! ```text
//! state = permits << 2 | QUEUED | CLOSED
//! ```
//!
//! - The fast paths touch only the word. `acquire` takes a permit with one compare-and-swap
//!   when there is one and nobody is queued; dropping a permit gives it back with one
//!   compare-and-swap when nobody is queued.
//! - A task that finds no permit takes the waiter list's lock, sets `QUEUED` (in the same
//!   compare-and-swap that checks there is still no permit: a permit given back meanwhile is
//!   seen, not lost) and queues itself.
//! - While `QUEUED` is set the word holds **no** permits: a permit given back goes straight to
//!   the first waiter, under the lock, and never through the count. That is what makes the
//!   semaphore fair: a newcomer cannot take a permit a waiter was promised, because it finds
//!   none and queues behind. The last waiter taken off the queue clears `QUEUED`.
//! - A waiter that asks for `n` permits finding `m < n` takes the `m` as it queues (the same
//!   compare-and-swap that sets `QUEUED` leaves the count at zero), and permits given back
//!   fill the first waiter's request until it holds all `n`; only then does it leave the
//!   queue, and the next waiter's turn begins. So a waiter asking for many is never overtaken
//!   by later ones asking for few: that is how an `RwLock`'s waiting writer stops new readers.
//!
//! # Cancellation
//!
//! A waiting [`Acquire`] that is dropped leaves the queue. If permits had already been handed
//! to it (a release chose it, and it was dropped before it ran, or it held part of a request
//! for many), they are passed on to the next waiters, or back to the count: no permit is ever
//! lost.

use std::fmt;
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;
use std::task::{Context, Poll};

mod acquire;
mod many;
mod owned;

pub use acquire::{Acquire, SemaphorePermit};
pub(crate) use acquire::{Gate, PermitWait};
use many::permits_asked;
pub use owned::{AcquireOwned, OwnedSemaphorePermit};

use super::waiters::{store_waker_and_unlock, Key, WaitList, WakeList};
use crate::loom::{AtomicUsize, Mutex, MutexGuard};

/// Set once [`Semaphore::close`] was called.
const CLOSED: usize = 1;
/// Set while a waiter is queued; then the count is zero.
const QUEUED: usize = 2;
/// One permit in the state word.
const ONE: usize = 4;

/// What a waiter asked for and what it was given so far, written by whoever serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Want {
    /// Permits asked for (at least one: a request for none never queues).
    wanted: usize,
    /// Permits handed to it so far; it leaves the queue once it has all it asked for.
    granted: usize,
    /// The semaphore was closed while it waited (what it had been given went back).
    closed: bool,
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Granted,
    Closed,
}

/// A counting semaphore: at most `n` holders at once, served in the order they asked.
///
/// `Send + Sync`; share it with an `Arc` between tasks, threads and runtimes.
///
/// ```
/// use nbio::sync::Semaphore;
/// use std::sync::Arc;
///
/// nbio::block_on(async {
///     let limit = Arc::new(Semaphore::new(2)); // at most two downloads at once
///     let mut tasks = Vec::new();
///     for n in 0..5 {
///         let limit = Arc::clone(&limit);
///         tasks.push(nbio::spawn(async move {
///             let _permit = limit.acquire().await.unwrap();
///             nbio::yield_now().await; // the download
///             n
///         }));
///     }
///     for task in tasks {
///         task.await.unwrap();
///     }
///     assert_eq!(limit.available_permits(), 2);
/// });
/// ```
pub struct Semaphore {
    /// `permits << 2 | QUEUED | CLOSED`; see the module's documentation.
    state: AtomicUsize,
    /// The tasks waiting for permits, in arrival order.
    waiters: Mutex<WaitList<Want>>,
    /// Where the semaphore was made: what a report of who waits on it names.
    made_at: &'static Location<'static>,
}

/// The error of [`Semaphore::acquire`]: the semaphore was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

/// The error of [`Semaphore::try_acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// No permit is free now (or waiters are queued ahead).
    NoPermits,
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the semaphore was closed: no more permits are handed out")
    }
}

impl std::error::Error for AcquireError {}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => {
                f.write_str("the semaphore was closed: no more permits are handed out")
            }
            TryAcquireError::NoPermits => {
                f.write_str("no permit is free now; acquire().await waits for one")
            }
        }
    }
}

impl std::error::Error for TryAcquireError {}

impl Semaphore {
    /// The most permits a semaphore can hold.
    pub const MAX_PERMITS: usize = usize::MAX >> 2;

    /// A semaphore with `permits` permits.
    ///
    /// # Panics
    ///
    /// If `permits` exceeds [`Semaphore::MAX_PERMITS`].
    ///
    /// ```
    /// let semaphore = nbio::sync::Semaphore::new(3);
    /// assert_eq!(semaphore.available_permits(), 3);
    /// ```
    #[track_caller]
    pub fn new(permits: usize) -> Semaphore {
        assert!(
            permits <= Semaphore::MAX_PERMITS,
            "Semaphore::new({permits}): at most Semaphore::MAX_PERMITS ({}) permits",
            Semaphore::MAX_PERMITS
        );
        Semaphore {
            state: AtomicUsize::new(permits * ONE),
            waiters: Mutex::new(WaitList::new()),
            made_at: Location::caller(),
        }
    }

    /// Waits for a permit and returns it; dropping the permit gives it back. Waiters are
    /// served in the order they first polled; fails only if the semaphore is closed.
    ///
    /// Cancel safety: dropping this future before it completes loses no permit: it gives up
    /// its place in the line, and a permit already handed to it passes to the next waiter (or
    /// back to the count if nobody waits).
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let semaphore = nbio::sync::Semaphore::new(1);
    ///     let permit = semaphore.acquire().await.unwrap();
    ///     assert_eq!(semaphore.available_permits(), 0);
    ///     drop(permit);
    ///     assert_eq!(semaphore.available_permits(), 1);
    /// });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire {
            wait: PermitWait::new(self, 1),
        }
    }

    /// Takes a permit if one is free now and nobody is queued for one.
    ///
    /// ```
    /// use nbio::sync::{Semaphore, TryAcquireError};
    ///
    /// let semaphore = Semaphore::new(1);
    /// let permit = semaphore.try_acquire().unwrap();
    /// assert_eq!(semaphore.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    /// drop(permit);
    /// assert!(semaphore.try_acquire().is_ok());
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_take(1)?;
        Ok(SemaphorePermit {
            semaphore: self,
            permits: 1,
        })
    }

    /// How many permits are free now.
    ///
    /// ```
    /// let semaphore = nbio::sync::Semaphore::new(2);
    /// let _one = semaphore.try_acquire().unwrap();
    /// assert_eq!(semaphore.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.state.load(Ordering::Acquire) / ONE
    }

    /// Adds `n` permits: the first `n` waiters get one each, the rest go to the count.
    ///
    /// # Panics
    ///
    /// If the count would exceed [`Semaphore::MAX_PERMITS`].
    ///
    /// ```
    /// let semaphore = nbio::sync::Semaphore::new(0);
    /// semaphore.add_permits(2);
    /// assert_eq!(semaphore.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        if n > 0 {
            self.release(n);
        }
    }

    /// Closes the semaphore: every waiter and every later `acquire` gets [`AcquireError`].
    /// Permits already held stay valid and still come back to the count when dropped.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let semaphore = nbio::sync::Semaphore::new(1);
    ///     semaphore.close();
    ///     assert!(semaphore.acquire().await.is_err());
    ///     assert!(semaphore.is_closed());
    /// });
    /// ```
    pub fn close(&self) {
        let mut wakers = WakeList::new();
        {
            let mut waiters = self.lock_waiters();
            // Under the lock nobody can queue, so clearing QUEUED with CLOSED is exact.
            self.state.fetch_and(!QUEUED, Ordering::Relaxed);
            self.state.fetch_or(CLOSED, Ordering::Release);
            // What the waiters were given of their requests goes back to the count.
            let mut given_back = 0;
            waiters.drain(|waiter| {
                given_back += std::mem::take(&mut waiter.data.granted);
                waiter.data.closed = true;
                wakers.push(waiter.waker.take());
            });
            self.state.fetch_add(given_back * ONE, Ordering::Release);
        }
        wakers.wake_all();
    }

    /// Whether [`close`](Semaphore::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Where this semaphore was made (its `Semaphore::new` call).
    pub fn made_at(&self) -> &'static Location<'static> {
        self.made_at
    }

    /// The fast path of acquiring `permits`: one compare-and-swap when they are free and
    /// nobody is queued ahead (for no permits, while others are queued: `NoPermits`, and
    /// `take_or_queue` lets it through).
    #[inline]
    pub(crate) fn try_take(&self, permits: usize) -> Result<(), TryAcquireError> {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & CLOSED != 0 {
                return Err(TryAcquireError::Closed);
            }
            if state & QUEUED != 0 || state / ONE < permits {
                return Err(TryAcquireError::NoPermits);
            }
            // Acquire: what the last holder did before giving the permits back is visible.
            match self.state.compare_exchange_weak(
                state,
                state - permits * ONE,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => state = actual,
            }
        }
    }

    /// Gives back `n` permits: to the count if nobody is queued, else to the waiters in order.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & QUEUED == 0 {
            let new = Self::add_to_count(state, n);
            // Release: pairs with the Acquire of whoever takes the permit next.
            match self
                .state
                .compare_exchange_weak(state, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
        self.release_to_waiters(n);
    }

    #[cold]
    fn release_to_waiters(&self, n: usize) {
        let mut wakers = WakeList::new();
        {
            let mut waiters = self.lock_waiters();
            self.hand_out(&mut waiters, n, &mut wakers);
        }
        wakers.wake_all();
    }

    /// Under the waiters' lock: fills the requests of the first waiters, in order, with `n`
    /// permits, and gives what is left to the count, clearing `QUEUED` if the queue is now
    /// empty. A waiter whose request is filled leaves the queue and is woken; the first one
    /// not filled keeps what it got, and stays first.
    fn hand_out(&self, waiters: &mut WaitList<Want>, mut n: usize, wakers: &mut WakeList) {
        while n > 0 {
            let Some(first) = waiters.front_mut() else {
                break;
            };
            let missing = first.data.wanted - first.data.granted;
            if n < missing {
                first.data.granted += n;
                return; // every permit went to it; the count stays zero
            }
            first.data.granted = first.data.wanted;
            n -= missing;
            let served = waiters.pop_front().expect("the first waiter is there");
            wakers.push(served.waker.take());
        }
        if !waiters.is_empty() {
            return; // every permit went to a waiter; the count stays zero
        }
        // The queue is empty: clear QUEUED and add the rest in one step, so that nobody sees
        // the queue gone but the permits not yet there.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let new = Self::add_to_count(state & !QUEUED, n);
            match self
                .state
                .compare_exchange_weak(state, new, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
    }

    #[inline]
    fn add_to_count(state: usize, n: usize) -> usize {
        let permits = state / ONE;
        if n > Semaphore::MAX_PERMITS - permits {
            too_many_permits(n, permits);
        }
        state + n * ONE
    }

    fn lock_waiters(&self) -> MutexGuard<'_, WaitList<Want>> {
        // No code of the user runs under this lock: poisoning would only mean a panic in the
        // list's own bookkeeping, after which the list is still consistent.
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The slow path of a first poll: take the `wanted` permits under the lock, or queue,
    /// taking what there is towards them.
    #[cold]
    fn take_or_queue(&self, wanted: usize, cx: &Context<'_>) -> Arrival {
        // We are about to queue: clone the waker before the lock, for its clone may call back
        // into this semaphore (a release would wait on the lock forever). Declared before the
        // guard, so that on a return without queueing it is dropped after the lock, too.
        let waker = cx.waker().clone();
        let mut waiters = self.lock_waiters();
        let mut state = self.state.load(Ordering::Relaxed);
        let granted = loop {
            if state & CLOSED != 0 {
                return Arrival::Closed;
            }
            if wanted == 0 {
                return Arrival::Took; // nothing to take, nobody to wait for
            }
            if state & QUEUED != 0 {
                break 0; // others are queued already: behind them, with nothing yet
            }
            // Either take the permits, or take what there is and announce a waiter, leaving
            // the count at zero. A permit given back in between makes the exchange fail, and
            // the loop sees it.
            let free = state / ONE;
            let (new, took) = if free >= wanted {
                (state - wanted * ONE, true)
            } else {
                ((state % ONE) | QUEUED, false)
            };
            match self
                .state
                .compare_exchange_weak(state, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) if took => return Arrival::Took,
                Ok(_) => break free,
                Err(actual) => state = actual,
            }
        };
        let want = Want {
            wanted,
            granted,
            closed: false,
        };
        Arrival::Queued(waiters.push_back(waker, want))
    }

    /// A queued waiter polls again: has its turn come? If so its slot is given back (a
    /// release or a close took it off the queue already). If not, this poll's waker is stored,
    /// cloned outside the lock if it is a new one (`store_waker_and_unlock`).
    fn check_turn(&self, key: &mut Option<Key>, cx: &Context<'_>) -> Poll<Outcome> {
        let mut fresh = None;
        loop {
            let mut waiters = self.lock_waiters();
            let queued = key.as_ref().expect("a queued waiter has a key");
            let want = waiters.get(queued).data;
            let outcome = match want {
                Want { closed: true, .. } => Some(Outcome::Closed),
                Want {
                    wanted, granted, ..
                } if granted == wanted => Some(Outcome::Granted),
                _ => None,
            };
            if let Some(outcome) = outcome {
                let waiter = waiters.remove(key.take().expect("checked above"));
                drop(waiters);
                drop((waiter, fresh));
                return Poll::Ready(outcome);
            }
            let waker = cx.waker();
            if store_waker_and_unlock(waiters, |w| &mut w.get_mut(queued).waker, waker, &mut fresh)
            {
                return Poll::Pending;
            }
        }
    }

    /// A queued waiter is dropped before it completed. It leaves the queue; the permits it was
    /// handed but will never use (all it asked for, or part of it) go on to the next waiters.
    #[cold]
    fn leave(&self, key: Key) {
        // If this wait (a `Mutex`'s or a permit's) was the poll's last, it is over now.
        crate::context::lock_wait_dropped();
        let mut wakers = WakeList::new();
        // Our slot, waker included: dropped once the lock is released.
        let waiter;
        {
            let mut waiters = self.lock_waiters();
            let was_queued = waiters.is_queued(&key);
            waiter = waiters.remove(key);
            if was_queued && waiters.is_empty() {
                // The last queued waiter gave up: the count is zero, and is free to grow again.
                self.state.fetch_and(!QUEUED, Ordering::Release);
            }
            if waiter.data.granted > 0 {
                self.hand_out(&mut waiters, waiter.data.granted, &mut wakers);
            }
        }
        drop(waiter);
        wakers.wake_all();
    }
}

#[cold]
#[inline(never)]
fn too_many_permits(n: usize, permits: usize) -> ! {
    panic!("Semaphore: adding {n} permits to {permits} would exceed Semaphore::MAX_PERMITS")
}

/// What a first poll found.
enum Arrival {
    Took,
    Closed,
    Queued(Key),
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiters = self.lock_waiters();
        let tasks: Vec<_> = waiters.iter().filter_map(|waiter| waiter.task).collect();
        f.debug_struct("Semaphore")
            .field("made_at", &format_args!("{}", self.made_at))
            .field("available_permits", &self.available_permits())
            .field("closed", &self.is_closed())
            .field("waiters", &waiters.len())
            .field("waiting_tasks", &tasks)
            .finish()
    }
}
