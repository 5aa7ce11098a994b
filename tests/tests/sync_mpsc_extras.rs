//! The rest of `nbio::sync::mpsc`, part one: reserving a slot before the message exists
//! (`reserve`, `Permit`), what a channel holds (`len`, `capacity`) and batches (`recv_many`).
//! Weak senders, `closed` and the blocking calls are in `sync_mpsc_weak_blocking.rs`. Cases
//! picked from tokio's own suite (tests/sync_mpsc.rs), in nbio's words.

use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use nbio::sync::mpsc::{self, SendError, TryRecvError, TrySendError};
use nbio::task::WaitOn;
use nbio::Runtime;
use nbio_tests::{eventually, watched, DropCounter, WakeCounter};

// ---------------------------------------------------------------------------------------------
// reserve and Permit

#[test]
fn a_reserved_slot_sends_without_waiting() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::channel(1);
        let permit = tx.reserve().await.unwrap();
        permit.send("made after the slot");
        assert_eq!(rx.recv().await, Some("made after the slot"));
    });
}

#[test]
fn permits_hold_their_slots_so_try_send_fails_while_they_hold_them_all() {
    let (tx, mut rx) = mpsc::channel(2);
    let first = tx.try_reserve().unwrap();
    let second = tx.try_reserve().unwrap();
    assert_eq!(tx.capacity(), 0);
    assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
    assert!(matches!(tx.try_reserve(), Err(TrySendError::Full(()))));
    assert!(rx.is_empty(), "a permit queues nothing");
    first.send(2);
    assert_eq!(
        tx.try_send(3),
        Err(TrySendError::Full(3)),
        "the slot is used"
    );
    drop(second);
    tx.try_send(4).expect("the dropped permit's slot is free");
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(4));
}

#[test]
fn a_dropped_permit_gives_its_slot_to_the_first_waiting_sender() {
    let (tx, mut rx) = mpsc::channel(1);
    let permit = tx.try_reserve().unwrap();
    let (first, second) = (WakeCounter::new(), WakeCounter::new());
    let mut send = pin!(tx.send(1));
    let mut reserve = pin!(tx.reserve());
    assert!(first.poll(send.as_mut()).is_pending());
    assert!(second.poll(reserve.as_mut()).is_pending());
    drop(permit);
    assert_eq!(first.wakes(), 1, "the first in line is handed the slot");
    assert_eq!(second.wakes(), 0);
    assert_eq!(
        tx.try_send(9),
        Err(TrySendError::Full(9)),
        "a newcomer cannot take the slot kept for the woken sender"
    );
    assert!(matches!(first.poll(send.as_mut()), Poll::Ready(Ok(()))));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(second.wakes(), 1, "the next slot goes to the reservation");
    let Poll::Ready(Ok(permit)) = second.poll(reserve.as_mut()) else {
        panic!("the reservation was handed a slot");
    };
    permit.send(2);
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn reservations_and_sends_get_in_in_the_order_they_came() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(0).unwrap();
    let counters: Vec<_> = (0..3).map(|_| WakeCounter::new()).collect();
    let mut send_1 = pin!(tx.send(1));
    let mut reserve = pin!(tx.reserve());
    let mut send_3 = pin!(tx.send(3));
    assert!(counters[0].poll(send_1.as_mut()).is_pending());
    assert!(counters[1].poll(reserve.as_mut()).is_pending());
    assert!(counters[2].poll(send_3.as_mut()).is_pending());
    let mut received = vec![rx.try_recv().unwrap()];
    assert!(counters[0].poll(send_1.as_mut()).is_ready());
    received.push(rx.try_recv().unwrap());
    let Poll::Ready(Ok(permit)) = counters[1].poll(reserve.as_mut()) else {
        panic!("second in line, second served");
    };
    assert!(
        counters[2].poll(send_3.as_mut()).is_pending(),
        "the permit holds the only slot"
    );
    permit.send(2);
    received.push(rx.try_recv().unwrap());
    assert!(counters[2].poll(send_3.as_mut()).is_ready());
    received.push(rx.try_recv().unwrap());
    assert_eq!(received, [0, 1, 2, 3]);
}

#[test]
fn a_reserve_dropped_after_it_was_handed_a_slot_passes_it_to_the_next_waiting_sender() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(1).unwrap();
    let (first, second) = (WakeCounter::new(), WakeCounter::new());
    let mut quitter = Box::pin(tx.reserve());
    let mut next = pin!(tx.send(2));
    assert!(first.poll(quitter.as_mut()).is_pending());
    assert!(second.poll(next.as_mut()).is_pending());
    assert_eq!(rx.try_recv(), Ok(1)); // the slot is kept for the reservation…
    assert_eq!(first.wakes(), 1);
    assert_eq!(second.wakes(), 0);
    drop(quitter); // …which is dropped before it took it: the losing branch of a select
    assert_eq!(second.wakes(), 1, "the slot went on to the next in line");
    assert!(matches!(second.poll(next.as_mut()), Poll::Ready(Ok(()))));
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn a_reserve_dropped_while_waiting_leaves_the_line_and_reserves_nothing() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(1).unwrap();
    let mut quitter = Box::pin(tx.reserve());
    assert!(WakeCounter::new().poll(quitter.as_mut()).is_pending());
    drop(quitter);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(
        tx.capacity(),
        1,
        "no slot is kept for the dropped reservation"
    );
    tx.try_send(2).unwrap();
}

#[test]
fn reserve_fails_on_a_closed_channel_and_a_waiting_one_fails_when_it_closes() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        let _permit = tx.try_reserve().unwrap();
        let counter = WakeCounter::new();
        let mut waiting = pin!(tx.reserve());
        assert!(counter.poll(waiting.as_mut()).is_pending());
        rx.close();
        assert_eq!(counter.wakes(), 1);
        assert!(matches!(
            counter.poll(waiting.as_mut()),
            Poll::Ready(Err(SendError(())))
        ));
        assert!(tx.reserve().await.is_err());
        assert!(matches!(tx.try_reserve(), Err(TrySendError::Closed(()))));
    });
}

#[test]
fn a_permit_held_when_the_receiver_closes_still_sends_and_recv_waits_for_it() {
    let (tx, mut rx) = mpsc::channel(2);
    let permit = tx.try_reserve().unwrap();
    rx.close();
    assert_eq!(
        rx.try_recv(),
        Err(TryRecvError::Empty),
        "a permit may still send"
    );
    let counter = WakeCounter::new();
    {
        let mut recv = pin!(rx.recv());
        assert!(counter.poll(recv.as_mut()).is_pending());
        permit.send(7);
        assert_eq!(counter.wakes(), 1);
        assert_eq!(counter.poll(recv.as_mut()), Poll::Ready(Some(7)));
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn the_last_permit_dropped_after_close_wakes_the_receiver_for_its_none() {
    let (tx, mut rx) = mpsc::channel::<u8>(4);
    let permit = tx.try_reserve().unwrap();
    rx.close();
    let counter = WakeCounter::new();
    let mut recv = pin!(rx.recv());
    assert!(counter.poll(recv.as_mut()).is_pending());
    drop(permit);
    assert_eq!(counter.wakes(), 1);
    assert_eq!(counter.poll(recv.as_mut()), Poll::Ready(None));
}

#[test]
fn a_reservation_refused_by_the_close_does_not_keep_the_receiver_waiting() {
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    let permit = tx.try_reserve().unwrap();
    let counter = WakeCounter::new();
    let mut reserve = Box::pin(tx.reserve());
    assert!(counter.poll(reserve.as_mut()).is_pending());
    drop(permit); // the slot is kept for the waiting reservation
    rx.close(); // which will never hold a permit now
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert!(matches!(
        counter.poll(reserve.as_mut()),
        Poll::Ready(Err(_))
    ));
}

#[test]
fn a_permit_sent_after_the_receiver_is_gone_drops_its_message_at_once() {
    let drops = DropCounter::new();
    let (tx, rx) = mpsc::channel(1);
    let permit = tx.try_reserve().unwrap();
    drop(rx);
    permit.send(drops.guard());
    assert_eq!(
        drops.drops(),
        1,
        "nobody can receive it: not kept in the channel"
    );
}

#[test]
fn an_owned_permit_moves_into_a_task_and_gives_its_sender_back() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::channel(1);
        let permit = tx.reserve_owned().await.unwrap();
        let tx = nbio::spawn(async move { permit.send(5) }).await.unwrap();
        assert_eq!(rx.recv().await, Some(5));
        let held = tx.clone().try_reserve_owned().unwrap();
        let Err(TrySendError::Full(tx)) = tx.try_reserve_owned() else {
            panic!("the one slot is held: Full, with the sender given back");
        };
        drop(held.release()); // the slot is free again, and that sender dropped
        let weak = tx.downgrade();
        let permit = tx.try_reserve_owned().expect("the released slot is free");
        assert!(
            weak.upgrade().is_some(),
            "an owned permit's sender keeps the channel open"
        );
        drop(permit);
        assert!(
            weak.upgrade().is_none(),
            "and with it gone, no sender is left"
        );
        assert_eq!(rx.recv().await, None);
    });
}

// ---------------------------------------------------------------------------------------------
// capacity, len and is_empty

#[test]
fn capacity_counts_the_slots_free_now_and_max_capacity_the_size() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::channel::<()>(10);
        assert_eq!((tx.capacity(), tx.max_capacity()), (10, 10));
        let permit = tx.reserve().await.unwrap();
        assert_eq!((tx.capacity(), tx.max_capacity()), (9, 10));
        tx.send(()).await.unwrap();
        assert_eq!(tx.capacity(), 8);
        assert_eq!((rx.capacity(), rx.max_capacity()), (8, 10));
        permit.send(());
        assert_eq!(tx.capacity(), 8, "a permit's send uses the slot it held");
        rx.recv().await.unwrap();
        assert_eq!(tx.capacity(), 9);
        rx.recv().await.unwrap();
        assert_eq!(tx.capacity(), 10);
    });
}

#[test]
fn a_slot_kept_for_a_woken_sender_is_not_free_capacity() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(1).unwrap();
    let mut send = pin!(tx.send(2));
    assert!(WakeCounter::new().poll(send.as_mut()).is_pending());
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(tx.capacity(), 0, "kept for the waiting send");
}

#[test]
fn len_and_is_empty_count_what_is_queued() {
    let (tx, mut rx) = mpsc::channel(3);
    assert_eq!((rx.len(), rx.is_empty()), (0, true));
    for n in 0..3 {
        tx.try_send(n).unwrap();
    }
    assert_eq!((rx.len(), rx.is_empty()), (3, false));
    drop(tx);
    assert_eq!(rx.len(), 3, "the end of the senders takes nothing away");
    rx.try_recv().unwrap();
    assert_eq!(rx.len(), 2);
    rx.close();
    assert_eq!(rx.len(), 2, "nor does a close");
    while rx.try_recv().is_ok() {}
    assert_eq!((rx.len(), rx.is_empty()), (0, true));

    let (tx, mut rx) = mpsc::unbounded_channel();
    assert!(rx.is_empty());
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!((rx.len(), rx.is_empty()), (2, false));
    rx.try_recv().unwrap();
    rx.try_recv().unwrap();
    assert!(rx.is_empty());
}

#[test]
fn a_receiver_is_closed_once_it_closed_or_every_strong_sender_is_gone() {
    let (tx, mut rx) = mpsc::channel::<u8>(2);
    assert!(!rx.is_closed());
    rx.close();
    assert!(rx.is_closed() && tx.is_closed());
    let (tx, rx) = mpsc::channel::<u8>(2);
    let weak = tx.downgrade();
    tx.try_send(1).unwrap();
    drop(tx);
    assert!(rx.is_closed(), "only a weak sender is left");
    assert_eq!(rx.len(), 1);
    drop(weak);
    let (tx, rx) = mpsc::unbounded_channel::<u8>();
    let _weak = tx.downgrade();
    drop(tx);
    assert!(rx.is_closed());
}

// ---------------------------------------------------------------------------------------------
// recv_many

#[test]
fn recv_many_takes_what_is_ready_up_to_its_limit() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::channel(100);
        for n in 0..10 {
            tx.send(n).await.unwrap();
        }
        let mut buffer = vec![-1];
        assert_eq!(rx.recv_many(&mut buffer, 4).await, 4);
        assert_eq!(buffer, [-1, 0, 1, 2, 3], "appended, not overwritten");
        assert_eq!(rx.recv_many(&mut buffer, 100).await, 6, "all that is ready");
        assert_eq!(buffer.len(), 11);
        assert!(rx.is_empty());
    });
}

#[test]
fn recv_many_waits_only_when_nothing_is_ready() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut buffer = Vec::new();
    let counter = WakeCounter::new();
    {
        let mut batch = pin!(rx.recv_many(&mut buffer, 8));
        assert!(counter.poll(batch.as_mut()).is_pending());
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        assert_eq!(counter.wakes(), 1);
        assert_eq!(counter.poll(batch.as_mut()), Poll::Ready(2));
    }
    assert_eq!(buffer, [1, 2]);
}

#[test]
fn recv_many_returns_0_only_once_the_channel_is_empty_and_ended() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::channel(4);
        let mut buffer = Vec::new();
        tx.send(1).await.unwrap();
        let late = tx.clone();
        drop(tx);
        nbio::spawn(async move { late.send(2).await.unwrap() });
        assert_eq!(rx.recv_many(&mut buffer, 4).await, 1);
        // One sender is left: the batch waits for its message rather than say 0.
        assert_eq!(rx.recv_many(&mut buffer, 4).await, 1);
        assert_eq!(rx.recv_many(&mut buffer, 4).await, 0, "ended");
        assert_eq!(buffer, [1, 2]);

        let (tx, mut rx) = mpsc::unbounded_channel();
        tx.send(3).unwrap();
        rx.close();
        assert_eq!(
            rx.recv_many(&mut buffer, 4).await,
            1,
            "a close keeps what is queued"
        );
        assert_eq!(rx.recv_many(&mut buffer, 4).await, 0);
        assert_eq!(buffer, [1, 2, 3]);
    });
}

#[test]
fn recv_many_with_a_limit_of_0_returns_0_at_once_and_takes_nothing() {
    let (tx, mut rx) = mpsc::channel(2);
    let mut buffer = Vec::new();
    let counter = WakeCounter::new();
    // On an empty channel it does not wait…
    assert_eq!(
        counter.poll(pin!(rx.recv_many(&mut buffer, 0))),
        Poll::Ready(0)
    );
    tx.try_send(1).unwrap();
    // …and on a full one it takes nothing: 0 here does not mean "ended".
    assert_eq!(
        counter.poll(pin!(rx.recv_many(&mut buffer, 0))),
        Poll::Ready(0)
    );
    assert!(buffer.is_empty());
    assert_eq!(rx.len(), 1);
    assert_eq!(counter.wakes(), 0);
}

#[test]
fn each_slot_recv_many_frees_goes_to_a_waiting_sender_in_line() {
    let (tx, mut rx) = mpsc::channel(2);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    let counters: Vec<_> = (0..3).map(|_| WakeCounter::new()).collect();
    let mut sends: Vec<_> = (3..6).map(|n| Box::pin(tx.send(n))).collect();
    for (send, counter) in sends.iter_mut().zip(&counters) {
        assert!(counter.poll(send.as_mut()).is_pending());
    }
    let mut buffer = Vec::new();
    assert_eq!(
        WakeCounter::new().poll(pin!(rx.recv_many(&mut buffer, 8))),
        Poll::Ready(2)
    );
    let wakes: Vec<_> = counters.iter().map(WakeCounter::wakes).collect();
    assert_eq!(
        wakes,
        [1, 1, 0],
        "two slots freed, two senders let in, in order"
    );
    assert_eq!(
        tx.try_send(9),
        Err(TrySendError::Full(9)),
        "both slots are kept"
    );
    for (send, counter) in sends.iter_mut().zip(&counters).take(2) {
        assert!(matches!(counter.poll(send.as_mut()), Poll::Ready(Ok(()))));
    }
    assert_eq!(rx.try_recv(), Ok(3));
    assert_eq!(rx.try_recv(), Ok(4));
}

#[test]
fn a_dropped_recv_many_loses_no_message() {
    let (tx, mut rx) = mpsc::channel(2);
    let mut buffer = Vec::new();
    let mut batch = Box::pin(rx.recv_many(&mut buffer, 2));
    assert!(WakeCounter::new().poll(batch.as_mut()).is_pending());
    drop(batch);
    tx.try_send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
}

// ---------------------------------------------------------------------------------------------
// Across threads, and in a dump

#[test]
fn many_senders_on_two_worker_threads_reserve_and_every_message_arrives_in_order() {
    const SENDERS: u64 = 8;
    const EACH: u64 = 2_000;
    watched(|| {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let (tx, mut rx) = mpsc::channel::<(u64, u64)>(4);
        for id in 0..SENDERS {
            let tx = tx.clone();
            rt.spawn(async move {
                for n in 0..EACH {
                    if n % 3 == 0 {
                        // now and then a permit dropped unused: its slot goes on
                        drop(tx.reserve().await.unwrap());
                    }
                    tx.reserve().await.unwrap().send((id, n));
                }
            });
        }
        drop(tx);
        let received = rt.block_on(rt.spawn(async move {
            let mut next = [0; SENDERS as usize];
            let mut buffer = Vec::new();
            while rx.recv_many(&mut buffer, 3).await > 0 {
                for (id, n) in buffer.drain(..) {
                    assert_eq!(n, next[id as usize], "sender {id}'s messages in order");
                    next[id as usize] += 1;
                }
            }
            next
        }));
        assert_eq!(received.unwrap(), [EACH; SENDERS as usize]);
    });
}

#[test]
fn a_task_waiting_in_reserve_says_it_waits_on_the_channel_and_where_it_was_made() {
    let rt = Runtime::new().unwrap();
    let (tx, _rx) = mpsc::channel::<u8>(1);
    let line = line!() - 1;
    let held = tx.clone().try_reserve_owned().unwrap();
    let tx = Arc::new(tx);
    let waiter = rt.spawn({
        let tx = Arc::clone(&tx);
        async move { drop(tx.reserve().await) }
    });
    let mut said = None;
    let waits = eventually(Duration::from_secs(10), || {
        rt.block_on(nbio::yield_now());
        said = rt
            .dump()
            .tasks()
            .iter()
            .find(|task| task.id == waiter.id())
            .and_then(|task| task.waits_on);
        said.is_some()
    });
    assert!(
        waits.is_some(),
        "the task never said it waits:\n{}",
        rt.dump()
    );
    let Some(WaitOn::Channel { made_at: Some(at) }) = said else {
        panic!("a wait of another kind: {said:?}");
    };
    assert_eq!((at.file(), at.line()), (file!(), line));
    drop(held); // its slot goes to the waiting task
    let done = rt.block_on(nbio::time::timeout(Duration::from_secs(10), waiter));
    done.expect("the waiting reserve was handed the dropped permit's slot")
        .unwrap();
}
