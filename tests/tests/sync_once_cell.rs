//! `OnceCell`: the first caller initialises and the others wait for its value; `set` stores a
//! value only into an empty cell nobody initialises; an initialisation that fails, panics or
//! is dropped hands the turn to the next caller; a waiting caller dropped loses only its
//! place; the value is dropped once, with the cell.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use nbio::sync::{OnceCell, SetError};
use nbio_tests::{oneshot, watched, DropCounter, WakeCounter};

/// A `get_or_init` whose initialisation waits for `value` to be sent, counting its runs.
fn init_when_sent<'a>(
    cell: &'a OnceCell<u32>,
    runs: &'a AtomicUsize,
    value: nbio_tests::Receiver<u32>,
) -> Pin<Box<dyn Future<Output = &'a u32> + 'a>> {
    Box::pin(cell.get_or_init(move || async move {
        runs.fetch_add(1, SeqCst);
        value.await.expect("the test sends the value")
    }))
}

#[test]
fn the_first_caller_initialises_and_the_others_wait_for_its_value() {
    let cell = OnceCell::new();
    let runs = AtomicUsize::new(0);
    let (first_tx, first_rx) = oneshot();
    let (_second_tx, second_rx) = oneshot();
    let (a_wakes, b_wakes) = (WakeCounter::new(), WakeCounter::new());
    let mut a = init_when_sent(&cell, &runs, first_rx);
    let mut b = init_when_sent(&cell, &runs, second_rx);
    assert!(a_wakes.poll(a.as_mut()).is_pending(), "initialising");
    assert!(
        b_wakes.poll(b.as_mut()).is_pending(),
        "waiting for a's value"
    );
    assert_eq!(runs.load(SeqCst), 1, "b does not run its own init");
    first_tx.send(5);
    assert_eq!(a_wakes.poll(a.as_mut()), Poll::Ready(&5));
    assert_eq!(b_wakes.wakes(), 1, "the value woke the waiter");
    assert_eq!(b_wakes.poll(b.as_mut()), Poll::Ready(&5));
    assert_eq!(runs.load(SeqCst), 1);
    assert_eq!(cell.get(), Some(&5));
}

#[test]
fn a_caller_that_finds_the_value_runs_nothing() {
    let cell = OnceCell::new();
    cell.set(1).unwrap();
    let counter = WakeCounter::new();
    let init = cell.get_or_init(|| async { unreachable!("the cell is set") });
    assert_eq!(counter.poll(pin!(init)), Poll::Ready(&1));
}

#[test]
fn set_fills_only_an_empty_cell_that_nobody_initialises() {
    let cell = OnceCell::new();
    let runs = AtomicUsize::new(0);
    let (tx, rx) = oneshot();
    let counter = WakeCounter::new();
    let mut initialising = init_when_sent(&cell, &runs, rx);
    assert!(counter.poll(initialising.as_mut()).is_pending());
    assert_eq!(cell.set(1), Err(SetError::Initialising(1)));
    tx.send(2);
    assert_eq!(counter.poll(initialising.as_mut()), Poll::Ready(&2));
    assert_eq!(cell.set(3), Err(SetError::AlreadySet(3)));
    assert_eq!(cell.get(), Some(&2));
}

#[test]
fn a_turn_handed_to_a_waiter_holds_off_set_until_the_waiter_leaves() {
    let cell = OnceCell::new();
    let runs = AtomicUsize::new(0);
    let (_tx, rx) = oneshot();
    let (_tx2, rx2) = oneshot();
    let counter = WakeCounter::new();
    let mut initialising = init_when_sent(&cell, &runs, rx);
    let mut waiting = init_when_sent(&cell, &runs, rx2);
    assert!(counter.poll(initialising.as_mut()).is_pending());
    assert!(counter.poll(waiting.as_mut()).is_pending());
    drop(initialising); // the right goes to `waiting`, which is woken to initialise
    assert_eq!(counter.wakes(), 1);
    // Its init has not started, but the turn is its own: `set` is refused.
    assert_eq!(cell.set(9), Err(SetError::Initialising(9)));
    drop(waiting); // leaves without using its turn: the cell is free again
    cell.set(9).unwrap();
    assert_eq!(cell.get(), Some(&9));
}

#[test]
fn a_failed_init_leaves_the_cell_empty_and_the_next_waiter_tries() {
    let cell = OnceCell::new();
    let (fail_tx, fail_rx) = oneshot::<()>();
    let counter = WakeCounter::new();
    let mut failing = pin!(cell.get_or_try_init(|| async {
        fail_rx.await;
        Err::<u32, _>("refused")
    }));
    let mut next = pin!(cell.get_or_try_init(|| async { Ok::<_, &str>(7) }));
    assert!(counter.poll(failing.as_mut()).is_pending());
    assert!(counter.poll(next.as_mut()).is_pending());
    fail_tx.send(());
    assert_eq!(counter.poll(failing.as_mut()), Poll::Ready(Err("refused")));
    assert_eq!(cell.get(), None);
    assert!(
        counter.wakes() >= 1,
        "the next waiter was woken for its turn"
    );
    assert_eq!(counter.poll(next.as_mut()), Poll::Ready(Ok(&7)));
}

#[test]
fn a_get_or_init_dropped_while_initialising_lets_the_next_caller_initialise() {
    let cell = OnceCell::new();
    let runs = AtomicUsize::new(0);
    let init_dropped = DropCounter::new();
    let counter = WakeCounter::new();
    let mut first = Box::pin(cell.get_or_init(|| {
        let guard = init_dropped.guard();
        async move {
            let _held = guard;
            std::future::pending::<u32>().await
        }
    }));
    assert!(counter.poll(first.as_mut()).is_pending());
    let (tx, rx) = oneshot();
    let mut waiting = init_when_sent(&cell, &runs, rx);
    assert!(counter.poll(waiting.as_mut()).is_pending());
    drop(first); // a timeout gave up on the slow init
    assert_eq!(init_dropped.drops(), 1, "its init future was dropped");
    assert_eq!(counter.wakes(), 1, "the waiter was woken for its turn");
    assert!(
        counter.poll(waiting.as_mut()).is_pending(),
        "now initialising"
    );
    assert_eq!(runs.load(SeqCst), 1);
    tx.send(4);
    assert_eq!(counter.poll(waiting.as_mut()), Poll::Ready(&4));
    // And with nobody waiting, the next caller initialises.
    let other = OnceCell::new();
    {
        let mut slow = pin!(other.get_or_init(std::future::pending::<u8>));
        assert!(counter.poll(slow.as_mut()).is_pending());
    } // dropped with nobody waiting
    assert_eq!(
        counter.poll(pin!(other.get_or_init(|| async { 8 }))),
        Poll::Ready(&8)
    );
}

#[test]
fn a_waiting_get_or_init_dropped_gives_up_only_its_place() {
    let cell = OnceCell::new();
    let runs = AtomicUsize::new(0);
    let (fail_tx, fail_rx) = oneshot::<()>();
    let counter = WakeCounter::new();
    let mut initialising = pin!(cell.get_or_try_init(|| async {
        fail_rx.await;
        Err::<u32, ()>(())
    }));
    assert!(counter.poll(initialising.as_mut()).is_pending());
    let (_tx, rx) = oneshot();
    let mut quitter = init_when_sent(&cell, &runs, rx);
    assert!(counter.poll(quitter.as_mut()).is_pending());
    let (next_tx, next_rx) = oneshot();
    let mut next = init_when_sent(&cell, &runs, next_rx);
    assert!(counter.poll(next.as_mut()).is_pending());
    drop(quitter);
    fail_tx.send(());
    assert_eq!(counter.poll(initialising.as_mut()), Poll::Ready(Err(())));
    assert!(
        counter.poll(next.as_mut()).is_pending(),
        "next's turn: initialising"
    );
    assert_eq!(runs.load(SeqCst), 1, "the dropped waiter ran nothing");
    next_tx.send(6);
    assert_eq!(counter.poll(next.as_mut()), Poll::Ready(&6));
}

#[test]
fn a_panicking_init_hands_the_turn_on() {
    watched(|| {
        nbio::block_on(async {
            let cell = Arc::new(OnceCell::new());
            let panicked = nbio::spawn({
                let cell = Arc::clone(&cell);
                async move {
                    cell.get_or_init(|| async { panic!("the init failed") })
                        .await;
                }
            });
            assert!(panicked.await.is_err());
            assert_eq!(*cell.get_or_init(|| async { 3 }).await, 3);
        });
    });
}

#[test]
fn initialisers_on_many_threads_run_one_init() {
    watched(|| {
        const THREADS: usize = 8;
        let cell = Arc::new(OnceCell::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(std::sync::Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|n| {
                let (cell, runs, start) =
                    (Arc::clone(&cell), Arc::clone(&runs), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    *nbio::block_on(cell.get_or_init(|| async move {
                        runs.fetch_add(1, SeqCst);
                        // Long enough for the others to queue behind.
                        nbio::time::sleep(Duration::from_millis(20)).await;
                        n
                    }))
                })
            })
            .collect();
        let values: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(runs.load(SeqCst), 1);
        assert!(values.iter().all(|&v| v == values[0]), "{values:?}");
    });
}

#[test]
fn the_value_is_dropped_once_with_the_cell_and_a_refused_one_goes_back() {
    let drops = DropCounter::new();
    let cell = OnceCell::new();
    cell.set(drops.guard()).unwrap();
    let refused = cell.set(drops.guard()).unwrap_err().into_inner();
    assert_eq!(drops.drops(), 0, "the refused value came back, undropped");
    drop(refused);
    assert_eq!(drops.drops(), 1);
    drop(cell);
    assert_eq!(drops.drops(), 2, "the stored value went with the cell");
    let kept = OnceCell::new();
    kept.set(drops.guard()).unwrap();
    let value = kept.into_inner();
    assert_eq!(drops.drops(), 2, "into_inner hands the value out");
    drop(value);
    assert_eq!(drops.drops(), 3);
}

#[test]
fn a_once_cell_and_its_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let cell = OnceCell::<String>::new();
    send_sync(&cell);
    send(&cell.get_or_init(|| async { String::new() }));
    send(&cell.get_or_try_init(|| async { Ok::<_, ()>(String::new()) }));
}
