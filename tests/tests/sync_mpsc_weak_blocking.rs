//! The rest of `nbio::sync::mpsc`, part two: senders that do not keep a channel open
//! (`WeakSender`), waiting for the receiver to go (`closed`), and plain threads on either end
//! (`blocking_send`, `blocking_recv`). Cases picked from tokio's own suites
//! (tests/sync_mpsc.rs, tests/sync_mpsc_weak.rs), in nbio's words.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use nbio::sync::mpsc::{self, SendError};
use nbio::Runtime;
use nbio_tests::{watched, WakeCounter};

// ---------------------------------------------------------------------------------------------
// WeakSender

#[test]
fn a_weak_sender_upgrades_while_a_sender_lives_and_never_after() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::channel(11);
        let weak = nbio::spawn(async move {
            let weak = tx.clone().downgrade();
            for n in 0..10 {
                tx.send(n).await.unwrap();
            }
            let upgraded = weak.upgrade().expect("a sender lives: tx");
            upgraded.send(20).await.unwrap();
            upgraded.downgrade()
        })
        .await
        .unwrap();
        let mut received = Vec::new();
        while let Some(n) = rx.recv().await {
            received.push(n);
        }
        assert_eq!(
            received.len(),
            11,
            "None came once the strong senders were gone"
        );
        assert_eq!(received.last(), Some(&20));
        assert!(weak.upgrade().is_none());
    });
}

#[test]
fn weak_and_strong_counts_follow_clones_downgrades_and_drops() {
    let (tx, _rx) = mpsc::channel::<u8>(1);
    let tx2 = tx.clone();
    let weak = tx.downgrade();
    let weak2 = weak.clone();
    assert_eq!((tx.strong_count(), tx.weak_count()), (2, 2));
    assert_eq!((weak.strong_count(), weak.weak_count()), (2, 2));
    drop(weak2);
    drop(tx2);
    assert_eq!((tx.strong_count(), tx.weak_count()), (1, 1));
    let upgraded = weak.upgrade().unwrap();
    assert!(upgraded.same_channel(&tx));
    assert_eq!(tx.strong_count(), 2);
    drop((tx, upgraded));
    assert_eq!((weak.strong_count(), weak.weak_count()), (0, 1));
    assert!(weak.upgrade().is_none());

    let (tx, _rx) = mpsc::unbounded_channel::<u8>();
    let weak = tx.downgrade();
    assert_eq!((tx.strong_count(), tx.weak_count()), (1, 1));
    assert!(weak.upgrade().unwrap().same_channel(&tx));
    drop(tx);
    assert!(weak.upgrade().is_none());
}

#[test]
fn an_unbounded_weak_sender_keeps_nothing_open() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let weak = tx.downgrade();
        weak.upgrade().unwrap().send(1).unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.recv().await, None);
        assert!(weak.upgrade().is_none());
    });
}

#[test]
fn the_receivers_none_waits_for_the_last_strong_sender_not_the_weak_ones() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        let weak = tx.downgrade();
        let counter = WakeCounter::new();
        let mut recv = pin!(rx.recv());
        assert!(counter.poll(recv.as_mut()).is_pending());
        drop(tx);
        assert_eq!(
            counter.wakes(),
            1,
            "the last strong sender woke the receiver"
        );
        assert_eq!(counter.poll(recv.as_mut()), Poll::Ready(None));
        drop(weak);
    });
}

// ---------------------------------------------------------------------------------------------
// closed()

#[test]
fn closed_completes_when_the_receiver_closes_or_goes() {
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    let counter = WakeCounter::new();
    let mut closed = pin!(tx.closed());
    assert!(counter.poll(closed.as_mut()).is_pending());
    rx.close();
    assert_eq!(counter.wakes(), 1);
    assert_eq!(counter.poll(closed.as_mut()), Poll::Ready(()));
    assert_eq!(
        counter.poll(pin!(tx.closed())),
        Poll::Ready(()),
        "at once when closed"
    );

    let (tx, rx) = mpsc::unbounded_channel::<u8>();
    let mut closed = pin!(tx.closed());
    assert!(counter.poll(closed.as_mut()).is_pending());
    drop(rx);
    assert_eq!(counter.wakes(), 2);
    assert_eq!(counter.poll(closed.as_mut()), Poll::Ready(()));
}

#[test]
fn a_dropped_closed_future_leaves_the_others_waiting() {
    nbio::block_on(async {
        let (tx, rx) = mpsc::channel::<u8>(1);
        let mut quitter = Box::pin(tx.closed());
        assert!(WakeCounter::new().poll(quitter.as_mut()).is_pending());
        let watcher = nbio::spawn({
            let tx = tx.clone();
            async move { tx.closed().await }
        });
        drop(quitter);
        nbio::yield_now().await;
        drop(rx);
        watcher.await.unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// blocking_send and blocking_recv

#[test]
fn a_plain_thread_sends_to_a_task_with_blocking_send() {
    watched(|| {
        let (tx, mut rx) = mpsc::channel(1);
        let producer = std::thread::spawn(move || {
            for n in 0..100 {
                tx.blocking_send(n).unwrap();
            }
        });
        let rt = Runtime::new().unwrap();
        let sum = rt.block_on(rt.spawn(async move {
            let mut sum = 0;
            while let Some(n) = rx.recv().await {
                sum += n;
            }
            sum
        }));
        assert_eq!(sum.unwrap(), 4950);
        producer.join().unwrap();
    });
}

#[test]
fn a_plain_thread_receives_from_a_task_with_blocking_recv() {
    watched(|| {
        let (tx, mut rx) = mpsc::channel(1);
        let (utx, mut urx) = mpsc::unbounded_channel();
        let consumer = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(n) = rx.blocking_recv() {
                got.push(n);
                utx.send(n * 10).unwrap();
            }
            got
        });
        let echoed = nbio::block_on(async move {
            for n in 0..50 {
                tx.send(n).await.unwrap();
            }
            drop(tx);
            let mut echoed = Vec::new();
            while let Some(n) = urx.recv().await {
                echoed.push(n);
            }
            echoed
        });
        assert_eq!(consumer.join().unwrap(), (0..50).collect::<Vec<_>>());
        assert_eq!(echoed, (0..50).map(|n| n * 10).collect::<Vec<_>>());
    });
}

#[test]
fn a_blocking_send_gives_the_message_back_when_the_receiver_is_gone() {
    let (tx, rx) = mpsc::channel(1);
    tx.blocking_send(1).unwrap();
    let dropper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        drop(rx);
    });
    assert_eq!(
        tx.blocking_send(2),
        Err(SendError(2)),
        "woken by the receiver going"
    );
    dropper.join().unwrap();
}

#[test]
fn blocking_works_in_a_spawn_blocking_job() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::channel(1);
        let job = nbio::spawn_blocking(move || rx.blocking_recv());
        tx.send(3).await.unwrap();
        assert_eq!(job.await.unwrap(), Some(3));
    });
}

/// The message of the panic `body` raises.
fn panic_message(body: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(body)).expect_err("it panics");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .expect("a message")
}

#[test]
fn blocking_calls_inside_a_runtime_panic_and_say_to_await_instead() {
    // Watched: without the check, the blocking_recv below would park the runtime's thread
    // on a message nobody sends.
    watched(|| {
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        let send = panic_message(|| nbio::block_on(async { drop(tx.blocking_send(1)) }));
        assert!(
            send.contains("Sender::blocking_send called inside an nbio runtime"),
            "{send}"
        );
        assert!(send.contains("use `send(..).await` instead"), "{send}");
        assert!(send.contains(file!()), "names the caller: {send}");
        let recv = panic_message(|| nbio::block_on(async { _ = rx.blocking_recv() }));
        assert!(recv.contains("use `recv().await` instead"), "{recv}");
        let (_utx, mut urx) = mpsc::unbounded_channel::<u8>();
        let recv = panic_message(|| nbio::block_on(async { _ = urx.blocking_recv() }));
        assert!(recv.contains("UnboundedReceiver::blocking_recv"), "{recv}");
        assert!(tx.try_send(1).is_ok(), "the channel is unharmed");
    });
}

#[test]
fn blocking_recv_in_a_task_on_a_worker_thread_panics_that_task() {
    watched(|| {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let (_tx, mut rx) = mpsc::channel::<u8>(1);
        let task = rt.spawn(async move { rx.blocking_recv() });
        let err = rt.block_on(task).expect_err("the task panicked");
        let message = err.into_panic();
        let message = message
            .downcast_ref::<String>()
            .expect("a formatted message");
        assert!(message.contains("inside an nbio runtime"), "{message}");
    });
}
