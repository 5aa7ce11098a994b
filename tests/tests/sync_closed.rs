//! How channels end, and what each side is told: a send to a receiver that is gone fails and
//! gives the message back; a receiver whose senders are gone drains what is queued, then gets
//! `None` (or `RecvError` for a oneshot); senders parked on a full channel get their message
//! back when the receiver goes, even one the receiver had made room for.

use std::pin::pin;
use std::task::Poll;

use nbio::sync::mpsc::{self, SendError, TryRecvError, TrySendError};
use nbio::sync::oneshot;
use nbio_tests::{watched, DropCounter, WakeCounter};

#[test]
fn a_send_to_a_dropped_receiver_gives_the_message_back() {
    let (tx, rx) = mpsc::channel(4);
    drop(rx);
    assert!(tx.is_closed());
    let err = nbio::block_on(tx.send(String::from("first"))).unwrap_err();
    assert_eq!(err.into_inner(), "first");
    assert!(matches!(tx.try_send(2.to_string()), Err(TrySendError::Closed(m)) if m == "2"));

    let (tx, rx) = mpsc::unbounded_channel();
    drop(rx);
    assert_eq!(tx.send(vec![1, 2]).unwrap_err(), SendError(vec![1, 2]));

    let (tx, rx) = oneshot::channel();
    drop(rx);
    assert_eq!(tx.send(5), Err(5));
}

#[test]
fn recv_after_every_sender_is_gone_drains_the_queue_then_gives_none() {
    watched(|| {
        nbio::block_on(async {
            let (tx, mut rx) = mpsc::channel(8);
            let tx2 = tx.clone();
            tx.send(1).await.unwrap();
            tx2.send(2).await.unwrap();
            drop(tx);
            assert_eq!(rx.try_recv(), Ok(1), "one sender left: not ended");
            drop(tx2);
            assert_eq!(
                rx.recv().await,
                Some(2),
                "queued messages are still delivered"
            );
            assert_eq!(rx.recv().await, None);
            assert_eq!(rx.recv().await, None, "and it stays ended");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        });
    });
}

#[test]
fn a_receiver_waiting_when_the_last_sender_goes_is_woken_with_none() {
    watched(|| {
        nbio::block_on(async {
            let (tx, mut rx) = mpsc::unbounded_channel::<u8>();
            let dropper = nbio::spawn(async move {
                nbio::yield_now().await; // the receiver is waiting by now
                drop(tx);
            });
            assert_eq!(rx.recv().await, None);
            dropper.await.unwrap();
        });
    });
}

#[test]
fn senders_parked_on_a_full_channel_get_their_message_back_when_the_receiver_goes() {
    let (tx, rx) = mpsc::channel(1);
    tx.try_send(0).unwrap();
    let wakes = WakeCounter::new();
    let mut first = pin!(tx.send(1));
    let mut second = pin!(tx.send(2));
    assert!(wakes.poll(first.as_mut()).is_pending());
    assert!(wakes.poll(second.as_mut()).is_pending());
    drop(rx);
    assert_eq!(wakes.wakes(), 2, "both parked senders are woken");
    assert!(matches!(
        wakes.poll(first.as_mut()),
        Poll::Ready(Err(SendError(1)))
    ));
    assert!(matches!(
        wakes.poll(second.as_mut()),
        Poll::Ready(Err(SendError(2)))
    ));
}

#[test]
fn a_sender_woken_to_fill_room_gets_its_message_back_if_the_receiver_closes_first() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(0).unwrap();
    let wakes = WakeCounter::new();
    let mut send = pin!(tx.send(1));
    assert!(wakes.poll(send.as_mut()).is_pending());
    assert_eq!(rx.try_recv(), Ok(0)); // room for the waiting send, which is woken…
    rx.close(); // …but the channel closes before it comes back
    assert!(matches!(
        wakes.poll(send.as_mut()),
        Poll::Ready(Err(SendError(1)))
    ));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn dropping_the_receiver_drops_the_queued_messages() {
    let drops = DropCounter::new();
    let (tx, rx) = mpsc::channel(4);
    for _ in 0..3 {
        tx.try_send(drops.guard()).unwrap();
    }
    drop(rx);
    assert_eq!(
        drops.drops(),
        3,
        "queued messages are dropped with the receiver"
    );
    // A message that holds a sender of the same channel: dropping it must not deadlock.
    struct HoldsASender(#[allow(dead_code)] mpsc::UnboundedSender<HoldsASender>);
    let (tx, rx) = mpsc::unbounded_channel();
    tx.send(HoldsASender(tx.clone())).unwrap();
    drop(rx);
}

#[test]
fn close_refuses_new_messages_but_delivers_the_queued_ones() {
    watched(|| {
        nbio::block_on(async {
            let (tx, mut rx) = mpsc::channel(4);
            tx.send("kept").await.unwrap();
            rx.close();
            assert!(tx.is_closed());
            assert_eq!(tx.send("refused").await.unwrap_err().0, "refused");
            assert_eq!(rx.recv().await, Some("kept"));
            assert_eq!(
                rx.recv().await,
                None,
                "closed and empty: ended, though a sender lives"
            );
        });
    });
}

#[test]
fn a_oneshot_whose_sender_is_dropped_fails_the_receiver() {
    watched(|| {
        nbio::block_on(async {
            let (tx, rx) = oneshot::channel::<u8>();
            nbio::spawn(async move {
                nbio::yield_now().await;
                drop(tx);
            });
            let err = rx.await.unwrap_err();
            assert!(err.to_string().contains("dropped without sending"), "{err}");
        });
    });
}

#[test]
fn a_oneshot_receiver_closed_refuses_the_value_and_wakes_closed() {
    watched(|| {
        nbio::block_on(async {
            let (mut tx, mut rx) = oneshot::channel();
            let sender = nbio::spawn(async move {
                tx.closed().await;
                tx.send("too late")
            });
            nbio::yield_now().await;
            rx.close();
            assert_eq!(sender.await.unwrap(), Err("too late"));
            assert_eq!(rx.try_recv(), Err(oneshot::TryRecvError::Closed));
        });
    });
}

#[test]
fn a_value_sent_before_close_can_still_be_received() {
    let (tx, mut rx) = oneshot::channel();
    tx.send(9).unwrap();
    rx.close();
    assert_eq!(rx.try_recv(), Ok(9));
}

#[test]
fn a_oneshot_value_never_received_is_dropped_exactly_once() {
    let drops = DropCounter::new();
    let (tx, rx) = oneshot::channel();
    tx.send(drops.guard()).unwrap();
    assert_eq!(drops.drops(), 0);
    drop(rx);
    assert_eq!(drops.drops(), 1);
    // And a value refused by a closed receiver comes back to the sender's caller.
    let (tx, rx) = oneshot::channel();
    drop(rx);
    let back = tx.send(drops.guard()).unwrap_err();
    assert_eq!(drops.drops(), 1);
    drop(back);
    assert_eq!(drops.drops(), 2);
}

#[test]
fn the_errors_say_what_happened_and_what_to_do() {
    let full = TrySendError::Full(());
    assert!(full.to_string().contains("full"), "{full}");
    let closed = SendError(());
    assert!(closed.to_string().contains("closed"), "{closed}");
    assert!(TryRecvError::Empty.to_string().contains("recv().await"));
    let _: &dyn std::error::Error = &closed;
    let _: &dyn std::error::Error = &oneshot::TryRecvError::Empty;
}
