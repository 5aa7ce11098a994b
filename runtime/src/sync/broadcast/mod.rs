//! A channel of many senders and many receivers where every receiver gets every value:
//! [`channel`].
//!
//! An mpsc channel hands each message to one receiver; a broadcast channel hands a copy of
//! each value to every receiver subscribed when it was sent (hence `T: Clone`). The channel
//! keeps the last `capacity` values in a ring (`ring.rs` narrates how it works and wakes). A
//! receiver that falls further behind than that does not hold the senders back: the oldest
//! values are overwritten, and that receiver is told how many it missed.
//!
//! What it guarantees:
//! - every receiver gets the values in the order they were sent (the order their `send`
//!   calls took the channel's lock), from the first value sent after it subscribed;
//! - a receiver that fell more than `capacity` values behind gets [`RecvError::Lagged`]`(n)`
//!   once, `n` being exactly how many values it missed, then goes on from the oldest value
//!   still held;
//! - the channel stays open as long as one [`Sender`] lives. A `send` that finds no receiver
//!   fails with the value ([`SendError`]) and closes nothing: a receiver subscribed later
//!   gets what is sent after. Only when the last `Sender` is dropped do the receivers get
//!   [`RecvError::Closed`], after the values still held;
//! - no code of yours runs under the channel's locks: values are cloned (`T::clone`) and
//!   dropped (an overwritten value) after they are released, and so are wakers.
//!
//! A value is shared by the receivers while they copy it, so `Sender` and `Receiver` are
//! `Send` and `Sync` when `T` is `Send + Sync`.
//!
//! ```
//! use nbio::sync::broadcast;
//!
//! nbio::block_on(async {
//!     let (tx, mut first) = broadcast::channel(16);
//!     let mut second = tx.subscribe();
//!     let listener = nbio::spawn(async move {
//!         let mut heard = Vec::new();
//!         while let Ok(line) = second.recv().await {
//!             heard.push(line);
//!         }
//!         heard // Closed: every sender is gone
//!     });
//!     tx.send("hello").unwrap();
//!     tx.send("world").unwrap();
//!     assert_eq!(first.recv().await, Ok("hello"));
//!     drop(tx);
//!     assert_eq!(listener.await.unwrap(), ["hello", "world"]);
//!     assert_eq!(first.recv().await, Ok("world"));
//!     assert_eq!(first.recv().await, Err(broadcast::RecvError::Closed));
//! });
//! ```

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

mod ring;

use ring::{Look, Shared};

use super::waiters::{store_waker_and_unlock, Key};

/// Makes a broadcast channel that keeps the last `capacity` values for receivers that are
/// behind.
///
/// # Panics
///
/// If `capacity` is 0: such a channel could never hold a value.
///
/// ```
/// let (tx, mut rx) = nbio::sync::broadcast::channel(2);
/// tx.send(1).unwrap();
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
#[track_caller]
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "broadcast::channel(0): the capacity must be at least 1 (a channel of capacity 0 could never hold a value)"
    );
    let shared = Arc::new(Shared::new(capacity, Location::caller()));
    let receiver = Receiver {
        shared: Arc::clone(&shared),
        next: 0,
    };
    (Sender { shared }, receiver)
}

/// The sending half of a broadcast channel. Clone it for more senders; the channel is closed
/// for its receivers when the last one is dropped.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// A receiving half of a broadcast channel: it gets every value sent after it subscribed.
/// Make more with [`Sender::subscribe`] or [`Receiver::resubscribe`].
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    /// The position of the next value this receiver takes (see `ring.rs`).
    next: u64,
}

impl<T> Sender<T> {
    /// Sends `value` to every receiver subscribed now, and returns how many they are. Never
    /// waits: a receiver that is `capacity` values behind loses its oldest one (it will get
    /// [`RecvError::Lagged`]).
    ///
    /// With no receiver, fails with the value and stores nothing; the channel stays open, and
    /// a receiver subscribed later gets the values sent after it.
    ///
    /// ```
    /// let (tx, rx) = nbio::sync::broadcast::channel(4);
    /// assert_eq!(tx.send("one"), Ok(1));
    /// drop(rx);
    /// assert_eq!(tx.send("two").unwrap_err().0, "two"); // nobody listens: given back
    /// let mut rx = tx.subscribe(); // still open
    /// tx.send("three").unwrap();
    /// assert_eq!(rx.try_recv(), Ok("three"));
    /// ```
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        self.shared.send(value).map_err(SendError)
    }

    /// A new receiver, which gets the values sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        Receiver {
            next: self.shared.subscribe(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// How many receivers are subscribed now.
    pub fn receiver_count(&self) -> usize {
        self.shared.counts().1
    }

    /// How many values the channel holds that some receiver has yet to take (at most its
    /// capacity). It looks at every slot: a cost in `capacity`.
    ///
    /// ```
    /// let (tx, mut rx) = nbio::sync::broadcast::channel(4);
    /// let mut other = tx.subscribe();
    /// tx.send(1).unwrap();
    /// rx.try_recv().unwrap();
    /// assert_eq!(tx.len(), 1); // `other` has yet to take it
    /// other.try_recv().unwrap();
    /// assert!(tx.is_empty());
    /// ```
    pub fn len(&self) -> usize {
        self.shared.held()
    }

    /// Whether every receiver has taken every value held (see [`Sender::len`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where the channel was made (its `channel` call).
    pub fn made_at(&self) -> &'static Location<'static> {
        self.shared.made_at
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.shared.sender_cloned();
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.shared.sender_dropped();
    }
}

impl<T> Receiver<T> {
    /// How many values were sent that this receiver has yet to take; more than the capacity
    /// when it lagged (the next `recv` says [`RecvError::Lagged`]).
    pub fn len(&self) -> usize {
        (self.shared.tail_pos() - self.next) as usize
    }

    /// Whether this receiver has taken every value sent.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A new receiver of the same channel, which gets the values sent from now on (not those
    /// this one has yet to take).
    pub fn resubscribe(&self) -> Receiver<T> {
        Receiver {
            next: self.shared.subscribe(),
            shared: Arc::clone(&self.shared),
        }
    }

    /// Where the channel was made (its `channel` call).
    pub fn made_at(&self) -> &'static Location<'static> {
        self.shared.made_at
    }
}

impl<T: Clone> Receiver<T> {
    /// Waits for the next value. `Err(Lagged(n))` if this receiver missed `n` values that
    /// were overwritten (the next call gets the oldest value still held); `Err(Closed)` once
    /// every sender is gone and every value held was taken.
    ///
    /// Cancel safety: dropping this future before it completes loses no value: a value is
    /// taken only by the poll that returns it, so the next `recv` gets it.
    ///
    /// ```
    /// use nbio::sync::broadcast::{self, RecvError};
    ///
    /// nbio::block_on(async {
    ///     let (tx, mut rx) = broadcast::channel(2);
    ///     for n in 1..=3 {
    ///         tx.send(n).unwrap(); // 1 is overwritten by 3
    ///     }
    ///     assert_eq!(rx.recv().await, Err(RecvError::Lagged(1)));
    ///     assert_eq!(rx.recv().await, Ok(2));
    ///     assert_eq!(rx.recv().await, Ok(3));
    /// });
    /// ```
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv {
            shared: &self.shared,
            next: &mut self.next,
            key: None,
        }
    }

    /// Takes the next value if there is one, without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.shared.try_recv(&mut self.next)
    }
}

/// A copy has the same values to take as the receiver copied (unlike
/// [`resubscribe`](Receiver::resubscribe), which starts afresh).
impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Receiver<T> {
        self.shared.clone_receiver(self.next);
        Receiver {
            shared: Arc::clone(&self.shared),
            next: self.next,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.unsubscribe(self.next);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        describe(&self.shared, "broadcast::Sender", f)
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        describe(&self.shared, "broadcast::Receiver", f)
    }
}

fn describe<T>(shared: &Shared<T>, kind: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (senders, receivers, waiting) = shared.counts();
    f.debug_struct(kind)
        .field("made_at", &format_args!("{}", shared.made_at))
        .field("capacity", &shared.capacity())
        .field("senders", &senders)
        .field("receivers", &receivers)
        .field("receivers_waiting", &waiting)
        .finish()
}

/// The future of [`Receiver::recv`].
#[must_use = "a future does nothing unless awaited"]
pub struct Recv<'a, T> {
    shared: &'a Shared<T>,
    next: &'a mut u64,
    /// Our entry in the list of waiting receivers, while we wait.
    key: Option<Key>,
}

impl<T> Recv<'_, T> {
    /// The polled task waits on this channel: its dump line says so.
    fn waiting(&self) {
        crate::context::waiting_on(crate::context::WaitOn::Broadcast {
            made_at: Some(self.shared.made_at),
        });
    }

    /// Polled while on the waiting list: `true` if a sender (or the channel closing) took us
    /// off it, and we gave our entry back; `false` if not yet, with this poll's waker stored.
    fn woken(&mut self, waker: &Waker) -> bool {
        let mut fresh = None;
        loop {
            let mut tail = self.shared.lock_tail();
            let key = self.key.as_ref().expect("a waiting recv has a key");
            if !tail.waiting.is_queued(key) {
                let entry = tail.waiting.remove(self.key.take().expect("checked above"));
                drop(tail);
                drop((entry, fresh));
                return true;
            }
            if store_waker_and_unlock(
                tail,
                |t| &mut t.waiting.get_mut(key).waker,
                waker,
                &mut fresh,
            ) {
                return false;
            }
        }
    }
}

impl<T: Clone> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let this = self.get_mut();
        if this.key.is_some() && !this.woken(cx.waker()) {
            this.waiting();
            return Poll::Pending;
        }
        if !crate::context::spend_budget() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // A waker to store is cloned outside the lock: the first pass that finds nothing lets
        // go of it, clones, and looks again.
        let mut fresh = None;
        loop {
            let mut tail = match this.shared.look(this.next) {
                Look::Value(value) => return Poll::Ready(Ok(value)),
                Look::Lagged(missed) => return Poll::Ready(Err(RecvError::Lagged(missed))),
                Look::Nothing(tail) => tail,
            };
            if Shared::<T>::is_closed(&tail) {
                drop(tail);
                return Poll::Ready(Err(RecvError::Closed));
            }
            let Some(waker) = fresh.take() else {
                drop(tail);
                fresh = Some(cx.waker().clone());
                continue;
            };
            this.key = Some(Shared::<T>::wait(&mut tail, waker));
            drop(tail);
            this.waiting();
            return Poll::Pending;
        }
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        // Our entry, waker included, is dropped once the lock is released. Nothing to pass on:
        // a send wakes every waiting receiver.
        let entry = self.shared.lock_tail().waiting.remove(key);
        drop(entry);
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Recv")
            .field("made_at", &format_args!("{}", self.shared.made_at))
            .field("waiting", &self.key.is_some())
            .finish()
    }
}

/// The error of [`Sender::send`]: no receiver is subscribed. The value is inside, given back.
#[derive(Clone, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// The error of [`Receiver::recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// This receiver fell behind: this many values were overwritten before it took them. The
    /// next `recv` gets the oldest value still held.
    Lagged(u64),
    /// Every sender is gone, and this receiver took every value held.
    Closed,
}

/// The error of [`Receiver::try_recv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value now, but a sender lives.
    Empty,
    /// As [`RecvError::Lagged`].
    Lagged(u64),
    /// As [`RecvError::Closed`].
    Closed,
}

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

// By hand: a value need not be `Debug` for `unwrap()` to work.
impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no receiver is subscribed to the broadcast channel; the value was not sent and is in this error (the channel stays open)")
    }
}

impl<T> std::error::Error for SendError<T> {}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Lagged(n) => write!(
                f,
                "this receiver fell behind and missed {n} values; the next recv gets the oldest one still held"
            ),
            RecvError::Closed => f.write_str("every sender of the broadcast channel is gone"),
        }
    }
}

impl std::error::Error for RecvError {}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no value now; recv().await waits for one"),
            TryRecvError::Lagged(n) => fmt::Display::fmt(&RecvError::Lagged(*n), f),
            TryRecvError::Closed => fmt::Display::fmt(&RecvError::Closed, f),
        }
    }
}

impl std::error::Error for TryRecvError {}
