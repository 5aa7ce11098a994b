//! Channels of many senders and one receiver: bounded ([`channel`]) and unbounded
//! ([`unbounded_channel`]).
//!
//! The article's generators never talk to each other; tasks do. A channel is a queue with a
//! wake protocol: a receiver that finds it empty sleeps until a sender puts something in, and
//! (bounded) a sender that finds it full sleeps until the receiver takes something out. That
//! is back-pressure: a producer faster than its consumer is slowed to its pace instead of
//! filling memory. `chan.rs` holds the protocol both kinds share, and the guide's chapter
//! "How a channel wakes a task" (`docs/10-channels.md`) narrates it.
//!
//! What every channel here guarantees:
//! - each message sent is received exactly once, and the messages of one sender arrive in the
//!   order it sent them;
//! - a bounded channel of capacity `cap` holds at most `cap` messages; senders that find it
//!   full wait in the order they came, and each message taken lets the first of them in;
//! - a message belongs to its `send` until that send completes: a send future dropped before
//!   it completed has sent nothing (the losing branch of a `select!` sent nothing), and the
//!   room that was made for it goes to the next waiting sender;
//! - `recv` returns `None` only when the channel is empty and will stay so: every sender is
//!   gone, or the receiver closed it;
//! - a send to a closed channel fails and gives the message back ([`SendError`]);
//! - a [`Permit`] ([`Sender::reserve`]) holds a slot until it sends, which neither waits nor
//!   fails, or is dropped, which gives the slot to the first waiting sender; reservations wait
//!   in the same line as sends;
//! - a [`WeakSender`] does not keep the channel open, and once the last [`Sender`] is gone it
//!   never upgrades again.
//!
//! Besides: [`Receiver::recv_many`] takes what is ready in batches, [`Receiver::len`] and
//! [`Sender::capacity`] say what the queue holds and what room is left, [`Sender::closed`]
//! waits for the receiver to go, and [`Sender::blocking_send`] and [`Receiver::blocking_recv`]
//! serve plain threads (inside a runtime they panic: `.await` the async form there).
//!
//! ```
//! use nbio::sync::mpsc;
//!
//! nbio::block_on(async {
//!     let (tx, mut rx) = mpsc::channel(8);
//!     for id in 0..3 {
//!         let tx = tx.clone();
//!         nbio::spawn(async move {
//!             for n in 0..10 {
//!                 tx.send((id, n)).await.unwrap();
//!             }
//!         });
//!     }
//!     drop(tx); // the receiver sees the end once the three senders are done
//!     let mut count = 0;
//!     while let Some((_id, _n)) = rx.recv().await {
//!         count += 1;
//!     }
//!     assert_eq!(count, 30);
//! });
//! ```

use std::fmt;

mod blocking;
mod bounded;
mod chan;
mod closed;
mod permit;
mod recv_many;
mod unbounded;
mod weak;

pub use bounded::{channel, Receiver, RecvFuture, SendFuture, Sender};
pub use closed::ClosedFuture;
pub use permit::{OwnedPermit, Permit, ReserveFuture, ReserveOwnedFuture};
pub use recv_many::RecvManyFuture;
pub use unbounded::{unbounded_channel, UnboundedReceiver, UnboundedRecvFuture, UnboundedSender};
pub use weak::{WeakSender, WeakUnboundedSender};

/// The error of a send to a closed channel (the receiver closed it or is gone); the message
/// is inside, given back.
///
/// ```
/// let (tx, rx) = nbio::sync::mpsc::unbounded_channel();
/// drop(rx);
/// let err = tx.send("lost?").unwrap_err();
/// assert_eq!(err.0, "lost?"); // not lost: given back
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// The error of [`Sender::try_send`]; either way the message is given back.
#[derive(Clone, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel holds as many messages as its capacity.
    Full(T),
    /// The receiver closed the channel or is gone.
    Closed(T),
}

/// The error of `try_recv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No message now, but senders remain.
    Empty,
    /// No message now, and none will come: every sender is gone, or the channel was closed.
    Disconnected,
}

impl<T> SendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> TrySendError<T> {
    /// The message that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(message) | TrySendError::Closed(message) => message,
        }
    }
}

// By hand: a message need not be `Debug` for `unwrap()` to work.
impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the channel is closed (its receiver closed it or is gone); the message was not sent and is in this error")
    }
}

impl<T> std::error::Error for SendError<T> {}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str(
                "the channel is full; send().await waits for room (the message is in this error)",
            ),
            TrySendError::Closed(_) => f.write_str(
                "the channel is closed (its receiver closed it or is gone); the message is in this error",
            ),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(err: SendError<T>) -> TrySendError<T> {
        TrySendError::Closed(err.0)
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no message now; recv().await waits for one"),
            TryRecvError::Disconnected => {
                f.write_str("no message now, and none will come: every sender is gone or the channel was closed")
            }
        }
    }
}

impl std::error::Error for TryRecvError {}
