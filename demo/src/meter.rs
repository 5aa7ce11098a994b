//! Counting waits for readiness per task, from the outside.
//!
//! nbio counts every time a read or a write had to wait for readiness (it got `WouldBlock`, or a
//! write found the kernel's buffer full because it took less than it was offered), in
//! [`nbio::Stats::would_block`]. That counter covers the whole runtime, but the demo wants it
//! per connection: how often did the send to *this* server find the socket's buffer full?
//!
//! A runtime runs its tasks on one thread, one poll at a time, and a wait is counted inside the
//! poll of the task whose syscall met it. So the difference of the counter across one poll of a
//! task is exactly that task's share. [`CountWaits`] wraps a future and adds up those
//! differences.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// A future that counts, in `waits`, the waits for readiness that happen while it is polled.
///
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use demo::meter::CountWaits;
///
/// nbio::block_on(async {
///     let waits = Rc::new(Cell::new(0));
///     let quiet = CountWaits::new(async { 1 + 1 }, Rc::clone(&waits));
///     assert_eq!(nbio::spawn_local(quiet).await.unwrap(), 2);
///     assert_eq!(waits.get(), 0); // no socket, so nothing ever had to wait
/// });
/// ```
///
/// It must be polled inside an nbio runtime (it reads [`nbio::stats`]).
pub struct CountWaits<F> {
    future: Pin<Box<F>>,
    waits: Rc<Cell<u64>>,
}

impl<F: Future> CountWaits<F> {
    /// Wraps `future`; its waits are added to `waits` as they happen, so a display can show
    /// them live.
    pub fn new(future: F, waits: Rc<Cell<u64>>) -> CountWaits<F> {
        CountWaits {
            future: Box::pin(future),
            waits,
        }
    }
}

impl<F: Future> Future for CountWaits<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // Boxing the inner future makes this wrapper `Unpin`, so no pin projection is needed.
        let this = self.get_mut();
        let before = nbio::stats().would_block;
        let poll = this.future.as_mut().poll(cx);
        let after = nbio::stats().would_block;
        this.waits.set(this.waits.get() + (after - before));
        poll
    }
}
