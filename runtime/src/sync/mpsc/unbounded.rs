//! The unbounded channel: sending never waits, so it is a plain function.
//!
//! Nothing slows a producer down here: if the receiver falls behind, the queue grows. Use it
//! where the number of messages is bounded by something else (one per request, one per
//! event), or where the sender cannot wait (it is not async: a callback, a `Drop`).

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::Stream;

use super::chan::Chan;
use super::{SendError, TryRecvError, TrySendError};

/// Makes a channel with no limit on how many messages it holds.
///
/// ```
/// let (tx, mut rx) = nbio::sync::mpsc::unbounded_channel();
/// for n in 0..1000 {
///     tx.send(n).unwrap(); // never waits
/// }
/// drop(tx);
/// let total: u32 = nbio::block_on(async move {
///     let mut total = 0;
///     while let Some(n) = rx.recv().await {
///         total += n;
///     }
///     total
/// });
/// assert_eq!(total, 499_500);
/// ```
#[track_caller]
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Arc::new(Chan::new(usize::MAX, Location::caller()));
    (
        UnboundedSender {
            chan: Arc::clone(&chan),
        },
        UnboundedReceiver { chan },
    )
}

/// The sending half of an unbounded channel.
pub struct UnboundedSender<T> {
    pub(super) chan: Arc<Chan<T>>,
}

/// The receiving half of an unbounded channel.
pub struct UnboundedReceiver<T> {
    pub(super) chan: Arc<Chan<T>>,
}

impl<T> UnboundedSender<T> {
    /// Sends `message` at once. Fails, giving it back, if the receiver closed the channel or
    /// is gone.
    ///
    /// ```
    /// let (tx, rx) = nbio::sync::mpsc::unbounded_channel();
    /// tx.send(1).unwrap();
    /// drop(rx);
    /// assert_eq!(tx.send(2).unwrap_err().0, 2);
    /// ```
    pub fn send(&self, message: T) -> Result<(), SendError<T>> {
        self.chan.try_send(message).map_err(|err| match err {
            TrySendError::Closed(message) => SendError(message),
            TrySendError::Full(_) => unreachable!("an unbounded channel is never full"),
        })
    }

    /// Whether the receiver closed the channel or is gone: sends would fail.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Whether `other` sends on the same channel as `self`.
    pub fn same_channel(&self, other: &UnboundedSender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// Where the channel was made (its `unbounded_channel()` call).
    pub fn made_at(&self) -> &'static Location<'static> {
        self.chan.made_at()
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> UnboundedSender<T> {
        self.chan.sender_cloned();
        UnboundedSender {
            chan: Arc::clone(&self.chan),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.sender_dropped();
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chan.describe("mpsc::UnboundedSender", f)
    }
}

impl<T> UnboundedReceiver<T> {
    /// Waits for the next message; `None` once the channel is empty and every sender is gone
    /// (or it was closed).
    ///
    /// Cancel safety: dropping this future before it completes loses nothing: a message
    /// leaves the channel only when this future returns it.
    pub fn recv(&mut self) -> UnboundedRecvFuture<'_, T> {
        UnboundedRecvFuture {
            chan: &self.chan,
            waiting: false,
        }
    }

    /// Polls for the next message, as [`recv`](UnboundedReceiver::recv) does.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(cx)
    }

    /// Takes a message if one is queued, without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// How many messages are queued, ready to be received.
    ///
    /// ```
    /// let (tx, rx) = nbio::sync::mpsc::unbounded_channel();
    /// assert!(rx.is_empty());
    /// tx.send("a").unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether no message will come beyond those queued: the receiver closed the channel, or
    /// every sender is gone.
    pub fn is_closed(&self) -> bool {
        self.chan.receiver_sees_closed()
    }

    /// Closes the channel: sends fail from now on; queued messages can still be received.
    pub fn close(&mut self) {
        self.chan.close();
    }

    /// Where the channel was made (its `unbounded_channel()` call).
    pub fn made_at(&self) -> &'static Location<'static> {
        self.chan.made_at()
    }
}

impl<T> Drop for UnboundedReceiver<T> {
    fn drop(&mut self) {
        self.chan.receiver_dropped();
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chan.describe("mpsc::UnboundedReceiver", f)
    }
}

impl<T> Stream for UnboundedReceiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

/// The future of [`UnboundedReceiver::recv`].
#[must_use = "a future does nothing unless awaited"]
pub struct UnboundedRecvFuture<'a, T> {
    chan: &'a Chan<T>,
    waiting: bool,
}

impl<T> Future for UnboundedRecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let poll = this.chan.poll_recv(cx);
        this.waiting = poll.is_pending();
        poll
    }
}

impl<T> Drop for UnboundedRecvFuture<'_, T> {
    fn drop(&mut self) {
        if self.waiting {
            self.chan.forget_receiver();
        }
    }
}

impl<T> fmt::Debug for UnboundedRecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedRecvFuture")
            .field("made_at", &format_args!("{}", self.chan.made_at()))
            .field("waiting", &self.waiting)
            .finish()
    }
}
