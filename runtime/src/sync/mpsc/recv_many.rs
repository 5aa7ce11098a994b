//! Taking messages in batches: [`Receiver::recv_many`].
//!
//! A consumer that does the same work for each message (writes them to a socket, to a file)
//! does it cheaper for many at once. `recv_many` takes every message that is ready, up to a
//! limit, in one critical section, and waits only when none is; each slot it frees goes to a
//! waiting sender as one freed by `recv` does.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::chan::Chan;
use super::{Receiver, UnboundedReceiver};

/// The receivers' batch methods; `$receiver` is the receiver type.
macro_rules! recv_many {
    ($receiver:ident) => {
        impl<T> $receiver<T> {
            /// Waits for messages and appends up to `limit` of them to `buffer`: all those
            /// ready, up to `limit`, or, if none is, the first to come (and any beside it).
            /// Returns how many; 0 only once the channel is empty and ended (as `recv`'s
            /// `None`), or at once if `limit` is 0.
            ///
            /// Cancel safety: dropping this future before it completes loses nothing:
            /// messages leave the channel only when this future appends them to `buffer`.
            pub fn recv_many<'a>(
                &'a mut self,
                buffer: &'a mut Vec<T>,
                limit: usize,
            ) -> RecvManyFuture<'a, T> {
                RecvManyFuture {
                    chan: &self.chan,
                    buffer,
                    limit,
                    waiting: false,
                }
            }

            /// Polls for up to `limit` messages, as [`recv_many`](Self::recv_many) does.
            pub fn poll_recv_many(
                &mut self,
                cx: &mut Context<'_>,
                buffer: &mut Vec<T>,
                limit: usize,
            ) -> Poll<usize> {
                self.chan.poll_recv_many(cx, buffer, limit)
            }
        }
    };
}

recv_many!(Receiver);
recv_many!(UnboundedReceiver);

/// The future of [`Receiver::recv_many`] and [`UnboundedReceiver::recv_many`].
///
/// ```
/// nbio::block_on(async {
///     let (tx, mut rx) = nbio::sync::mpsc::channel(8);
///     for n in 0..5 {
///         tx.send(n).await.unwrap();
///     }
///     let mut batch = Vec::new();
///     assert_eq!(rx.recv_many(&mut batch, 3).await, 3); // no more than the limit
///     assert_eq!(rx.recv_many(&mut batch, 3).await, 2); // what was left: no wait for more
///     assert_eq!(batch, [0, 1, 2, 3, 4]);
///     drop(tx);
///     assert_eq!(rx.recv_many(&mut batch, 3).await, 0); // ended
/// });
/// ```
#[must_use = "a future does nothing unless awaited"]
pub struct RecvManyFuture<'a, T> {
    chan: &'a Chan<T>,
    buffer: &'a mut Vec<T>,
    limit: usize,
    /// Whether our waker is stored in the channel (to forget it if we are dropped).
    waiting: bool,
}

impl<T> Future for RecvManyFuture<'_, T> {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let this = self.get_mut();
        let poll = this.chan.poll_recv_many(cx, this.buffer, this.limit);
        this.waiting = poll.is_pending();
        poll
    }
}

impl<T> Drop for RecvManyFuture<'_, T> {
    fn drop(&mut self) {
        if self.waiting {
            self.chan.forget_receiver();
        }
    }
}

impl<T> fmt::Debug for RecvManyFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::RecvManyFuture")
            .field("made_at", &format_args!("{}", self.chan.made_at()))
            .field("limit", &self.limit)
            .field("waiting", &self.waiting)
            .finish()
    }
}
