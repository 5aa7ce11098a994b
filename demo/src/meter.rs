//! Counting waits for room per send, from the outside.
//!
//! The demo wants to say, per connection, how often the send to *this* server found the
//! socket's buffer full and had to wait for writability. A future that has to wait returns
//! `Pending` (nbio's `write_all` returns it exactly when the kernel's buffer is full, and only
//! then: it never yields for any other reason), so counting the `Pending`s of a `write_all` is
//! counting its waits. That holds whichever thread polls it, so it also works with
//! `--threads N`, where the senders run side by side on worker threads and a runtime-wide
//! counter such as [`nbio::Stats::would_block`] could not tell them apart.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll};

/// A future that adds one to `waits` each time the future it wraps returns `Pending`.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
/// use demo::meter::CountWaits;
///
/// nbio::block_on(async {
///     let waits = AtomicU64::new(0);
///     assert_eq!(CountWaits::new(async { 1 + 1 }, &waits).await, 2);
///     assert_eq!(waits.load(Relaxed), 0); // it never had to wait
///     CountWaits::new(nbio::yield_now(), &waits).await;
///     assert_eq!(waits.load(Relaxed), 1); // it waited once
/// });
/// ```
pub struct CountWaits<'a, F> {
    future: Pin<Box<F>>,
    waits: &'a AtomicU64,
}

impl<'a, F: Future> CountWaits<'a, F> {
    /// Wraps `future`; its waits are added to `waits` as they happen, so a display can show
    /// them live.
    pub fn new(future: F, waits: &'a AtomicU64) -> CountWaits<'a, F> {
        CountWaits {
            future: Box::pin(future),
            waits,
        }
    }
}

impl<F: Future> Future for CountWaits<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Boxing the inner future makes this wrapper `Unpin`, so no pin projection is needed.
        let this = self.get_mut();
        let poll = this.future.as_mut().poll(cx);
        if poll.is_pending() {
            this.waits.fetch_add(1, Relaxed);
        }
        poll
    }
}
