//! Senders that do not keep a channel open: [`WeakSender`] and [`WeakUnboundedSender`].
//!
//! A task that may send, but must not be the reason a channel lives on (a registry of
//! subscribers, a worker that reports when someone still listens), holds a weak sender and
//! upgrades it for each send. The receiver's `None` comes when the last *strong* sender is
//! dropped, whatever weak ones remain; after that an upgrade fails, for good: the count of
//! senders goes up only from a number above zero (`Chan::try_upgrade`).

use std::fmt;
use std::sync::Arc;

use super::chan::Chan;
use super::{Sender, UnboundedSender};

/// A sender of a bounded channel that does not keep it open ([`Sender::downgrade`]);
/// [`upgrade`](WeakSender::upgrade) it to send.
pub struct WeakSender<T> {
    chan: Arc<Chan<T>>,
}

/// A sender of an unbounded channel that does not keep it open
/// ([`UnboundedSender::downgrade`]).
pub struct WeakUnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// A [`WeakSender`] of this channel: it does not count as a sender, so the receiver sees
    /// the end once the last `Sender` is dropped, weak ones or not.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let (tx, mut rx) = nbio::sync::mpsc::channel::<u8>(1);
    ///     let weak = tx.downgrade();
    ///     weak.upgrade().unwrap().send(1).await.unwrap(); // a sender while one lives
    ///     drop(tx);
    ///     assert_eq!(rx.recv().await, Some(1));
    ///     assert_eq!(rx.recv().await, None); // the weak one kept nothing open
    ///     assert!(weak.upgrade().is_none());
    /// });
    /// ```
    pub fn downgrade(&self) -> WeakSender<T> {
        self.chan.weak_cloned();
        WeakSender {
            chan: Arc::clone(&self.chan),
        }
    }

    /// How many `Sender`s of this channel live (this one among them).
    pub fn strong_count(&self) -> usize {
        self.chan.sender_count()
    }

    /// How many [`WeakSender`]s of this channel live.
    pub fn weak_count(&self) -> usize {
        self.chan.weak_count()
    }
}

impl<T> UnboundedSender<T> {
    /// A [`WeakUnboundedSender`] of this channel: it does not count as a sender.
    ///
    /// ```
    /// let (tx, mut rx) = nbio::sync::mpsc::unbounded_channel::<u8>();
    /// let weak = tx.downgrade();
    /// drop(tx);
    /// assert!(weak.upgrade().is_none());
    /// assert!(rx.try_recv().is_err()); // ended
    /// ```
    pub fn downgrade(&self) -> WeakUnboundedSender<T> {
        self.chan.weak_cloned();
        WeakUnboundedSender {
            chan: Arc::clone(&self.chan),
        }
    }

    /// How many `UnboundedSender`s of this channel live (this one among them).
    pub fn strong_count(&self) -> usize {
        self.chan.sender_count()
    }

    /// How many [`WeakUnboundedSender`]s of this channel live.
    pub fn weak_count(&self) -> usize {
        self.chan.weak_count()
    }
}

/// What both weak senders do; `$strong` is the sender they upgrade to.
macro_rules! weak_sender {
    ($weak:ident, $strong:ident, $name:literal) => {
        impl<T> $weak<T> {
            /// A sender of the channel, if one still lives: `None` once the last one was
            /// dropped, even if the receiver has not looked yet.
            pub fn upgrade(&self) -> Option<$strong<T>> {
                self.chan.try_upgrade().then(|| $strong {
                    chan: Arc::clone(&self.chan),
                })
            }

            /// How many strong senders of the channel live.
            pub fn strong_count(&self) -> usize {
                self.chan.sender_count()
            }

            /// How many weak senders of the channel live (this one among them).
            pub fn weak_count(&self) -> usize {
                self.chan.weak_count()
            }
        }

        impl<T> Clone for $weak<T> {
            fn clone(&self) -> $weak<T> {
                self.chan.weak_cloned();
                $weak {
                    chan: Arc::clone(&self.chan),
                }
            }
        }

        impl<T> Drop for $weak<T> {
            fn drop(&mut self) {
                self.chan.weak_dropped();
            }
        }

        impl<T> fmt::Debug for $weak<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct($name)
                    .field("made_at", &format_args!("{}", self.chan.made_at()))
                    .field("senders", &self.chan.sender_count())
                    .finish()
            }
        }
    };
}

weak_sender!(WeakSender, Sender, "mpsc::WeakSender");
weak_sender!(
    WeakUnboundedSender,
    UnboundedSender,
    "mpsc::WeakUnboundedSender"
);
