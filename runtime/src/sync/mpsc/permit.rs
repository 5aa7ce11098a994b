//! Room first, message later: [`Sender::reserve`] waits for a slot of the queue and hands it
//! over as a [`Permit`], which sends without waiting and without failing.
//!
//! Reserving is what a sender does when the message is costly to make, or must not be lost:
//! with a permit in hand, the message is made and sent in one step that cannot find the
//! channel full or closed, so it is never made for nothing and never comes back in an error.
//! A reservation waits in the same line as the sends (first come, first in); a permit dropped
//! unused gives its slot back to the first sender in that line.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::chan::{Chan, SendState};
use super::{SendError, Sender, TrySendError};

impl<T> Sender<T> {
    /// Waits for a slot of the queue and holds it for a message to come: the [`Permit`] sends
    /// it without waiting. Waits in the same line as [`send`](Sender::send)s, first come,
    /// first served. Fails if the receiver closed the channel or is gone.
    ///
    /// Cancel safety: dropping this future before it completes reserves nothing: it gives up
    /// its place in the line, and a slot already kept for it passes to the next waiting
    /// sender (or is free again).
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let (tx, mut rx) = nbio::sync::mpsc::channel(1);
    ///     let permit = tx.reserve().await.unwrap(); // the one slot is ours
    ///     assert!(tx.try_send(1).is_err()); // no room for anyone else
    ///     permit.send(2); // cannot fail, does not wait
    ///     assert_eq!(rx.recv().await, Some(2));
    /// });
    /// ```
    pub fn reserve(&self) -> ReserveFuture<'_, T> {
        ReserveFuture {
            chan: &self.chan,
            state: SendState::new(()),
        }
    }

    /// Takes a slot now if one is free, without waiting. A slot kept for a waiting sender is
    /// not free.
    ///
    /// ```
    /// use nbio::sync::mpsc::{self, TrySendError};
    ///
    /// let (tx, rx) = mpsc::channel::<u8>(1);
    /// let permit = tx.try_reserve().unwrap();
    /// assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    /// drop(permit); // the slot is free again
    /// drop(rx);
    /// assert!(matches!(tx.try_reserve(), Err(TrySendError::Closed(()))));
    /// ```
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        self.chan.try_reserve()?;
        Ok(Permit { chan: &self.chan })
    }

    /// As [`reserve`](Sender::reserve), for a permit that owns its sender (to move into a
    /// task); [`OwnedPermit::send`] gives the sender back.
    ///
    /// Cancel safety: as `reserve`'s; the sender is dropped with the future.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let (tx, mut rx) = nbio::sync::mpsc::channel(1);
    ///     let permit = tx.reserve_owned().await.unwrap();
    ///     let tx = permit.send(5); // the sender comes back
    ///     assert_eq!(rx.recv().await, Some(5));
    ///     drop(tx);
    ///     assert_eq!(rx.recv().await, None);
    /// });
    /// ```
    pub fn reserve_owned(self) -> ReserveOwnedFuture<T> {
        ReserveOwnedFuture {
            sender: Some(self),
            state: SendState::new(()),
        }
    }

    /// As [`try_reserve`](Sender::try_reserve), for a permit that owns its sender; on failure
    /// the sender comes back in the error.
    pub fn try_reserve_owned(self) -> Result<OwnedPermit<T>, TrySendError<Sender<T>>> {
        match self.chan.try_reserve() {
            Ok(()) => Ok(OwnedPermit { sender: Some(self) }),
            Err(TrySendError::Full(())) => Err(TrySendError::Full(self)),
            Err(TrySendError::Closed(())) => Err(TrySendError::Closed(self)),
        }
    }
}

/// A slot of a bounded channel's queue, held for one message ([`Sender::reserve`]). Sending
/// through it neither waits nor fails; dropping it unused gives the slot to the first waiting
/// sender.
#[must_use = "a permit holds a slot of the channel until it sends or is dropped"]
pub struct Permit<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Permit<'_, T> {
    /// Sends `message` into the held slot and wakes the receiver. If the receiver closed the
    /// channel since, it still receives this message; if it is gone, the message is dropped.
    pub fn send(self, message: T) {
        let chan = self.chan;
        std::mem::forget(self); // the slot is used, not given back
        chan.permit_send(message);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.chan.permit_dropped();
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Permit")
            .field("made_at", &format_args!("{}", self.chan.made_at()))
            .finish()
    }
}

/// A [`Permit`] that owns its [`Sender`] ([`Sender::reserve_owned`]): no borrow to outlive,
/// so it can move into a task. Sending through it gives the sender back.
#[must_use = "a permit holds a slot of the channel until it sends or is dropped"]
pub struct OwnedPermit<T> {
    /// `None` only once the permit was used or released.
    sender: Option<Sender<T>>,
}

impl<T> OwnedPermit<T> {
    /// Sends `message` into the held slot (as [`Permit::send`]) and gives the sender back.
    pub fn send(mut self, message: T) -> Sender<T> {
        let sender = self
            .sender
            .take()
            .expect("an owned permit holds its sender");
        sender.chan.permit_send(message);
        sender
    }

    /// Gives the slot back unused (to the first waiting sender) and the sender with it.
    pub fn release(mut self) -> Sender<T> {
        let sender = self
            .sender
            .take()
            .expect("an owned permit holds its sender");
        sender.chan.permit_dropped();
        sender
    }
}

impl<T> Drop for OwnedPermit<T> {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            sender.chan.permit_dropped();
        }
    }
}

impl<T> fmt::Debug for OwnedPermit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("mpsc::OwnedPermit");
        if let Some(sender) = &self.sender {
            out.field("made_at", &format_args!("{}", sender.made_at()));
        }
        out.finish()
    }
}

/// The future of [`Sender::reserve`].
#[must_use = "a future does nothing unless awaited: no slot is reserved"]
pub struct ReserveFuture<'a, T> {
    chan: &'a Chan<T>,
    /// A send whose message is `()`: its place in the line while it waits.
    state: SendState<()>,
}

// Nothing in it is pinned.
impl<T> Unpin for ReserveFuture<'_, T> {}

impl<'a, T> Future for ReserveFuture<'a, T> {
    type Output = Result<Permit<'a, T>, SendError<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let chan = this.chan;
        chan.poll_reserve(&mut this.state, cx)
            .map_ok(|()| Permit { chan })
    }
}

impl<T> Drop for ReserveFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.state.parked.take() {
            self.chan.cancel_send(key);
        }
    }
}

impl<T> fmt::Debug for ReserveFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::ReserveFuture")
            .field("made_at", &format_args!("{}", self.chan.made_at()))
            .field("parked", &self.state.parked.is_some())
            .finish()
    }
}

/// The future of [`Sender::reserve_owned`].
#[must_use = "a future does nothing unless awaited: no slot is reserved"]
pub struct ReserveOwnedFuture<T> {
    /// `None` only once the future completed.
    sender: Option<Sender<T>>,
    state: SendState<()>,
}

impl<T> Unpin for ReserveOwnedFuture<T> {}

impl<T> Future for ReserveOwnedFuture<T> {
    type Output = Result<OwnedPermit<T>, SendError<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let sender = this
            .sender
            .as_ref()
            .expect("an mpsc reserve_owned future was polled after it completed");
        let reserved = std::task::ready!(sender.chan.poll_reserve(&mut this.state, cx));
        let sender = this.sender.take();
        // On failure the sender is dropped here, outside the channel's lock.
        Poll::Ready(reserved.map(|()| OwnedPermit { sender }))
    }
}

impl<T> Drop for ReserveOwnedFuture<T> {
    fn drop(&mut self) {
        if let (Some(key), Some(sender)) = (self.state.parked.take(), &self.sender) {
            sender.chan.cancel_send(key);
        }
    }
}

impl<T> fmt::Debug for ReserveOwnedFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::ReserveOwnedFuture")
            .field("parked", &self.state.parked.is_some())
            .finish()
    }
}
