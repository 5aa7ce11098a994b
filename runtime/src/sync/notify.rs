//! Waking a task without sending it anything: [`Notify`].
//!
//! In the article a generator that has nothing to do still goes round the loop. A task of nbio
//! that waits for "something changed" awaits [`Notify::notified`], and whoever changed it
//! calls [`Notify::notify_one`] (wake the first waiter) or [`Notify::notify_waiters`] (wake
//! every task waiting now).
//!
//! # The permit
//!
//! A `notify_one` that finds nobody waiting is not lost: it leaves one *permit*, and the next
//! `notified().await` takes it and completes at once. Permits do not add up: many
//! `notify_one` calls with nobody waiting leave one. `notify_waiters` leaves no permit; it
//! wakes every `Notified` future made before it was called, polled yet or not.
//!
//! # How it works
//!
//! One atomic word holds the state and a count of `notify_waiters` calls:
//!
//! ```text
//! state = calls << 2 | EMPTY (0) | WAITING (1) | NOTIFIED (2)
//! ```
//!
//! `NOTIFIED` is the stored permit; `WAITING` says the waiter list is not empty, and only a
//! holder of the list's lock moves the word into or out of it. So the fast paths, storing a
//! permit when nobody waits and taking it, are one compare-and-swap each, and a `notify_one`
//! that finds `WAITING` takes the lock and wakes the first waiter. A `Notified` future records
//! the count of calls when it is made; a different count when it is polled means a
//! `notify_waiters` happened since, and it completes.
//!
//! # Cancellation
//!
//! A dropped `Notified` leaves the queue. If a `notify_one` had chosen it and it was dropped
//! before it ran, the notification goes on to the next waiter, or becomes the permit.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::Ordering::{AcqRel, Acquire, SeqCst};
use std::sync::PoisonError;
use std::task::{Context, Poll};

use super::waiters::{store_waker_and_unlock, Key, WaitList, WakeList};
use crate::loom::{AtomicUsize, Mutex, MutexGuard};

const EMPTY: usize = 0;
const WAITING: usize = 1;
const NOTIFIED: usize = 2;
const STATE_MASK: usize = 3;
/// One `notify_waiters` call in the state word.
const CALL: usize = 4;

/// What happened to a queued waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Woken {
    Waiting,
    /// Chosen by `notify_one`: if dropped unused, this notification goes on.
    One,
    /// Woken by `notify_waiters`, with everyone else.
    All,
}

/// Wakes waiting tasks: one at a time with a stored permit, or all at once.
///
/// `Send + Sync`; share it with an `Arc`.
///
/// ```
/// use nbio::sync::Notify;
/// use std::sync::Arc;
///
/// nbio::block_on(async {
///     let ready = Arc::new(Notify::new());
///     let waiter = nbio::spawn({
///         let ready = Arc::clone(&ready);
///         async move {
///             ready.notified().await;
///             "woken"
///         }
///     });
///     ready.notify_one(); // before or after the waiter waits: the permit covers both
///     assert_eq!(waiter.await.unwrap(), "woken");
/// });
/// ```
pub struct Notify {
    /// `calls << 2 | EMPTY | WAITING | NOTIFIED`; see the module's documentation.
    state: AtomicUsize,
    waiters: Mutex<WaitList<Woken>>,
    made_at: &'static Location<'static>,
}

impl Notify {
    /// A `Notify` with no permit and nobody waiting.
    #[track_caller]
    pub fn new() -> Notify {
        Notify {
            state: AtomicUsize::new(EMPTY),
            waiters: Mutex::new(WaitList::new()),
            made_at: Location::caller(),
        }
    }

    /// A future that completes when this `Notify` is notified: by a `notify_one` that chooses
    /// it (or a permit stored before it waited), or by a `notify_waiters` called after the
    /// future was made.
    ///
    /// Cancel safety: dropping this future before it completes loses no notification: it gives
    /// up its place, and a `notify_one` that had chosen it passes to the next waiter (or is
    /// stored as the permit if nobody waits).
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let notify = nbio::sync::Notify::new();
    ///     notify.notify_one(); // nobody waits: a permit is stored
    ///     notify.notified().await; // takes it at once
    /// });
    /// ```
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            calls: self.state.load(SeqCst) / CALL,
            key: None,
            done: false,
        }
    }

    /// Wakes the task that has waited longest; if nobody waits, stores a permit for the next
    /// `notified()` (at most one).
    ///
    /// ```
    /// let notify = nbio::sync::Notify::new();
    /// notify.notify_one();
    /// notify.notify_one(); // still one permit
    /// nbio::block_on(async { notify.notified().await });
    /// ```
    pub fn notify_one(&self) {
        let mut state = self.state.load(SeqCst);
        // Fast path: nobody waits, so store the permit (or find it stored already).
        while state & STATE_MASK != WAITING {
            let new = (state & !STATE_MASK) | NOTIFIED;
            match self.state.compare_exchange(state, new, AcqRel, Acquire) {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
        let mut wakers = WakeList::new();
        {
            let mut waiters = self.lock_waiters();
            self.notify_one_locked(&mut waiters, &mut wakers);
        }
        wakers.wake_all();
    }

    /// Wakes every task waiting now, and every `Notified` future made before this call. Stores
    /// no permit.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let notify = nbio::sync::Notify::new();
    ///     let (first, second) = (notify.notified(), notify.notified());
    ///     notify.notify_waiters(); // both were made before: both complete
    ///     first.await;
    ///     second.await;
    /// });
    /// ```
    pub fn notify_waiters(&self) {
        let mut wakers = WakeList::new();
        {
            let mut waiters = self.lock_waiters();
            // Count the call; the permit bit is left as it is (the fast paths may move it).
            let before = self.state.fetch_add(CALL, SeqCst);
            if before & STATE_MASK == WAITING {
                // Only lock holders leave WAITING, and the queue is about to be emptied.
                self.state.store((before + CALL) & !STATE_MASK, SeqCst);
            }
            waiters.drain(|waiter| {
                waiter.data = Woken::All;
                wakers.push(waiter.waker.take());
            });
        }
        wakers.wake_all();
    }

    /// Where this `Notify` was made (its `Notify::new` call).
    pub fn made_at(&self) -> &'static Location<'static> {
        self.made_at
    }

    /// Under the lock: wake the first waiter, or store the permit if nobody waits.
    fn notify_one_locked(&self, waiters: &mut WaitList<Woken>, wakers: &mut WakeList) {
        let mut state = self.state.load(SeqCst);
        loop {
            if state & STATE_MASK == WAITING {
                let waiter = waiters
                    .pop_front()
                    .expect("Notify: WAITING with an empty waiter list");
                waiter.data = Woken::One;
                wakers.push(waiter.waker.take());
                if waiters.is_empty() {
                    // Nobody else moves the word out of WAITING: a store is enough.
                    self.state.store(state & !STATE_MASK, SeqCst);
                }
                return;
            }
            let new = (state & !STATE_MASK) | NOTIFIED;
            match self.state.compare_exchange(state, new, AcqRel, Acquire) {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
    }

    fn lock_waiters(&self) -> MutexGuard<'_, WaitList<Woken>> {
        // No code of the user runs under this lock; the list stays consistent on a panic.
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the stored permit, if there is one. Without the lock: only NOTIFIED → EMPTY.
    fn take_permit(&self, mut state: usize) -> bool {
        while state & STATE_MASK == NOTIFIED {
            match self
                .state
                .compare_exchange(state, state & !STATE_MASK, AcqRel, Acquire)
            {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
        false
    }
}

impl Default for Notify {
    #[track_caller]
    fn default() -> Notify {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let waiters = self.lock_waiters();
        let tasks: Vec<_> = waiters.iter().filter_map(|waiter| waiter.task).collect();
        f.debug_struct("Notify")
            .field("made_at", &format_args!("{}", self.made_at))
            .field(
                "permit",
                &(self.state.load(SeqCst) & STATE_MASK == NOTIFIED),
            )
            .field("waiters", &waiters.len())
            .field("waiting_tasks", &tasks)
            .finish()
    }
}

/// The future of [`Notify::notified`].
#[must_use = "a future does nothing unless awaited"]
pub struct Notified<'a> {
    notify: &'a Notify,
    /// The count of `notify_waiters` calls when this future was made.
    calls: usize,
    key: Option<Key>,
    done: bool,
}

impl Notified<'_> {
    /// The first poll: complete if notified since we were made or a permit is stored; else
    /// queue.
    fn arrive(&mut self, cx: &Context<'_>) -> Poll<()> {
        let notify = self.notify;
        let state = notify.state.load(SeqCst);
        if state / CALL != self.calls || notify.take_permit(state) {
            return Poll::Ready(());
        }
        // We are about to queue: clone the waker now, before the lock, for its clone may call
        // back into this Notify (and would wait on the lock forever). Not needed after all, it
        // is dropped after the lock too.
        let waker = cx.waker().clone();
        let mut waiters = notify.lock_waiters();
        let mut state = notify.state.load(SeqCst);
        loop {
            if state / CALL != self.calls || notify.take_permit(state) {
                drop(waiters);
                drop(waker);
                return Poll::Ready(());
            }
            if state & STATE_MASK == WAITING {
                break;
            }
            // EMPTY → WAITING; a permit stored meanwhile makes this fail, and is taken above.
            match notify
                .state
                .compare_exchange(state, state | WAITING, AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        self.key = Some(waiters.push_back(waker, Woken::Waiting));
        drop(waiters);
        self.waiting();
        Poll::Pending
    }

    /// The polled task waits on this `Notify`.
    #[inline]
    fn waiting(&self) {
        crate::context::waiting_on(crate::context::WaitOn::Notify {
            made_at: Some(self.notify.made_at),
        });
    }

    /// A queued waiter polls again: notified, or still waiting with this poll's waker stored
    /// (cloned outside the lock if it is a new one: `store_waker_and_unlock`).
    fn check(&mut self, cx: &Context<'_>) -> Poll<()> {
        let mut fresh = None;
        loop {
            let mut waiters = self.notify.lock_waiters();
            let key = self.key.as_ref().expect("a queued Notified has a key");
            if waiters.get(key).data != Woken::Waiting {
                let waiter = waiters.remove(self.key.take().expect("checked above"));
                drop(waiters);
                drop((waiter, fresh));
                return Poll::Ready(());
            }
            let waker = cx.waker();
            if store_waker_and_unlock(waiters, |w| &mut w.get_mut(key).waker, waker, &mut fresh) {
                self.waiting();
                return Poll::Pending;
            }
        }
    }
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        assert!(
            !this.done,
            "a Notified future was polled after it completed"
        );
        let poll = if this.key.is_some() {
            this.check(cx)
        } else {
            if !crate::context::spend_budget() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.arrive(cx)
        };
        this.done = poll.is_ready();
        poll
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let notify = self.notify;
        let mut wakers = WakeList::new();
        // Our slot, waker included: dropped once the lock is released.
        let waiter;
        {
            let mut waiters = notify.lock_waiters();
            let was_queued = waiters.is_queued(&key);
            waiter = waiters.remove(key);
            if was_queued && waiters.is_empty() {
                // We were the last in the queue: WAITING → EMPTY (only lock holders do this).
                let state = notify.state.load(SeqCst);
                notify.state.store(state & !STATE_MASK, SeqCst);
            }
            if waiter.data == Woken::One {
                // Chosen, but never to run: pass the notification on.
                notify.notify_one_locked(&mut waiters, &mut wakers);
            }
        }
        drop(waiter);
        wakers.wake_all();
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("made_at", &format_args!("{}", self.notify.made_at))
            .field("queued", &self.key.is_some())
            .finish()
    }
}
