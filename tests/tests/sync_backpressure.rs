//! A bounded channel holds exactly its capacity: a sender that finds it full waits (it does not
//! grow the queue), and each message taken lets exactly one waiting sender in.

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;

use nbio::sync::mpsc::{self, TrySendError};
use nbio_tests::{watched, WakeCounter};

#[test]
fn a_bounded_channel_takes_exactly_its_capacity_then_refuses() {
    for capacity in [1, 2, 7, 128] {
        let (tx, mut rx) = mpsc::channel(capacity);
        for n in 0..capacity {
            tx.try_send(n)
                .unwrap_or_else(|_| panic!("message {n} of {capacity} fits"));
        }
        assert!(
            matches!(tx.try_send(capacity), Err(TrySendError::Full(m)) if m == capacity),
            "capacity {capacity}: one more is refused and given back"
        );
        assert_eq!(rx.try_recv(), Ok(0));
        tx.try_send(capacity).expect("one taken, one fits");
        assert!(tx.try_send(capacity + 1).is_err(), "and only one");
    }
}

#[test]
fn a_sender_that_finds_the_channel_full_waits_until_the_receiver_takes_one() {
    let (tx, mut rx) = mpsc::channel(2);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    let wakes = WakeCounter::new();
    let mut send = pin!(tx.send(3));
    assert!(
        wakes.poll(send.as_mut()).is_pending(),
        "full: the sender waits"
    );
    assert!(
        wakes.poll(send.as_mut()).is_pending(),
        "still full: still waits"
    );
    assert_eq!(wakes.wakes(), 0, "nothing happened yet");
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(
        wakes.wakes(),
        1,
        "taking a message wakes the waiting sender"
    );
    // The room is kept for the waiting sender: nobody else fits.
    assert!(matches!(tx.try_send(4), Err(TrySendError::Full(4))));
    assert!(matches!(wakes.poll(send.as_mut()), Poll::Ready(Ok(()))));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(3));
}

#[test]
fn a_fast_producer_never_gets_more_than_capacity_ahead_of_a_slow_consumer() {
    watched(|| {
        const CAPACITY: usize = 4;
        nbio::block_on(async {
            let (tx, mut rx) = mpsc::channel(CAPACITY);
            let sent = Arc::new(AtomicUsize::new(0));
            let producer = nbio::spawn({
                let sent = Arc::clone(&sent);
                async move {
                    for n in 0..200 {
                        tx.send(n).await.unwrap();
                        sent.fetch_add(1, SeqCst);
                    }
                }
            });
            let mut received = 0;
            while let Some(_n) = rx.recv().await {
                received += 1;
                for _ in 0..3 {
                    nbio::yield_now().await; // a slow consumer: the producer runs meanwhile
                }
                let ahead = sent.load(SeqCst) - received;
                assert!(
                    ahead <= CAPACITY,
                    "the producer got {ahead} messages ahead with capacity {CAPACITY}"
                );
            }
            producer.await.unwrap();
            assert_eq!(received, 200);
        });
    });
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn a_channel_of_capacity_zero_is_refused_with_a_clear_panic() {
    let _ = mpsc::channel::<()>(0);
}
