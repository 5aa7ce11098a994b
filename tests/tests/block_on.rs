//! `block_on` and `Runtime`: the loop that drives everything, run more than once, nested by
//! mistake, or unwound by a panic.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use nbio::time::sleep;
use nbio_tests::{oneshot, watched};

#[test]
fn block_on_returns_the_futures_output() {
    watched(|| {
        let output = nbio::block_on(async {
            sleep(Duration::from_micros(100)).await;
            "out"
        });
        assert_eq!(output, "out");
    });
}

#[test]
fn tasks_left_pending_by_one_block_on_go_on_at_the_next() {
    watched(|| {
        let runtime = nbio::Runtime::new().unwrap();
        let (tx, rx) = oneshot();
        let steps = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&steps);
        let handle = runtime.spawn(async move {
            seen.fetch_add(1, SeqCst);
            let value = rx.await;
            seen.fetch_add(1, SeqCst);
            value
        });
        runtime.block_on(nbio::yield_now());
        assert_eq!(steps.load(SeqCst), 1, "the task ran up to its wait");
        tx.send(5);
        // Nothing drives the runtime between the two calls; the next one picks the task up.
        assert_eq!(runtime.block_on(handle).unwrap(), Some(5));
        assert_eq!(steps.load(SeqCst), 2);
    });
}

#[test]
fn a_nested_block_on_panics_with_a_message_that_says_so_and_the_outer_one_runs_on() {
    watched(|| {
        let message = nbio::block_on(async {
            let nested = panic::catch_unwind(AssertUnwindSafe(|| nbio::block_on(async { 1 })));
            let payload = nested.expect_err("a nested block_on must panic");
            // The outer runtime still works.
            assert_eq!(nbio::spawn(async { 2 }).await.unwrap(), 2);
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap()
        });
        assert!(
            message.contains("already running"),
            "unclear message: {message}"
        );
    });
}

#[test]
fn a_panic_of_the_block_on_future_propagates_and_the_runtime_stays_usable() {
    watched(|| {
        let runtime = nbio::Runtime::new().unwrap();
        let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(async {
                nbio::yield_now().await;
                panic!("the main future gives up");
            })
        }));
        assert!(unwound.is_err(), "the panic must reach the caller");
        let answer = runtime.block_on(async {
            sleep(Duration::from_millis(1)).await;
            nbio::spawn(async { 42 }).await.unwrap()
        });
        assert_eq!(answer, 42);
        // And nbio::spawn knows there is no runtime any more on this thread.
        assert!(panic::catch_unwind(|| nbio::spawn(async {})).is_err());
    });
}
