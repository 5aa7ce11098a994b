//! The answer to exercise 3 of the guide's chapter 6, "One `write_all`, end to end".
//!
//! The exercise: write a future that is `Pending` the first time it is polled and `Ready` the
//! second, and use it to let another task run between two writes. Which function of nbio is the
//! same thing?
//!
//! The answer: `YieldOnce` below. Before it returns `Pending` it wakes its own task, which
//! puts the task at the back of the run queue: every task already there runs first, then this
//! one is polled again and is `Ready`. That is `nbio::yield_now` (`runtime/src/executor/mod.rs`),
//! and the article's bare `yield`. Without the wake, nobody would ever poll it again: a future
//! that returns `Pending` must have left its waker somewhere.
//!
//! Run it with `cargo run -p nbio --example exercise_yield_by_hand`.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// `Pending` once, having woken its own task; `Ready` the next time.
struct YieldOnce {
    yielded: bool,
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref(); // back of the queue: the others go first
        Poll::Pending
    }
}

fn main() {
    let log = Rc::new(RefCell::new(Vec::new()));
    nbio::block_on(async {
        let writer = {
            let log = Rc::clone(&log);
            nbio::spawn_local(async move {
                log.borrow_mut().push("first write");
                YieldOnce { yielded: false }.await;
                log.borrow_mut().push("second write");
            })
        };
        let other = {
            let log = Rc::clone(&log);
            nbio::spawn_local(async move { log.borrow_mut().push("the other task") })
        };
        writer.await.unwrap();
        other.await.unwrap();
    });
    println!("{}", log.borrow().join(", then "));
    assert_eq!(
        *log.borrow(),
        ["first write", "the other task", "second write"]
    );
}
