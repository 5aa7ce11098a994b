//! A sender waits for the receiver to stop listening: [`Sender::closed`].
//!
//! A producer that makes messages only on demand (a subscription, a stream of updates) can
//! wait for the receiver to close the channel or go, beside its other work, and stop then,
//! rather than learn it from a send that failed.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::chan::Chan;
use super::{Sender, UnboundedSender};
use crate::sync::waiters::Key;

impl<T> Sender<T> {
    /// Completes once the receiver closed the channel or is gone (at once if it already is).
    ///
    /// Cancel safety: dropping this future loses nothing; it only stops waiting.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let (tx, rx) = nbio::sync::mpsc::channel::<u8>(1);
    ///     let watcher = nbio::spawn(async move { tx.closed().await });
    ///     drop(rx);
    ///     watcher.await.unwrap(); // woken by the receiver going
    /// });
    /// ```
    pub fn closed(&self) -> ClosedFuture<'_, T> {
        ClosedFuture {
            chan: &self.chan,
            key: None,
        }
    }
}

impl<T> UnboundedSender<T> {
    /// Completes once the receiver closed the channel or is gone, as [`Sender::closed`].
    ///
    /// Cancel safety: dropping this future loses nothing; it only stops waiting.
    pub fn closed(&self) -> ClosedFuture<'_, T> {
        ClosedFuture {
            chan: &self.chan,
            key: None,
        }
    }
}

/// The future of [`Sender::closed`] and [`UnboundedSender::closed`].
#[must_use = "a future does nothing unless awaited"]
pub struct ClosedFuture<'a, T> {
    chan: &'a Chan<T>,
    /// Its entry among the waiters for the close, once it waits.
    key: Option<Key>,
}

impl<T> Unpin for ClosedFuture<'_, T> {}

impl<T> Future for ClosedFuture<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.chan.poll_closed(&mut this.key, cx)
    }
}

impl<T> Drop for ClosedFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.chan.cancel_closed(key);
        }
    }
}

impl<T> fmt::Debug for ClosedFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::ClosedFuture")
            .field("made_at", &format_args!("{}", self.chan.made_at()))
            .field("queued", &self.key.is_some())
            .finish()
    }
}
