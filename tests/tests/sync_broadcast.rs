//! `nbio::sync::broadcast`: every receiver gets every value, in order; a receiver that fell
//! behind is told exactly how many it missed, once; the channel stays open while a sender
//! lives, whatever the receivers do; a dropped `recv` loses nothing; every value is dropped
//! exactly once; and a waiting receiver says so in a dump. The cases follow tokio's own suite
//! for its broadcast channel (tests/sync_broadcast.rs), in nbio's words.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use nbio::sync::broadcast::{self, RecvError, SendError, TryRecvError};
use nbio::task::WaitOn;
use nbio::{Builder, Runtime};
use nbio_tests::{eventually, watched, DropCounter, WakeCounter};

#[test]
fn every_receiver_gets_every_value_in_order() {
    let (tx, mut first) = broadcast::channel(16);
    let mut second = tx.subscribe();
    assert_eq!(first.try_recv(), Err(TryRecvError::Empty));
    for n in 0..10 {
        assert_eq!(tx.send(n), Ok(2), "two receivers got it");
    }
    for n in 0..10 {
        assert_eq!(first.try_recv(), Ok(n));
    }
    for n in 0..10 {
        assert_eq!(second.try_recv(), Ok(n));
    }
    assert_eq!(first.try_recv(), Err(TryRecvError::Empty));
    assert_eq!(second.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn a_send_wakes_every_waiting_receiver_and_only_those() {
    let (tx, mut rx1) = broadcast::channel(16);
    let mut rx2 = tx.subscribe();
    let (w1, w2) = (WakeCounter::new(), WakeCounter::new());
    {
        let mut recv1 = Box::pin(rx1.recv());
        let mut recv2 = Box::pin(rx2.recv());
        assert!(w1.poll(recv1.as_mut()).is_pending());
        assert!(w2.poll(recv2.as_mut()).is_pending());
        tx.send("hello").unwrap();
        assert_eq!((w1.wakes(), w2.wakes()), (1, 1));
        assert_eq!(w1.poll(recv1.as_mut()), std::task::Poll::Ready(Ok("hello")));
        assert_eq!(w2.poll(recv2.as_mut()), std::task::Poll::Ready(Ok("hello")));
    }
    let mut recv1 = Box::pin(rx1.recv());
    assert!(w1.poll(recv1.as_mut()).is_pending());
    tx.send("world").unwrap();
    assert_eq!(w1.wakes(), 2);
    assert_eq!(w2.wakes(), 1, "rx2 was not waiting: not woken");
    assert_eq!(w1.poll(recv1.as_mut()), std::task::Poll::Ready(Ok("world")));
    assert_eq!(rx2.try_recv(), Ok("world"));
}

#[test]
fn a_recv_polled_by_another_task_wakes_the_latest() {
    let (tx, mut rx) = broadcast::channel(1);
    let mut recv = Box::pin(rx.recv());
    let (old, new) = (WakeCounter::new(), WakeCounter::new());
    assert!(old.poll(recv.as_mut()).is_pending());
    assert!(new.poll(recv.as_mut()).is_pending());
    tx.send(1).unwrap();
    assert_eq!((old.wakes(), new.wakes()), (0, 1));
}

#[test]
fn a_lagging_receiver_is_told_exactly_how_many_it_missed_then_goes_on() {
    let (tx, mut rx1) = broadcast::channel(2);
    let mut rx2 = tx.subscribe();
    tx.send("one").unwrap();
    tx.send("two").unwrap();
    assert_eq!(rx1.try_recv(), Ok("one"));
    tx.send("three").unwrap(); // overwrites "one", which rx2 had not taken
    assert_eq!(rx2.try_recv(), Err(TryRecvError::Lagged(1)));
    assert_eq!(rx2.try_recv(), Ok("two"), "goes on from the oldest held");
    assert_eq!(rx1.try_recv(), Ok("two"));
    assert_eq!(rx1.try_recv(), Ok("three"));
    tx.send("four").unwrap();
    tx.send("five").unwrap();
    assert_eq!(rx2.try_recv(), Err(TryRecvError::Lagged(1)), "three lost");
    tx.send("six").unwrap();
    assert_eq!(rx2.try_recv(), Err(TryRecvError::Lagged(1)), "four lost");
    assert_eq!(rx2.try_recv(), Ok("five"));
    assert_eq!(rx2.try_recv(), Ok("six"));
    assert_eq!(rx2.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn lagged_counts_are_exact_however_far_behind() {
    for capacity in [1, 2, 3, 7] {
        for sent in 1..30u64 {
            let (tx, mut rx) = broadcast::channel(capacity);
            for n in 0..sent {
                tx.send(n).unwrap();
            }
            assert_eq!(rx.len() as u64, sent);
            drop(tx);
            let held = sent.min(capacity as u64);
            if sent > held {
                assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(sent - held)));
            }
            for n in sent - held..sent {
                assert_eq!(rx.try_recv(), Ok(n), "capacity {capacity}, sent {sent}");
            }
            assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        }
    }
}

#[test]
fn recv_says_lagged_once_then_gives_the_oldest_held() {
    nbio::block_on(async {
        let (tx, mut rx) = broadcast::channel(3);
        for n in 0..10 {
            tx.send(n).unwrap();
        }
        assert_eq!(rx.recv().await, Err(RecvError::Lagged(7)));
        assert_eq!(rx.recv().await, Ok(7));
        assert_eq!(rx.recv().await, Ok(8));
        assert_eq!(rx.recv().await, Ok(9));
    });
}

#[test]
fn receiver_len_counts_what_it_has_yet_to_take_even_past_the_capacity() {
    let (tx, mut rx) = broadcast::channel(3);
    for n in [10, 20, 30, 40] {
        tx.send(n).unwrap();
    }
    assert_eq!(rx.len(), 4);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(1)));
    assert_eq!(rx.len(), 3);
    assert_eq!(rx.try_recv(), Ok(20));
    tx.send(50).unwrap();
    tx.send(60).unwrap();
    assert_eq!(rx.len(), 4);
    assert!(!rx.is_empty());
}

#[test]
fn sender_len_counts_values_some_receiver_has_yet_to_take() {
    let (tx, mut rx1) = broadcast::channel(4);
    let mut rx2 = tx.subscribe();
    assert!(tx.is_empty());
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(tx.len(), 2);
    rx1.try_recv().unwrap();
    rx1.try_recv().unwrap();
    assert_eq!(tx.len(), 2, "rx2 has yet to take both");
    rx2.try_recv().unwrap();
    assert_eq!(tx.len(), 1);
    drop(rx2); // it no longer owes the second
    assert!(tx.is_empty());
}

#[test]
fn the_channel_closes_only_when_the_last_sender_goes() {
    let (tx, mut rx1) = broadcast::channel::<u8>(16);
    let mut rx2 = tx.subscribe();
    let tx2 = tx.clone();
    let (w1, w2) = (WakeCounter::new(), WakeCounter::new());
    let mut recv1 = Box::pin(rx1.recv());
    let mut recv2 = Box::pin(rx2.recv());
    assert!(w1.poll(recv1.as_mut()).is_pending());
    assert!(w2.poll(recv2.as_mut()).is_pending());
    drop(tx);
    assert_eq!((w1.wakes(), w2.wakes()), (0, 0), "a sender lives");
    assert!(w1.poll(recv1.as_mut()).is_pending());
    drop(tx2);
    assert_eq!((w1.wakes(), w2.wakes()), (1, 1));
    assert_eq!(
        w1.poll(recv1.as_mut()),
        std::task::Poll::Ready(Err(RecvError::Closed))
    );
    assert_eq!(
        w2.poll(recv2.as_mut()),
        std::task::Poll::Ready(Err(RecvError::Closed))
    );
}

#[test]
fn values_held_are_delivered_before_closed() {
    let (tx, mut rx) = broadcast::channel(2);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    let (tx, mut rx) = broadcast::channel(1);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(1)));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

/// The case: a port of a tokio server whose connections each hold a receiver. The
/// last connection going must not close the channel for the next one.
#[test]
fn send_with_no_receiver_gives_the_value_back_and_closes_nothing() {
    let (tx, rx) = broadcast::channel(16);
    drop(rx);
    assert_eq!(tx.receiver_count(), 0);
    let SendError(back) = tx.send("hello").unwrap_err();
    assert_eq!(back, "hello");
    assert!(tx.is_empty(), "nothing stored");
    let mut rx = tx.subscribe();
    assert_eq!(tx.receiver_count(), 1);
    assert_eq!(tx.send("world"), Ok(1));
    assert_eq!(rx.try_recv(), Ok("world"));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "open, not closed");
}

#[test]
fn a_new_subscriber_gets_only_what_is_sent_after_it() {
    let (tx, mut rx) = broadcast::channel(4);
    tx.send(1).unwrap();
    let mut late = tx.subscribe();
    let mut fresh = rx.resubscribe();
    tx.send(2).unwrap();
    assert_eq!(late.try_recv(), Ok(2));
    assert_eq!(fresh.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(tx.receiver_count(), 3);
}

#[test]
fn a_cloned_receiver_owes_what_the_original_owes() {
    let (tx, mut rx) = broadcast::channel(3);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    let mut copy = rx.clone();
    assert_eq!(tx.receiver_count(), 2);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(
        copy.try_recv(),
        Ok(1),
        "the original's taking left it for the copy"
    );
    assert_eq!(copy.try_recv(), Ok(2));
    tx.send(3).unwrap();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(copy.try_recv(), Ok(3));
    assert_eq!(copy.try_recv(), Err(TryRecvError::Closed));
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn a_channel_of_capacity_zero_is_refused() {
    let _ = broadcast::channel::<()>(0);
}

/// A value whose clone panics for 0.
#[derive(Debug, PartialEq)]
struct Fragile(u32);

impl Clone for Fragile {
    fn clone(&self) -> Fragile {
        assert_ne!(self.0, 0, "a clone that panics");
        Fragile(self.0)
    }
}

#[test]
fn a_clone_that_panics_loses_that_value_only_and_poisons_nothing() {
    let (tx, mut rx) = broadcast::channel(4);
    let mut other = tx.subscribe(); // two receivers: the first to take a value clones it
    tx.send(Fragile(0)).unwrap();
    tx.send(Fragile(1)).unwrap();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| rx.try_recv()));
    assert!(caught.is_err());
    assert_eq!(rx.try_recv(), Ok(Fragile(1)));
    // The last receiver to take a value gets it moved, not cloned.
    assert_eq!(other.try_recv(), Ok(Fragile(0)));
    tx.send(Fragile(2)).unwrap();
    assert_eq!(rx.try_recv(), Ok(Fragile(2)));
}

#[test]
fn a_dropped_recv_loses_no_value() {
    let (tx, mut rx) = broadcast::channel(4);
    let counter = WakeCounter::new();
    {
        let mut recv = Box::pin(rx.recv());
        assert!(counter.poll(recv.as_mut()).is_pending());
        tx.send(7).unwrap();
        assert_eq!(counter.wakes(), 1);
        // Woken, dropped before it ran again: a select's losing branch.
    }
    assert_eq!(rx.try_recv(), Ok(7), "the next recv gets it");
    assert_eq!(tx.send(8), Ok(1));
    nbio::block_on(async { assert_eq!(rx.recv().await, Ok(8)) });
}

#[test]
fn every_value_is_dropped_exactly_once() {
    let drops = DropCounter::new();
    let guard = || Arc::new(drops.guard());
    let (tx, mut rx1) = broadcast::channel(2);
    let mut rx2 = tx.subscribe();
    for _ in 0..5 {
        tx.send(guard()).unwrap(); // three overwritten: dropped by the send
    }
    assert_eq!(drops.drops(), 3);
    drop(rx1.try_recv()); // lagged
    let taken = rx1.try_recv().unwrap();
    drop(rx2.try_recv());
    drop(rx2.try_recv().unwrap()); // rx2 was the last to owe it: taken out, ours now
    assert_eq!(drops.drops(), 3, "rx1 still holds a copy");
    drop(taken);
    assert_eq!(drops.drops(), 4);
    drop(rx1); // owed the fifth, with rx2
    assert_eq!(drops.drops(), 4);
    drop(rx2); // the last to owe it: dropped with it
    assert_eq!(drops.drops(), 5);
    let _ = tx.send(guard()).unwrap_err(); // no receiver: given back, dropped here
    assert_eq!(drops.drops(), 6);
    let mut rx = tx.subscribe();
    tx.send(guard()).unwrap();
    drop(tx);
    drop(rx.try_recv()); // the only receiver: moved out of the ring, dropped here
    assert_eq!(drops.drops(), 7);
    tx_dropped_with_values_held(&drops);
}

fn tx_dropped_with_values_held(drops: &DropCounter) {
    let before = drops.drops();
    let (tx, rx) = broadcast::channel(4);
    tx.send(Arc::new(drops.guard())).unwrap();
    tx.send(Arc::new(drops.guard())).unwrap();
    drop(tx);
    assert_eq!(drops.drops(), before);
    drop(rx);
    assert_eq!(drops.drops(), before + 2);
}

/// A value whose `Drop` sends on the channel it lived in: it must be dropped outside the
/// channel's locks, or the send would wait on the lock its own drop is under.
struct SendsOnDrop(Arc<std::sync::Mutex<Option<broadcast::Sender<SendsOnDrop>>>>);

impl Clone for SendsOnDrop {
    fn clone(&self) -> SendsOnDrop {
        SendsOnDrop(Arc::clone(&self.0))
    }
}

impl Drop for SendsOnDrop {
    fn drop(&mut self) {
        let tx = self.0.lock().unwrap().take();
        if let Some(tx) = tx {
            let _ = tx.send(SendsOnDrop(Arc::new(std::sync::Mutex::new(None))));
            let _ = tx.receiver_count();
        }
    }
}

#[test]
fn an_overwritten_value_is_dropped_outside_the_locks() {
    nbio_tests::watchdog("overwritten value drop", Duration::from_secs(10), || {
        let (tx, _rx) = broadcast::channel(1);
        let slot = Arc::new(std::sync::Mutex::new(Some(tx.clone())));
        tx.send(SendsOnDrop(Arc::clone(&slot))).unwrap();
        // Overwrites the first, whose drop sends on the channel.
        tx.send(SendsOnDrop(Arc::new(std::sync::Mutex::new(None))))
            .unwrap();
        assert!(slot.lock().unwrap().is_none(), "the first was dropped");
    });
}

fn many_senders_on_two_workers(senders: usize, per_sender: u64) {
    let rt = Builder::new().worker_threads(2).build().unwrap();
    let (tx, rx) = broadcast::channel(1024);
    let receivers: Vec<_> = (0..3)
        .map(|_| {
            let mut rx = rx.resubscribe();
            rt.spawn(async move {
                let mut sums = vec![0u64; senders];
                let mut counts = vec![0u64; senders];
                let mut lagged = 0;
                loop {
                    match rx.recv().await {
                        Ok((id, n)) => {
                            // Each sender's values arrive in its order.
                            assert_eq!(n, counts[id], "sender {id} out of order");
                            counts[id] += 1;
                            sums[id] += n;
                        }
                        Err(RecvError::Lagged(n)) => lagged += n,
                        Err(RecvError::Closed) => return (counts, lagged),
                    }
                }
            })
        })
        .collect();
    drop(rx);
    let sent = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..senders)
        .map(|id| {
            let tx = tx.clone();
            let sent = Arc::clone(&sent);
            rt.spawn(async move {
                for n in 0..per_sender {
                    assert_eq!(tx.send((id, n)), Ok(3));
                    sent.fetch_add(1, SeqCst);
                    if n % 64 == 0 {
                        nbio::yield_now().await;
                    }
                }
            })
        })
        .collect();
    drop(tx);
    rt.block_on(async {
        for producer in producers {
            producer.await.unwrap();
        }
        for receiver in receivers {
            let (counts, lagged) = receiver.await.unwrap();
            assert_eq!(lagged, 0, "a capacity this large keeps up here");
            assert!(
                counts.iter().all(|&count| count == per_sender),
                "{counts:?}"
            );
        }
    });
    assert_eq!(sent.load(SeqCst), senders * per_sender as usize);
}

#[test]
fn many_senders_on_two_worker_threads_deliver_every_value_to_every_receiver() {
    watched(|| many_senders_on_two_workers(4, 200));
}

/// Receivers that fall behind on purpose: whatever they missed is counted in `Lagged`, so
/// what they took plus what they missed is what was sent.
#[test]
fn received_plus_lagged_is_what_was_sent_across_threads() {
    watched(|| {
        let rt = Builder::new().worker_threads(2).build().unwrap();
        let (tx, rx) = broadcast::channel(8);
        let slow = rt.spawn({
            let mut rx = rx.resubscribe();
            async move {
                let (mut got, mut missed) = (0u64, 0u64);
                loop {
                    match rx.recv().await {
                        Ok(_) => got += 1,
                        Err(RecvError::Lagged(n)) => missed += n,
                        Err(RecvError::Closed) => return got + missed,
                    }
                    if got % 3 == 0 {
                        nbio::yield_now().await;
                    }
                }
            }
        });
        drop(rx);
        let sender = rt.spawn(async move {
            for n in 0..5000u32 {
                tx.send(n).unwrap();
                if n % 100 == 0 {
                    nbio::yield_now().await;
                }
            }
        });
        rt.block_on(async {
            sender.await.unwrap();
            assert_eq!(slow.await.unwrap(), 5000);
        });
    });
}

fn a_waiting_receiver_shows_in_a_dump(rt: Runtime) {
    let (tx, mut rx) = broadcast::channel::<u8>(4);
    let line = line!() - 1;
    let waiter = rt.spawn(async move { rx.recv().await });
    let id = waiter.id();
    let mut said = None;
    let settled = eventually(Duration::from_secs(10), || {
        rt.block_on(nbio::yield_now());
        said = rt
            .dump()
            .tasks()
            .iter()
            .find(|task| task.id == id)
            .and_then(|task| task.waits_on);
        said.is_some()
    });
    assert!(
        settled.is_some(),
        "the receiver never waits:\n{}",
        rt.dump()
    );
    match said {
        Some(WaitOn::Broadcast { made_at: Some(at) }) => {
            assert_eq!((at.file(), at.line()), (file!(), line));
        }
        other => panic!("a wait of another kind: {other:?}"),
    }
    let shown = rt.dump().to_string();
    let expected = format!("waits on a broadcast channel made at {}:{line}", file!());
    assert!(shown.contains(&expected), "no \"{expected}\" in:\n{shown}");
    assert!(format!("{tx:?}").contains("receivers_waiting: 1"), "{tx:?}");
    tx.send(5).unwrap();
    assert_eq!(rt.block_on(waiter).unwrap(), Ok(5));
}

#[test]
fn a_waiting_receiver_shows_in_a_dump_on_a_current_thread_runtime() {
    watched(|| a_waiting_receiver_shows_in_a_dump(Runtime::new().unwrap()));
}

#[test]
fn a_waiting_receiver_shows_in_a_dump_on_a_multi_thread_runtime() {
    watched(|| {
        a_waiting_receiver_shows_in_a_dump(Builder::new().worker_threads(2).build().unwrap())
    });
}

#[test]
fn the_channel_records_where_it_was_made() {
    let (tx, rx) = broadcast::channel::<u8>(1);
    let line = line!() - 1;
    assert_eq!((tx.made_at().file(), tx.made_at().line()), (file!(), line));
    assert_eq!(rx.made_at().line(), line);
    assert!(format!("{rx:?}").contains(&format!("{}:{line}", file!())));
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn both_halves_are_send_and_sync() {
    assert_send_sync::<broadcast::Sender<String>>();
    assert_send_sync::<broadcast::Receiver<String>>();
}

#[test]
fn a_loop_whose_recv_always_finds_a_value_lets_the_other_tasks_run() {
    watched(|| {
        nbio::block_on(async {
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let stopper = nbio::spawn({
                let stop = Arc::clone(&stop);
                async move { stop.store(true, SeqCst) }
            });
            let (tx, mut rx) = broadcast::channel(4);
            // Each recv completes at once; only the budget makes this loop yield.
            while !stop.load(SeqCst) {
                tx.send(1).unwrap();
                assert_eq!(rx.recv().await, Ok(1));
            }
            stopper.await.unwrap();
        });
    });
}
