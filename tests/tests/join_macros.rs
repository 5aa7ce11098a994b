//! `nbio::join!` and `nbio::try_join!`: every future polled in the awaiting task, outputs in
//! the order written, nothing allocated; `try_join!` ends at the first `Err` and drops the
//! rest. Cases in the spirit of tokio's tests of its own `join!` and `try_join!`.

use std::cell::RefCell;
use std::future::{pending, ready, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use nbio::sync::oneshot;
use nbio::time::sleep;
use nbio_tests::DropCounter;

/// A future that notes each of its polls in `log` under `name`, and is ready at its `ready`-th.
fn logged(
    name: &'static str,
    ready: usize,
    log: Rc<RefCell<Vec<&'static str>>>,
) -> impl Future<Output = &'static str> {
    let mut polls = 0;
    std::future::poll_fn(move |cx| {
        log.borrow_mut().push(name);
        polls += 1;
        if polls >= ready {
            Poll::Ready(name)
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

#[test]
fn join_gives_every_output_in_the_order_written() {
    nbio::block_on(async {
        assert_eq!(nbio::join!(), ());
        assert_eq!(nbio::join!(ready(1)), (1,));
        let (a, b, c) = nbio::join!(
            async {
                sleep(Duration::from_millis(3)).await;
                "slow"
            },
            ready(2),
            async { 3.5 },
        );
        assert_eq!((a, b, c), ("slow", 2, 3.5));
    });
}

#[test]
fn join_polls_each_future_in_turn_and_a_finished_one_no_more() {
    let log = Rc::new(RefCell::new(Vec::new()));
    nbio::block_on(async {
        let out = nbio::join!(
            logged("a", 1, Rc::clone(&log)),
            logged("b", 3, Rc::clone(&log)),
            logged("c", 2, Rc::clone(&log)),
        );
        assert_eq!(out, ("a", "b", "c"));
    });
    assert_eq!(*log.borrow(), ["a", "b", "c", "b", "c", "b"]);
}

#[test]
fn join_runs_its_futures_concurrently() {
    nbio::block_on(async {
        let (tx, rx) = oneshot::channel();
        // The second waits for what the first sends: run one after the other, this would hang.
        let (sent, got) = nbio::join!(
            async move {
                sleep(Duration::from_millis(1)).await;
                tx.send(9).unwrap();
                "sent"
            },
            async move { rx.await.unwrap() },
        );
        assert_eq!((sent, got), ("sent", 9));
    });
}

#[test]
fn join_drops_a_future_as_soon_as_it_completes() {
    let drops = DropCounter::new();
    nbio::block_on(async {
        let guard = drops.guard();
        let (_, seen) = nbio::join!(async move { drop(guard) }, async {
            sleep(Duration::from_millis(2)).await;
            drops.drops()
        });
        assert_eq!(seen, 1);
    });
}

#[test]
fn join_takes_futures_by_mut_reference() {
    nbio::block_on(async {
        let mut a = pin!(async { 1 });
        let mut b = Box::pin(async { 2 });
        assert_eq!(nbio::join!(&mut a, &mut b), (1, 2));
    });
}

#[test]
fn join_of_many_futures() {
    nbio::block_on(async {
        let out = nbio::join!(
            ready(0),
            ready(1),
            ready(2),
            ready(3),
            ready(4),
            ready(5),
            ready(6),
            ready(7),
            ready(8),
            ready(9),
            ready(10),
            ready(11),
            ready(12),
            ready(13),
            ready(14),
            ready(15),
        );
        assert_eq!(out.15, 15);
        assert_eq!(out.0, 0);
    });
}

#[test]
fn join_waits_while_any_future_waits() {
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut joined = pin!(async { nbio::join!(ready(1), pending::<u8>()) });
    for _ in 0..3 {
        assert!(joined.as_mut().poll(&mut cx).is_pending());
    }
}

#[test]
fn try_join_gives_ok_of_every_value() {
    nbio::block_on(async {
        let none: Result<(), ()> = nbio::try_join!();
        assert_eq!(none, Ok(()));
        let out: Result<(u8, &str), String> = nbio::try_join!(
            async {
                sleep(Duration::from_millis(2)).await;
                Ok(1)
            },
            ready(Ok("two")),
        );
        assert_eq!(out, Ok((1, "two")));
    });
}

#[test]
fn try_join_ends_at_the_first_err_and_drops_the_others_at_once() {
    let drops = DropCounter::new();
    let log = Rc::new(RefCell::new(Vec::new()));
    nbio::block_on(async {
        let guard = drops.guard();
        let out: Result<((), &str, ()), &str> = nbio::try_join!(
            async move {
                let _guard = guard;
                pending::<Result<(), &str>>().await
            },
            async {
                let name = logged("slow", 100, Rc::clone(&log)).await;
                Ok(name)
            },
            async {
                nbio::yield_now().await;
                Err("failed")
            },
        );
        assert_eq!(out, Err("failed"));
        assert_eq!(drops.drops(), 1, "a pending future outlived the try_join");
    });
    assert_eq!(
        log.borrow().len(),
        2,
        "the others were polled after the Err"
    );
}

#[test]
fn try_join_with_an_err_from_the_first_poll() {
    nbio::block_on(async {
        let out: Result<(u8, u8), u8> = nbio::try_join!(ready(Ok(1)), ready(Err(2)));
        assert_eq!(out, Err(2));
    });
}

#[test]
fn a_join_dropped_before_it_completes_drops_the_outputs_it_held_and_the_futures_still_pending() {
    let drops = DropCounter::new();
    nbio::block_on(async {
        let done = drops.guard();
        let waiting = drops.guard();
        let mut join = pin!(async {
            nbio::join!(async move { done }, async move {
                let _held = waiting;
                pending::<()>().await
            })
        });
        // One poll: the first future completes (its output is kept inside the join), the second
        // waits.
        assert!(futures_lite::future::poll_once(join.as_mut())
            .await
            .is_none());
        assert_eq!(drops.drops(), 0, "the join holds the first output");
    });
    // The join was dropped with the block: the first output and the pending future with it.
    assert_eq!(
        drops.drops(),
        2,
        "what a dropped join! held is dropped, not leaked"
    );
}
