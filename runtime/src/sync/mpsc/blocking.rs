//! Channels between tasks and plain threads: `blocking_send` and `blocking_recv`.
//!
//! A thread that is not a runtime's (a `std::thread`, a job of `spawn_blocking`, a callback
//! of a C library) sends to a task or receives from one by waiting on the channel with its
//! thread parked: each call runs the async form to completion on the calling thread, woken
//! by the channel's ordinary wakes. Called on a thread that runs an nbio runtime, it would
//! park the thread that is to run the very task it waits for, so it panics instead, saying
//! to `.await` the async form.

use std::future::Future;
use std::panic::Location;

use super::{Receiver, SendError, Sender, UnboundedReceiver};

/// Runs `future` on this thread, parked between polls; `call` names the method for the panic.
///
/// # Panics
///
/// On a thread that runs an nbio runtime's loop (inside `block_on`, or a worker of the
/// multi-thread runtime), naming the caller and the async form to use. A pool thread, or a
/// worker inside `block_in_place`, runs no loop: blocking there is what they are for.
#[track_caller]
fn block_here<F: Future>(call: &str, instead: &str, future: F) -> F::Output {
    if crate::context::looping() {
        panic!(
            "nbio::sync::mpsc::{call} called inside an nbio runtime, at {}: it would block the \
             thread that runs the tasks, the one that must send or receive for it; use \
             `{instead}.await` instead (blocking_* is for plain threads and spawn_blocking jobs)",
            Location::caller()
        );
    }
    futures_lite::future::block_on(future)
}

impl<T> Sender<T> {
    /// Sends `message` from a plain thread, parking it while the channel is full, as
    /// [`send`](Sender::send) waits. Fails, giving the message back, if the receiver closed
    /// the channel or is gone.
    ///
    /// # Panics
    ///
    /// Inside an nbio runtime (a task, or the future given to `block_on`): use `send().await`.
    ///
    /// ```
    /// let (tx, mut rx) = nbio::sync::mpsc::channel(1);
    /// let producer = std::thread::spawn(move || {
    ///     for n in 0..3 {
    ///         tx.blocking_send(n).unwrap();
    ///     }
    /// });
    /// nbio::block_on(async {
    ///     for n in 0..3 {
    ///         assert_eq!(rx.recv().await, Some(n));
    ///     }
    /// });
    /// producer.join().unwrap();
    /// ```
    #[track_caller]
    pub fn blocking_send(&self, message: T) -> Result<(), SendError<T>> {
        block_here("Sender::blocking_send", "send(..)", self.send(message))
    }
}

impl<T> Receiver<T> {
    /// Receives a message on a plain thread, parking it while none is queued, as
    /// [`recv`](Receiver::recv) waits; `None` once the channel ended.
    ///
    /// # Panics
    ///
    /// Inside an nbio runtime (a task, or the future given to `block_on`): use `recv().await`.
    ///
    /// ```
    /// let (tx, mut rx) = nbio::sync::mpsc::channel(1);
    /// let consumer = std::thread::spawn(move || rx.blocking_recv());
    /// nbio::block_on(async move { tx.send("hello").await.unwrap() });
    /// assert_eq!(consumer.join().unwrap(), Some("hello"));
    /// ```
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Option<T> {
        block_here("Receiver::blocking_recv", "recv()", self.recv())
    }
}

impl<T> UnboundedReceiver<T> {
    /// Receives a message on a plain thread, as [`Receiver::blocking_recv`].
    ///
    /// # Panics
    ///
    /// Inside an nbio runtime: use `recv().await`.
    #[track_caller]
    pub fn blocking_recv(&mut self) -> Option<T> {
        block_here("UnboundedReceiver::blocking_recv", "recv()", self.recv())
    }
}
