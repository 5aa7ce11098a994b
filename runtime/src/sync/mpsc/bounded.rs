//! The bounded channel: a sender waits while the queue is full.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::Stream;

use super::chan::{Chan, SendState};
use super::{SendError, TryRecvError, TrySendError};

/// Makes a channel that holds at most `capacity` messages; a sender that finds it full waits
/// for room.
///
/// # Panics
///
/// If `capacity` is 0: such a channel could never hold a message.
///
/// ```
/// nbio::block_on(async {
///     let (tx, mut rx) = nbio::sync::mpsc::channel(1);
///     tx.send(1).await.unwrap();
///     assert!(tx.try_send(2).is_err()); // full: back-pressure
///     assert_eq!(rx.recv().await, Some(1));
///     tx.try_send(2).unwrap(); // room again
/// });
/// ```
#[track_caller]
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "mpsc::channel(0): the capacity must be at least 1 (a channel of capacity 0 could never hold a message)"
    );
    let chan = Arc::new(Chan::new(capacity, Location::caller()));
    (
        Sender {
            chan: Arc::clone(&chan),
        },
        Receiver { chan },
    )
}

/// The sending half of a bounded channel. Clone it for more senders; the channel ends for the
/// receiver when the last one is dropped.
pub struct Sender<T> {
    pub(super) chan: Arc<Chan<T>>,
}

/// The receiving half of a bounded channel.
pub struct Receiver<T> {
    pub(super) chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `message`, waiting while the channel is full. Fails, giving the message back, if
    /// the receiver closed the channel or is gone.
    ///
    /// Cancel safety: dropping this future before it completes sends nothing: the message is
    /// dropped with the future and returned to no one, and the receiver never sees it. The
    /// future gives up its place in the line of waiting senders, and room the receiver had
    /// already made for it passes to the next waiting sender. A send that completed with `Ok`
    /// was sent: its message will be received (unless the receiver drops it unread).
    ///
    /// ```
    /// use futures_lite::future::poll_once;
    ///
    /// nbio::block_on(async {
    ///     let (tx, mut rx) = nbio::sync::mpsc::channel(1);
    ///     tx.send(1).await.unwrap();
    ///     let mut send = Box::pin(tx.send(2));
    ///     assert!(poll_once(&mut send).await.is_none()); // full: it waits
    ///     assert_eq!(rx.recv().await, Some(1)); // room for it…
    ///     drop(send); // …but it is dropped before it ran again: a select's losing branch
    ///     assert!(rx.try_recv().is_err()); // 2 was never sent
    ///     tx.try_send(3).unwrap(); // and the room is free again
    /// });
    /// ```
    ///
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let (tx, rx) = nbio::sync::mpsc::channel(4);
    ///     tx.send("hi").await.unwrap();
    ///     drop(rx);
    ///     assert_eq!(tx.send("anyone?").await.unwrap_err().0, "anyone?");
    /// });
    /// ```
    pub fn send(&self, message: T) -> SendFuture<'_, T> {
        SendFuture {
            chan: &self.chan,
            state: SendState::new(message),
        }
    }

    /// Sends `message` if there is room now, without waiting. Room kept for a waiting sender
    /// (the receiver made it, and woke that sender to fill it) is not room for this one.
    ///
    /// ```
    /// use nbio::sync::mpsc::{self, TrySendError};
    ///
    /// let (tx, _rx) = mpsc::channel(1);
    /// tx.try_send(1).unwrap();
    /// assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
    /// ```
    pub fn try_send(&self, message: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(message)
    }

    /// Whether the receiver closed the channel or is gone: sends would fail.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// How many messages could be sent now without waiting: the capacity less the messages
    /// queued, the slots [`Permit`](super::Permit)s hold and those kept for waiting senders.
    /// A snapshot: other senders and the receiver may change it at once.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let (tx, mut rx) = nbio::sync::mpsc::channel(3);
    ///     tx.send(1).await.unwrap();
    ///     let permit = tx.reserve().await.unwrap();
    ///     assert_eq!(tx.capacity(), 1); // one queued, one held by the permit
    ///     assert_eq!(tx.max_capacity(), 3);
    ///     drop(permit);
    ///     rx.recv().await;
    ///     assert_eq!(tx.capacity(), 3);
    /// });
    /// ```
    pub fn capacity(&self) -> usize {
        self.chan.free_slots()
    }

    /// The capacity the channel was made with: the most messages it holds.
    pub fn max_capacity(&self) -> usize {
        self.chan.max_capacity()
    }

    /// Whether `other` sends on the same channel as `self`.
    ///
    /// ```
    /// let (tx, _rx) = nbio::sync::mpsc::channel::<u8>(1);
    /// let (other, _other_rx) = nbio::sync::mpsc::channel::<u8>(1);
    /// assert!(tx.same_channel(&tx.clone()));
    /// assert!(!tx.same_channel(&other));
    /// ```
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }

    /// Where the channel was made (its `channel()` call).
    pub fn made_at(&self) -> &'static Location<'static> {
        self.chan.made_at()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.chan.sender_cloned();
        Sender {
            chan: Arc::clone(&self.chan),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.sender_dropped();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chan.describe("mpsc::Sender", f)
    }
}

/// The future of [`Sender::send`].
#[must_use = "a future does nothing unless awaited: the message is not sent"]
pub struct SendFuture<'a, T> {
    chan: &'a Chan<T>,
    state: SendState<T>,
}

// Nothing in it is pinned: the message is moved in and out by value.
impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.chan.poll_send(&mut this.state, cx)
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.state.parked.take() {
            self.chan.cancel_send(key);
        }
    }
}

impl<T> fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::SendFuture")
            .field("made_at", &format_args!("{}", self.chan.made_at()))
            .field("parked", &self.state.parked.is_some())
            .finish()
    }
}

impl<T> Receiver<T> {
    /// Waits for the next message; `None` once the channel is empty and every sender is gone
    /// (or it was closed).
    ///
    /// Cancel safety: dropping this future before it completes loses nothing: a message
    /// leaves the channel only when this future returns it. The dropped future's waker is
    /// forgotten.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let (tx, mut rx) = nbio::sync::mpsc::channel(2);
    ///     tx.send(1).await.unwrap();
    ///     drop(tx);
    ///     assert_eq!(rx.recv().await, Some(1)); // drains what was sent
    ///     assert_eq!(rx.recv().await, None); // then ends
    /// });
    /// ```
    pub fn recv(&mut self) -> RecvFuture<'_, T> {
        RecvFuture {
            chan: &self.chan,
            waiting: false,
        }
    }

    /// Polls for the next message, as [`recv`](Receiver::recv) does (its waker stays stored
    /// until a message comes or the receiver is dropped).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(cx)
    }

    /// Takes a message if one is queued, without waiting.
    ///
    /// ```
    /// use nbio::sync::mpsc::{self, TryRecvError};
    ///
    /// let (tx, mut rx) = mpsc::channel(1);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.try_send(7).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(7));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// How many messages are queued, ready to be received.
    ///
    /// ```
    /// let (tx, rx) = nbio::sync::mpsc::channel(4);
    /// assert!(rx.is_empty());
    /// tx.try_send(1).unwrap();
    /// tx.try_send(2).unwrap();
    /// assert_eq!(rx.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many messages could be sent now without waiting (see [`Sender::capacity`]).
    pub fn capacity(&self) -> usize {
        self.chan.free_slots()
    }

    /// The capacity the channel was made with.
    pub fn max_capacity(&self) -> usize {
        self.chan.max_capacity()
    }

    /// Whether no message will come beyond those queued: the receiver closed the channel, or
    /// every sender is gone. (Queued messages may still wait to be received, and after
    /// [`close`](Receiver::close), permits already held may still send.)
    pub fn is_closed(&self) -> bool {
        self.chan.receiver_sees_closed()
    }

    /// Closes the channel: sends fail from now on (waiting senders get their message back);
    /// messages already queued can still be received, and so can those of
    /// [`Permit`](super::Permit)s held before: `recv` waits for them before it says `None`.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let (tx, mut rx) = nbio::sync::mpsc::channel(2);
    ///     tx.send(1).await.unwrap();
    ///     rx.close();
    ///     assert!(tx.send(2).await.is_err());
    ///     assert_eq!(rx.recv().await, Some(1));
    ///     assert_eq!(rx.recv().await, None);
    /// });
    /// ```
    pub fn close(&mut self) {
        self.chan.close();
    }

    /// Where the channel was made (its `channel()` call).
    pub fn made_at(&self) -> &'static Location<'static> {
        self.chan.made_at()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.receiver_dropped();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chan.describe("mpsc::Receiver", f)
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "a future does nothing unless awaited"]
pub struct RecvFuture<'a, T> {
    chan: &'a Chan<T>,
    /// Whether our waker is stored in the channel (to forget it if we are dropped).
    waiting: bool,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let poll = this.chan.poll_recv(cx);
        this.waiting = poll.is_pending();
        poll
    }
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        if self.waiting {
            self.chan.forget_receiver();
        }
    }
}

impl<T> fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::RecvFuture")
            .field("made_at", &format_args!("{}", self.chan.made_at()))
            .field("waiting", &self.waiting)
            .finish()
    }
}
