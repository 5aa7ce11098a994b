//! Channels deliver every message exactly once, each sender's messages in the order it sent
//! them: 4 producers × 10,000 messages, as tasks of one runtime and as plain threads.
//!
//! DESIGN.md, "Tasks in groups, and waiting on each other": `mpsc::channel(cap)` "buffers
//! exactly cap messages, FIFO per sender".

use std::thread;

use nbio::sync::mpsc;
use nbio_tests::watched;

const PRODUCERS: u32 = 4;
const EACH: u32 = 10_000;

/// Checks that `received` holds every `(producer, n)` exactly once, each producer's in order.
fn check_exactly_once_in_order(received: &[(u32, u32)]) {
    assert_eq!(received.len(), (PRODUCERS * EACH) as usize, "message count");
    let mut next = vec![0u32; PRODUCERS as usize];
    for &(producer, n) in received {
        let expected = &mut next[producer as usize];
        assert_eq!(
            n, *expected,
            "producer {producer}: got message {n}, expected {expected} (lost, duplicated or reordered)"
        );
        *expected += 1;
    }
    assert!(next.iter().all(|&n| n == EACH));
}

#[test]
fn a_bounded_channel_delivers_four_producers_tasks_exactly_once_in_order() {
    watched(|| {
        let received = nbio::block_on(async {
            let (tx, mut rx) = mpsc::channel(16);
            for producer in 0..PRODUCERS {
                let tx = tx.clone();
                nbio::spawn(async move {
                    for n in 0..EACH {
                        tx.send((producer, n)).await.unwrap();
                    }
                });
            }
            drop(tx);
            let mut received = Vec::new();
            while let Some(message) = rx.recv().await {
                received.push(message);
            }
            received
        });
        check_exactly_once_in_order(&received);
    });
}

#[test]
fn a_bounded_channel_delivers_four_producer_threads_exactly_once_in_order() {
    watched(|| {
        let (tx, mut rx) = mpsc::channel(8);
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|producer| {
                let tx = tx.clone();
                // Each producer is a plain thread running its own nbio runtime.
                thread::spawn(move || {
                    nbio::block_on(async move {
                        for n in 0..EACH {
                            tx.send((producer, n)).await.unwrap();
                        }
                    })
                })
            })
            .collect();
        drop(tx);
        let received = nbio::block_on(async move {
            let mut received = Vec::new();
            while let Some(message) = rx.recv().await {
                received.push(message);
            }
            received
        });
        for producer in producers {
            producer.join().unwrap();
        }
        check_exactly_once_in_order(&received);
    });
}

#[test]
fn an_unbounded_channel_delivers_four_producer_threads_exactly_once_in_order() {
    watched(|| {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|producer| {
                let tx = tx.clone();
                thread::spawn(move || {
                    for n in 0..EACH {
                        tx.send((producer, n)).unwrap();
                        if n % 1000 == 0 {
                            thread::yield_now(); // let the consumer catch up and go to sleep
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let received = nbio::block_on(async move {
            let mut received = Vec::new();
            while let Some(message) = rx.recv().await {
                received.push(message);
            }
            received
        });
        for producer in producers {
            producer.join().unwrap();
        }
        check_exactly_once_in_order(&received);
    });
}

#[test]
fn try_recv_and_recv_together_still_see_each_message_once() {
    watched(|| {
        let (tx, mut rx) = mpsc::channel(4);
        let producer = thread::spawn(move || {
            nbio::block_on(async move {
                for n in 0..EACH {
                    tx.send(n).await.unwrap();
                }
            })
        });
        let received = nbio::block_on(async move {
            let mut received = Vec::new();
            loop {
                // Alternate: drain what is there without waiting, then wait for more.
                while let Ok(n) = rx.try_recv() {
                    received.push(n);
                }
                match rx.recv().await {
                    Some(n) => received.push(n),
                    None => break received,
                }
            }
        });
        producer.join().unwrap();
        assert_eq!(received, (0..EACH).collect::<Vec<_>>());
    });
}
