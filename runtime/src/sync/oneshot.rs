//! A channel for exactly one value: [`channel`], [`Sender`], [`Receiver`].
//!
//! The smallest way for one task to hand a result to another: the sender puts the value in,
//! the receiver (itself a future) takes it out. The `JoinHandle` of a task is one of these in
//! spirit; this one can be made anywhere and sent anywhere.
//!
//! # How it works
//!
//! One heap block holds the value, one waker per side and a state word, and the state word is
//! also the reference count: each half holds a bit (`TX_REF`, `RX_REF`) and the half that
//! clears the last one frees the block. The other bits:
//!
//! | bit | set by | meaning |
//! |---|---|---|
//! | `COMPLETE` | sender | the sender is done: it sent (`VALUE` too) or was dropped |
//! | `VALUE` | sender | the value is in the block, for the receiver to take |
//! | `CLOSED` | receiver | the receiver closed or was dropped: sending fails from now on |
//! | `RX_WAKER` | receiver | the receiver's waker is stored: the sender wakes it on `COMPLETE` |
//! | `TX_WAKER` | sender | the sender's waker (of [`Sender::closed`]) is stored |
//!
//! The rule for each waker cell: its owner writes it only while its bit is clear; once the
//! bit is set the other side may read it. To replace its waker the owner clears the bit
//! first; if the other side finished meanwhile (the bit was cleared with `COMPLETE` or
//! `CLOSED` already set), the other side may be reading it, and the owner leaves it alone.
//!
//! This is the lost-wakeup protocol of every channel: the receiver *stores its waker, then
//! looks again* (setting `RX_WAKER` with a read-modify-write returns the state, `COMPLETE`
//! included); the sender *publishes the value, then looks* for a waker (setting `COMPLETE`
//! returns `RX_WAKER`). Whatever the interleaving, one of them sees the other.
//!
//! A sender that must wake the receiver keeps its reference until it has woken it, so the
//! block cannot be freed under the waker it is reading; in the common case (the value is sent
//! before the receiver waits) sending is one compare-and-swap that also drops the sender's
//! reference, and receiving is one load, after which the receiver alone owns the block.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::task::{Context, Poll, Waker};

use crate::loom::{AtomicUsize, UnsafeCell};

const TX_REF: usize = 1;
const RX_REF: usize = 1 << 1;
const COMPLETE: usize = 1 << 2;
const VALUE: usize = 1 << 3;
const CLOSED: usize = 1 << 4;
const RX_WAKER: usize = 1 << 5;
const TX_WAKER: usize = 1 << 6;

/// The block both halves point to.
struct Inner<T> {
    state: AtomicUsize,
    /// Written by the sender before `COMPLETE | VALUE`; taken by the receiver after.
    value: UnsafeCell<Option<T>>,
    rx_waker: UnsafeCell<Option<Waker>>,
    tx_waker: UnsafeCell<Option<Waker>>,
    made_at: &'static Location<'static>,
}

/// Makes a channel for one value.
///
/// ```
/// nbio::block_on(async {
///     let (tx, rx) = nbio::sync::oneshot::channel();
///     nbio::spawn(async move { tx.send(6 * 7).unwrap() });
///     assert_eq!(rx.await, Ok(42));
/// });
/// ```
#[track_caller]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Box::new(Inner {
        state: AtomicUsize::new(TX_REF | RX_REF),
        value: UnsafeCell::new(None),
        rx_waker: UnsafeCell::new(None),
        tx_waker: UnsafeCell::new(None),
        made_at: Location::caller(),
    });
    let inner = NonNull::from(Box::leak(inner));
    (
        Sender {
            inner,
            _owns: PhantomData,
        },
        Receiver {
            inner: Some(inner),
            _owns: PhantomData,
        },
    )
}

/// The sending half; [`send`](Sender::send) consumes it. Dropping it without sending makes
/// the receiver fail with [`RecvError`].
pub struct Sender<T> {
    inner: NonNull<Inner<T>>,
    _owns: PhantomData<Inner<T>>,
}

/// The receiving half, a future of the value: `Ok(value)`, or [`RecvError`] if the sender
/// was dropped without sending (or the value was taken already, by `try_recv`).
///
/// Cancel safety: dropping it before it completes drops the value if one was sent (its `send`
/// had succeeded); nothing else is lost.
#[must_use = "a future does nothing unless awaited"]
pub struct Receiver<T> {
    /// `None` once the value was taken: the block is freed then.
    inner: Option<NonNull<Inner<T>>>,
    _owns: PhantomData<Inner<T>>,
}

// The value lives in the heap block, never in the receiver itself: nothing is pinned.
impl<T> Unpin for Receiver<T> {}

// SAFETY: the halves reach the shared block only through the protocol of the module's
// documentation, which orders every access to the cells; the value moves between threads, so
// `T: Send` is needed and enough. No `&self` method of either half touches the cells.
unsafe impl<T: Send> Send for Sender<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Sender<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for Receiver<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Receiver<T> {}

/// The receiver's error: the sender was dropped without sending (or the receiver was closed
/// before a value came).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError(());

/// The error of [`Receiver::try_recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value yet; the sender is still there.
    Empty,
    /// No value will come: the sender is gone, the receiver was closed, or the value was
    /// taken already.
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the oneshot sender was dropped without sending a value")
    }
}

impl std::error::Error for RecvError {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no value has been sent yet"),
            TryRecvError::Closed => f.write_str("no value will come on this oneshot channel"),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// Frees the block.
///
/// # Safety
///
/// The caller cleared (or is the holder of) the last reference bit: no other half will touch
/// the block again.
unsafe fn free<T>(inner: NonNull<Inner<T>>) {
    // SAFETY: the block came from `Box::leak` in `channel`, and the caller is its last user.
    drop(unsafe { Box::from_raw(inner.as_ptr()) });
}

impl<T> Sender<T> {
    /// The sender's task waits for the receiver to go (`closed`).
    #[inline]
    fn waiting(inner: &Inner<T>) {
        let made_at = Some(inner.made_at);
        crate::context::waiting_on(crate::context::WaitOn::Oneshot { made_at });
    }

    fn inner(&self) -> &Inner<T> {
        // SAFETY: the sender holds `TX_REF` for as long as it exists: the block is alive.
        unsafe { self.inner.as_ref() }
    }

    /// Sends `value`, consuming the sender. Fails, giving the value back, if the receiver was
    /// dropped or closed.
    ///
    /// ```
    /// let (tx, rx) = nbio::sync::oneshot::channel();
    /// drop(rx);
    /// assert_eq!(tx.send("hello"), Err("hello"));
    /// ```
    pub fn send(self, value: T) -> Result<(), T> {
        let this = ManuallyDrop::new(self);
        let inner = this.inner();
        let mut state = inner.state.load(Acquire);
        if state & CLOSED != 0 {
            this.finish();
            return Err(value);
        }
        // SAFETY: before `COMPLETE` the value cell is the sender's alone.
        inner.value.with_mut(|cell| unsafe { *cell = Some(value) });
        loop {
            if state & CLOSED != 0 {
                // The receiver left while we wrote: take the value back; it was never
                // published, so the cell is still ours.
                // SAFETY: `VALUE` was not set; the receiver never reads the cell without it.
                let value = inner.value.with_mut(|cell| unsafe { (*cell).take() });
                this.finish();
                return Err(value.expect("the value written above"));
            }
            // Must we wake the receiver? Then keep our reference until it is woken.
            let wake = state & RX_WAKER != 0;
            let mut new = state | COMPLETE | VALUE;
            if !wake {
                new &= !TX_REF;
            }
            match inner
                .state
                .compare_exchange_weak(state, new, AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        if state & RX_WAKER != 0 {
            this.wake_receiver_and_leave();
        }
        Ok(())
    }

    /// Whether the receiver was dropped or closed: a `send` would fail.
    ///
    /// ```
    /// let (tx, rx) = nbio::sync::oneshot::channel::<()>();
    /// assert!(!tx.is_closed());
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.inner().state.load(Acquire) & CLOSED != 0
    }

    /// Waits until the receiver is dropped or closed: for a sender whose work is no longer
    /// wanted (a request whose client went away).
    ///
    /// Cancel safety: dropping this future before it completes loses nothing: the sender can
    /// still send, or wait again.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let (mut tx, rx) = nbio::sync::oneshot::channel::<u32>();
    ///     nbio::spawn(async move { drop(rx) });
    ///     tx.closed().await;
    ///     assert!(tx.send(1).is_err());
    /// });
    /// ```
    pub fn closed(&mut self) -> Closed<'_, T> {
        Closed { sender: self }
    }

    /// Polls for the receiver to be gone, as [`closed`](Sender::closed) does.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let inner = self.inner();
        let state = inner.state.load(Acquire);
        if state & CLOSED != 0 {
            return Poll::Ready(());
        }
        if state & TX_WAKER != 0 {
            // SAFETY: `TX_WAKER` is set, so the receiver may read the cell, and so may we.
            let same = inner
                .tx_waker
                .with(|cell| unsafe { (*cell).as_ref() }.is_some_and(|w| w.will_wake(cx.waker())));
            if same {
                Self::waiting(inner);
                return Poll::Pending;
            }
            // Take the cell back before writing it.
            if inner.state.fetch_and(!TX_WAKER, AcqRel) & CLOSED != 0 {
                return Poll::Ready(()); // the receiver may be reading it: leave it alone
            }
        }
        // SAFETY: `TX_WAKER` is clear: the cell is ours.
        inner
            .tx_waker
            .with_mut(|cell| unsafe { *cell = Some(cx.waker().clone()) });
        if inner.state.fetch_or(TX_WAKER, AcqRel) & CLOSED != 0 {
            return Poll::Ready(());
        }
        Self::waiting(inner);
        Poll::Pending
    }

    /// Where the channel was made (its `channel()` call).
    pub fn made_at(&self) -> &'static Location<'static> {
        self.inner().made_at
    }

    /// The sender is done without a value (dropped, or its send refused): set `COMPLETE` and
    /// let go of the block.
    fn finish(&self) {
        let inner = self.inner();
        let mut state = inner.state.load(Acquire);
        loop {
            // A receiver that is waiting (and not closed) must learn that nothing will come.
            let wake = state & RX_WAKER != 0 && state & CLOSED == 0;
            let mut new = state | COMPLETE;
            if !wake {
                new &= !TX_REF;
            }
            match inner
                .state
                .compare_exchange_weak(state, new, AcqRel, Acquire)
            {
                Ok(_) if wake => return self.wake_receiver_and_leave(),
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        if state & RX_REF == 0 {
            // SAFETY: we just cleared TX_REF and RX_REF was clear: we were the last.
            unsafe { free(self.inner) };
        }
    }

    /// `COMPLETE` is set and we still hold `TX_REF`: wake the stored receiver waker, then
    /// let go.
    fn wake_receiver_and_leave(&self) {
        let inner = self.inner();
        // SAFETY: `RX_WAKER` was set when we set `COMPLETE`; from then on the receiver does
        // not write the cell (it sees `COMPLETE` when it tries to take it back).
        // Woken in place, not cloned: the cell cannot change or be freed while we hold
        // TX_REF, even if the wake runs the receiver's poll on this very thread.
        inner.rx_waker.with(|cell| {
            // SAFETY: as above; the reference lives only for the wake.
            if let Some(waker) = unsafe { &*cell } {
                crate::loom::wake_by_ref_guarded(waker);
            }
        });
        if inner.state.fetch_and(!TX_REF, AcqRel) & RX_REF == 0 {
            // SAFETY: we cleared the last reference bit.
            unsafe { free(self.inner) };
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.finish();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender")
            .field("made_at", &format_args!("{}", self.made_at()))
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it has come, without waiting.
    ///
    /// ```
    /// use nbio::sync::oneshot::{self, TryRecvError};
    ///
    /// let (tx, mut rx) = oneshot::channel();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed)); // taken
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(inner) = self.inner else {
            return Err(TryRecvError::Closed);
        };
        // SAFETY: we hold `RX_REF`: the block is alive.
        let state = unsafe { inner.as_ref() }.state.load(Acquire);
        if state & COMPLETE != 0 {
            return match self.take(state) {
                Some(value) => Ok(value),
                None => Err(TryRecvError::Closed),
            };
        }
        if state & CLOSED != 0 {
            return Err(TryRecvError::Closed);
        }
        Err(TryRecvError::Empty)
    }

    /// Refuses any value from now on: the sender's `send` fails and its `closed()` completes.
    /// A value sent before is still there for [`try_recv`](Receiver::try_recv) or `.await`.
    ///
    /// ```
    /// let (tx, mut rx) = nbio::sync::oneshot::channel();
    /// rx.close();
    /// assert_eq!(tx.send(1), Err(1));
    /// ```
    pub fn close(&mut self) {
        if let Some(inner) = self.inner {
            // SAFETY: we hold `RX_REF`: the block is alive.
            let before = unsafe { inner.as_ref() }.state.fetch_or(CLOSED, AcqRel);
            if before & TX_WAKER != 0 && before & CLOSED == 0 && before & COMPLETE == 0 {
                self.wake_sender(inner);
            }
        }
    }

    /// Where the channel was made (its `channel()` call), while the value is not taken.
    pub fn made_at(&self) -> Option<&'static Location<'static>> {
        // SAFETY: we hold `RX_REF`: the block is alive.
        self.inner.map(|inner| unsafe { inner.as_ref() }.made_at)
    }

    /// The sender is done: take the value if it sent one, and let go of the block.
    fn take(&mut self, state: usize) -> Option<T> {
        let inner = self.inner.take().expect("called with the block");
        // SAFETY: `COMPLETE` was read with Acquire: the sender's write of the value is visible,
        // and the sender never touches the cell after setting `COMPLETE`.
        let value = unsafe { inner.as_ref() }
            .value
            .with_mut(|cell| unsafe { (*cell).take() });
        debug_assert_eq!(value.is_some(), state & VALUE != 0);
        if state & TX_REF == 0 {
            // SAFETY: TX_REF is never set again once clear; we hold the only reference.
            unsafe { free(inner) };
        } else {
            // The sender is still waking us: the last of the two frees the block.
            // SAFETY: we hold `RX_REF` until this operation.
            let before = unsafe { inner.as_ref() }.state.fetch_and(!RX_REF, AcqRel);
            if before & TX_REF == 0 {
                // SAFETY: we cleared the last reference bit.
                unsafe { free(inner) };
            }
        }
        value
    }

    /// Wakes the sender's `closed()` waker.
    fn wake_sender(&self, inner: NonNull<Inner<T>>) {
        // SAFETY: `TX_WAKER` was set when we set `CLOSED`; the sender does not write the cell
        // after that (it sees `CLOSED` when it tries to take it back), and we still hold
        // `RX_REF`, so the block is alive.
        unsafe { inner.as_ref() }.tx_waker.with(|cell| {
            // SAFETY: as above: the cell is only read from here on, and stays allocated.
            if let Some(waker) = unsafe { &*cell } {
                crate::loom::wake_by_ref_guarded(waker);
            }
        });
    }

    /// Stores the receiver's waker so the sender wakes it; `Err(state)` with the state if the
    /// sender completed meanwhile (and then the waker cell is left alone).
    fn register(&self, inner: &Inner<T>, state: usize, waker: &Waker) -> Result<(), usize> {
        if state & RX_WAKER != 0 {
            // SAFETY: `RX_WAKER` is set: the sender may read the cell, and so may we.
            let same = inner
                .rx_waker
                .with(|cell| unsafe { (*cell).as_ref() }.is_some_and(|w| w.will_wake(waker)));
            if same {
                return Ok(());
            }
            let before = inner.state.fetch_and(!RX_WAKER, AcqRel);
            if before & COMPLETE != 0 {
                return Err(before);
            }
        }
        // SAFETY: `RX_WAKER` is clear: the cell is ours.
        inner
            .rx_waker
            .with_mut(|cell| unsafe { *cell = Some(waker.clone()) });
        // Store the waker, then look again: a sender that completed meanwhile did not see it.
        let before = inner.state.fetch_or(RX_WAKER, AcqRel);
        if before & COMPLETE != 0 {
            return Err(before);
        }
        Ok(())
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(inner) = this.inner else {
            // The value was taken already (by an earlier poll or `try_recv`): none will come.
            return Poll::Ready(Err(RecvError(())));
        };
        // SAFETY: we hold `RX_REF`: the block is alive.
        let shared = unsafe { inner.as_ref() };
        let mut state = shared.state.load(Acquire);
        if state & COMPLETE == 0 {
            if state & CLOSED != 0 {
                return Poll::Ready(Err(RecvError(())));
            }
            match this.register(shared, state, cx.waker()) {
                Ok(()) => {
                    let made_at = Some(shared.made_at);
                    crate::context::waiting_on(crate::context::WaitOn::Oneshot { made_at });
                    return Poll::Pending;
                }
                Err(now) => state = now,
            }
        }
        Poll::Ready(this.take(state).ok_or(RecvError(())))
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        // SAFETY: we hold `RX_REF`: the block is alive until we let go below.
        let shared = unsafe { inner.as_ref() };
        let mut state = shared.state.load(Acquire);
        loop {
            // A sender waiting in `closed()` must be woken: keep our reference until it is.
            let wake = state & TX_WAKER != 0 && state & (CLOSED | COMPLETE) == 0;
            let mut new = state | CLOSED;
            if !wake {
                new &= !RX_REF;
            }
            match shared
                .state
                .compare_exchange_weak(state, new, AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        let wake = state & TX_WAKER != 0 && state & (CLOSED | COMPLETE) == 0;
        if wake {
            self.wake_sender(inner);
            state = shared.state.fetch_and(!RX_REF, AcqRel);
        }
        if state & TX_REF == 0 {
            // SAFETY: we cleared RX_REF and TX_REF was clear: we were the last. A value sent
            // and never taken is dropped with the block.
            unsafe { free(inner) };
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("oneshot::Receiver");
        match self.made_at() {
            Some(at) => out.field("made_at", &format_args!("{at}")),
            None => out.field("taken", &true),
        };
        out.finish()
    }
}

/// The future of [`Sender::closed`].
#[must_use = "a future does nothing unless awaited"]
pub struct Closed<'a, T> {
    sender: &'a mut Sender<T>,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().sender.poll_closed(cx)
    }
}

impl<T> fmt::Debug for Closed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Closed").finish_non_exhaustive()
    }
}
