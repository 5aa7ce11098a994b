//! The answer to the exercise of the guide's chapter 10, "How a channel wakes a task".
//!
//! The exercise: write a oneshot channel (one value, from one sender to one receiver) with a
//! `std::sync::Mutex`, following the chapter's rule "store the waker, then look again", so that
//! it works across threads and runtimes. A sender dropped without sending must wake the
//! receiver with an error rather than leave it waiting forever; and no waker may be woken or
//! dropped while the lock is held (a waker is someone else's code).
//!
//! The answer is below: one lock around the value, the receiver's waker and whether the sender
//! is gone. The receiver stores its waker and looks at the state in one critical section, so a
//! send either comes before (the receiver sees the value) or after (the sender finds the
//! waker). Both sides take the waker out under the lock and wake it after. nbio's oneshot
//! (`runtime/src/sync/oneshot.rs`) does the same with one atomic word and no lock at all.
//!
//! Run it with `cargo run -p nbio --example exercise_oneshot`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

#[derive(Default)]
struct State<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
}

struct Sender<T>(Arc<Mutex<State<T>>>);
struct Receiver<T>(Arc<Mutex<State<T>>>);

/// What the receiver gets when the sender was dropped without sending.
#[derive(Debug, PartialEq)]
struct Dropped;

fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let state = Arc::new(Mutex::new(State {
        value: None,
        waker: None,
        sender_gone: false,
    }));
    (Sender(Arc::clone(&state)), Receiver(state))
}

impl<T> Sender<T> {
    fn send(self, value: T) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            state.value = Some(value);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake(); // after the lock: the waker may run anything
        }
        // `self` drops here; its Drop finds the value sent and wakes nobody twice.
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut state = self.0.lock().unwrap();
            state.sender_gone = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, Dropped>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Dropped>> {
        // Clone before the lock: a waker's clone is someone else's code too.
        let fresh = cx.waker().clone();
        let replaced = {
            let mut state = self.0.lock().unwrap();
            if let Some(value) = state.value.take() {
                return Poll::Ready(Ok(value));
            }
            if state.sender_gone {
                return Poll::Ready(Err(Dropped));
            }
            state.waker.replace(fresh) // stored and looked at in one critical section
        };
        drop(replaced); // an old waker is dropped after the lock, too
        Poll::Pending
    }
}

fn main() {
    // Sent from a plain thread to a task of nbio.
    let (tx, rx) = channel();
    let sender = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        tx.send("hello");
    });
    let got = nbio::block_on(async { nbio::spawn(rx).await.unwrap() });
    sender.join().unwrap();
    assert_eq!(got, Ok("hello"));

    // A sender dropped without sending wakes the receiver with an error.
    let (tx, rx) = channel::<u32>();
    let dropper = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        drop(tx);
    });
    let got = nbio::block_on(rx);
    dropper.join().unwrap();
    assert_eq!(got, Err(Dropped));

    // nbio's own oneshot, for comparison: the same promises.
    let (tx, rx) = nbio::sync::oneshot::channel::<u32>();
    drop(tx);
    assert!(nbio::block_on(rx).is_err());
    println!("sent across threads, and a dropped sender woke its receiver with an error");
}
