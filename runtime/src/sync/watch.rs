//! A single value that senders replace and receivers watch: [`channel`].
//!
//! Where a broadcast channel delivers every value, a watch channel keeps only the latest: a
//! receiver that looks at it gets what it holds now, and [`Receiver::changed`] waits until it
//! holds something the receiver has not seen. Good for a configuration, a state ("shutting
//! down"), a progress figure: what matters is the current value, not each one on the way.
//!
//! # How it works
//!
//! The value sits behind a read-write lock; a word beside it holds a *version*, bumped by
//! every send while the value is locked for writing, and a bit saying every sender is gone.
//! Each receiver remembers the version it saw last. Waiting receivers wait on a [`Notify`]:
//!
//! 1. A sender replaces the value and bumps the version under the write lock, lets go, then
//!    calls `notify_waiters`.
//! 2. `changed` **first** makes its `Notified` future, **then** reads the version: a different
//!    one than it saw, and it is done; else it awaits the `Notified`. A `Notified` completes
//!    for any `notify_waiters` called after it was made, so a send that bumps the version
//!    after the read notifies it, and one before is seen by the read. The other order would
//!    lose a send landing between the read and the `Notified` being made.
//! 3. The last sender to go sets the closed bit, then calls `notify_waiters`: a receiver that
//!    has seen the latest value then gets `Err` from `changed`.
//!
//! # Whose code runs under which lock
//!
//! The lock of the value is yours as much as the channel's: a [`Ref`] from `borrow` holds it
//! for reading, and [`Sender::send_modify`]'s closure runs with it held for writing (so the
//! closure must not use this channel: its `borrow` or `send` would wait on itself). No nbio
//! lock is held meanwhile: receivers are woken after the value lock is released, a replaced
//! value is dropped after it, and wakers are cloned, woken and dropped outside `Notify`'s
//! lock. A closure that panics does not poison the channel: the panic goes on to the caller
//! of `send_modify`, the value stays as the closure left it, and the receivers are told it
//! changed (it may have).

use std::fmt;
use std::future::{poll_fn, Future};
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::pin;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, PoisonError};
use std::task::Poll;

#[cfg(nbio_loom)]
use ::loom::sync::{RwLock, RwLockReadGuard};
#[cfg(not(nbio_loom))]
use std::sync::{RwLock, RwLockReadGuard};

use super::notify::{Notified, Notify};
use crate::loom::AtomicUsize;

/// The closed bit of the state word; the version counts up in steps of `STEP` above it.
const CLOSED: usize = 1;
const STEP: usize = 2;

/// Makes a watch channel holding `initial`. The receiver has seen it: its `changed` waits
/// for the first send.
///
/// ```
/// nbio::block_on(async {
///     let (tx, mut rx) = nbio::sync::watch::channel("starting");
///     assert_eq!(*rx.borrow(), "starting");
///     tx.send("ready").unwrap();
///     rx.changed().await.unwrap();
///     assert_eq!(*rx.borrow_and_update(), "ready");
/// });
/// ```
#[track_caller]
pub fn channel<T>(initial: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(initial),
        state: AtomicUsize::new(0),
        senders: AtomicUsize::new(1),
        receivers: AtomicUsize::new(1),
        changed: Notify::new(),
        no_receivers: Notify::new(),
        made_at: Location::caller(),
    });
    let receiver = Receiver {
        shared: Arc::clone(&shared),
        seen: 0,
    };
    (Sender { shared }, receiver)
}

struct Shared<T> {
    value: RwLock<T>,
    /// `version * STEP | CLOSED`; the version is bumped under the value's write lock.
    state: AtomicUsize,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    /// Receivers waiting for a new version (or the closed bit).
    changed: Notify,
    /// `Sender::closed` waiting for the last receiver to go.
    no_receivers: Notify,
    made_at: &'static Location<'static>,
}

impl<T> Shared<T> {
    fn read(&self) -> RwLockReadGuard<'_, T> {
        // A writer that panicked left the value as it is (see the module doc): take it.
        self.value.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `modify` on the value under the write lock, and publishes the change unless it
    /// says there was none. The receivers are woken after the lock is released; a panic of
    /// `modify` is published too (the value may have changed), then goes on.
    fn modify(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let mut value = self.value.write().unwrap_or_else(PoisonError::into_inner);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| modify(&mut value)));
        let changed = !matches!(outcome, Ok(false));
        if changed {
            self.state.fetch_add(STEP, SeqCst);
        }
        // Released before anyone is woken, and without poisoning: we are not unwinding.
        drop(value);
        if changed {
            self.changed.notify_waiters();
        }
        match outcome {
            Ok(changed) => changed,
            Err(panic) => panic::resume_unwind(panic),
        }
    }

    /// Awaits `notified`, saying in the task's wait word that it waits on this channel.
    async fn wait(&self, notified: Notified<'_>) {
        let mut notified = pin!(notified);
        poll_fn(|cx| {
            let poll = notified.as_mut().poll(cx);
            if poll.is_pending() {
                crate::context::waiting_on(crate::context::WaitOn::Watch {
                    made_at: Some(self.made_at),
                });
            }
            poll
        })
        .await;
    }
}

/// A wait that completes at once spends one unit of the task's budget, as every nbio wait.
async fn spend_budget() {
    poll_fn(|cx| {
        if crate::context::spend_budget() {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// The sending half of a watch channel. Clone it for more senders; receivers see the channel
/// closed when the last one is dropped.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A receiving half of a watch channel: it looks at the value, and waits for it to change.
/// Clone it for more receivers (a clone has seen what this one has).
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The version this receiver saw last (`state & !CLOSED`); odd after `mark_changed`, so
    /// that it matches no version.
    seen: usize,
}

/// A look at the value of a watch channel, from `borrow`: it holds the value's lock for
/// reading, and **a sender waits while it lives**. Drop it soon, and never hold it across an
/// `.await` or while sending on the same channel (that send would wait on itself).
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
    has_changed: bool,
}

impl<T> Ref<'_, T> {
    /// Whether this value was new to the receiver that borrowed it (always `false` for a
    /// sender's `borrow`). After `borrow_and_update` it is marked seen all the same.
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> Sender<T> {
    /// Replaces the value and tells the receivers, if there is one; with none, fails with the
    /// value and stores nothing ([`send_replace`](Sender::send_replace) always stores). The
    /// value it replaces is dropped after the lock is released.
    ///
    /// ```
    /// let (tx, rx) = nbio::sync::watch::channel(0);
    /// tx.send(1).unwrap();
    /// drop(rx);
    /// assert_eq!(tx.send(2).unwrap_err().0, 2);
    /// assert_eq!(*tx.borrow(), 1);
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.shared.receivers.load(SeqCst) == 0 {
            return Err(SendError(value));
        }
        drop(self.send_replace(value));
        Ok(())
    }

    /// Replaces the value, receivers or not, tells them, and returns the old value.
    pub fn send_replace(&self, value: T) -> T {
        let mut value = Some(value);
        let mut old = None;
        self.shared.modify(|current| {
            old = Some(std::mem::replace(current, value.take().expect("once")));
            true
        });
        old.expect("the closure ran")
    }

    /// Changes the value in place, receivers or not, and tells them.
    ///
    /// `modify` runs with the value locked for writing: it must not use this channel (a
    /// `borrow` or `send` inside would wait on itself). If it panics, the panic goes on to
    /// the caller, the channel stays usable (not poisoned), the value is as `modify` left it,
    /// and the receivers are told it changed.
    ///
    /// ```
    /// let (tx, rx) = nbio::sync::watch::channel(vec![1]);
    /// tx.send_modify(|list| list.push(2));
    /// assert!(rx.has_changed().unwrap());
    /// assert_eq!(*rx.borrow(), [1, 2]);
    /// ```
    pub fn send_modify(&self, modify: impl FnOnce(&mut T)) {
        self.shared.modify(|value| {
            modify(value);
            true
        });
    }

    /// As [`send_modify`](Sender::send_modify), but `modify` says whether it changed
    /// anything; `false` tells nobody. Returns what `modify` said.
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        self.shared.modify(modify)
    }

    /// The value now. See [`Ref`]: a sender waits while it lives.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: self.shared.read(),
            has_changed: false,
        }
    }

    /// A new receiver, which has seen the value now.
    pub fn subscribe(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, SeqCst);
        Receiver {
            seen: self.shared.state.load(SeqCst) & !CLOSED,
            shared: Arc::clone(&self.shared),
        }
    }

    /// How many receivers there are now.
    pub fn receiver_count(&self) -> usize {
        self.shared.receivers.load(SeqCst)
    }

    /// Whether every receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Waits until every receiver is gone (at once if none is left).
    ///
    /// Cancel safety: nothing to lose; dropping it only stops the wait.
    pub async fn closed(&self) {
        loop {
            let notified = self.shared.no_receivers.notified();
            if self.shared.receivers.load(SeqCst) == 0 {
                return;
            }
            self.shared.wait(notified).await;
        }
    }

    /// Where the channel was made (its `channel` call).
    pub fn made_at(&self) -> &'static Location<'static> {
        self.shared.made_at
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.senders.fetch_add(1, SeqCst);
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, SeqCst) == 1 {
            self.shared.state.fetch_or(CLOSED, SeqCst);
            self.shared.changed.notify_waiters();
        }
    }
}

impl<T> Receiver<T> {
    /// The value now, without marking it seen. See [`Ref`]: a sender waits while it lives.
    pub fn borrow(&self) -> Ref<'_, T> {
        let guard = self.shared.read();
        let version = self.shared.state.load(SeqCst) & !CLOSED;
        Ref {
            guard,
            has_changed: version != self.seen,
        }
    }

    /// The value now, marked seen: `changed` waits for the next send.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = self.shared.read();
        // Stable while we hold the read lock: senders bump it under the write lock.
        let version = self.shared.state.load(SeqCst) & !CLOSED;
        let has_changed = version != self.seen;
        self.seen = version;
        Ref { guard, has_changed }
    }

    /// Whether the value changed since this receiver last marked it seen. `Err` once every
    /// sender is gone and the latest value was seen.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let state = self.shared.state.load(SeqCst);
        let changed = state & !CLOSED != self.seen;
        if !changed && state & CLOSED != 0 {
            return Err(RecvError(()));
        }
        Ok(changed)
    }

    /// Waits until the value changes from the one this receiver saw last, and marks the new
    /// one seen (`borrow` then shows it). `Err` once every sender is gone and the latest
    /// value was seen.
    ///
    /// Cancel safety: dropping this future before it completes loses nothing: the value is
    /// marked seen only by the poll that returns `Ok`, so the next `changed` sees the change.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let (tx, mut rx) = nbio::sync::watch::channel(1);
    ///     tx.send(2).unwrap();
    ///     drop(tx);
    ///     assert!(rx.changed().await.is_ok()); // 2 was not seen yet
    ///     assert!(rx.changed().await.is_err()); // nothing more will come
    /// });
    /// ```
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        spend_budget().await;
        loop {
            // Step 2 of the module doc: the `Notified` first, then the look.
            let notified = self.shared.changed.notified();
            let state = self.shared.state.load(SeqCst);
            if state & !CLOSED != self.seen {
                self.seen = state & !CLOSED;
                return Ok(());
            }
            if state & CLOSED != 0 {
                return Err(RecvError(()));
            }
            self.shared.wait(notified).await;
        }
    }

    /// Marks the value unseen: `changed` completes at once.
    pub fn mark_changed(&mut self) {
        self.seen = (self.shared.state.load(SeqCst) & !CLOSED) | 1;
    }

    /// Marks the value now seen, as `borrow_and_update` does, without looking at it.
    pub fn mark_unchanged(&mut self) {
        self.seen = self.shared.state.load(SeqCst) & !CLOSED;
    }

    /// Where the channel was made (its `channel` call).
    pub fn made_at(&self) -> &'static Location<'static> {
        self.shared.made_at
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.shared.receivers.fetch_add(1, SeqCst);
        Receiver {
            shared: Arc::clone(&self.shared),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.shared.receivers.fetch_sub(1, SeqCst) == 1 {
            self.shared.no_receivers.notify_waiters();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        describe(&self.shared, "watch::Sender", f)
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        describe(&self.shared, "watch::Receiver", f)
    }
}

fn describe<T>(shared: &Shared<T>, kind: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let state = shared.state.load(SeqCst);
    f.debug_struct(kind)
        .field("made_at", &format_args!("{}", shared.made_at))
        .field("version", &(state / STEP))
        .field("senders", &shared.senders.load(SeqCst))
        .field("receivers", &shared.receivers.load(SeqCst))
        .field("closed", &(state & CLOSED != 0))
        .finish()
}

/// The error of [`Sender::send`]: no receiver is left. The value is inside, not stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// The error of [`Receiver::changed`] and [`Receiver::has_changed`]: every sender is gone,
/// and the latest value was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvError(());

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

// By hand: a value need not be `Debug` for `unwrap()` to work.
impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("every receiver of the watch channel is gone; the value was not stored and is in this error (send_replace stores it anyway)")
    }
}

impl<T> std::error::Error for SendError<T> {}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("every sender of the watch channel is gone, and the latest value was seen")
    }
}

impl std::error::Error for RecvError {}
