//! Model checks of the wake protocols `mpsc` gained with reservations, weak senders and
//! `Sender::closed`, over every interleaving loom explores (see `loom_tests.rs` for how they
//! run). Each model names the step that guards it, and was seen to fail with it removed.
//!
//! ```text
//! RUSTFLAGS="--cfg nbio_loom" cargo test -p nbio --lib --release loom_mpsc
//! ```

use loom::future::block_on;
use loom::thread;

use super::mpsc;

/// Guard: a permit dropped unused hands its slot to the first parked sender
/// (`Chan::permit_dropped` calls `slot_freed`), and a sender parks in the critical section
/// that saw the queue full. Free the slot without the hand-off and the sender parked behind
/// the permit sleeps forever beside a queue with room.
#[test]
fn loom_mpsc_a_permit_dropped_while_a_sender_goes_to_sleep_lets_it_in() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel(1);
        let permit = tx.clone().try_reserve_owned().ok().unwrap();
        let dropper = thread::spawn(move || drop(permit));
        block_on(tx.send(1)).ok().unwrap(); // parks if the permit is still held
        dropper.join().unwrap();
        assert!(tx.try_reserve().is_err(), "the one slot is taken, and by 1");
        assert_eq!(rx.try_recv().ok(), Some(1));
    });
}

/// Guard: as above, for a reservation waiting behind the permit: it is handed the slot and
/// holds it as a permit of its own.
#[test]
fn loom_mpsc_a_permit_dropped_while_a_reservation_waits_hands_it_the_slot() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel(1);
        let permit = tx.clone().try_reserve_owned().ok().unwrap();
        let dropper = thread::spawn(move || drop(permit));
        block_on(tx.reserve()).ok().unwrap().send(2);
        dropper.join().unwrap();
        assert_eq!(rx.try_recv().ok(), Some(2));
    });
}

/// Guard: on a closed channel the receiver waits for the permits still held, and the last of
/// them, dropped, wakes it (`permit_dropped` takes the receiver's waker once the channel
/// ended). Without that wake the receiver sleeps forever on a channel nothing can fill.
#[test]
fn loom_mpsc_the_last_permit_dropped_after_close_ends_a_waiting_recv() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        // A sender stays, so that only the permit's drop can end the wait.
        let permit = tx.clone().try_reserve_owned().ok().unwrap();
        rx.close();
        let dropper = thread::spawn(move || drop(permit));
        assert_eq!(block_on(rx.recv()), None);
        dropper.join().unwrap();
        drop(tx);
    });
}

/// Guard: a weak sender upgrades only while the count of senders is above 0 (a
/// compare-and-swap in `Chan::try_upgrade`). With a plain add, an upgrade racing the last
/// strong drop revives a channel whose receiver was already told `None`, and the message sent
/// through it is never received.
#[test]
fn loom_mpsc_a_weak_upgrade_racing_the_last_strong_drop_never_sends_past_the_end() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let weak = tx.downgrade();
        let upgrader = thread::spawn(move || match weak.upgrade() {
            Some(tx) => tx.send(1).is_ok(),
            None => false,
        });
        drop(tx);
        let mut received = 0;
        while block_on(rx.recv()).is_some() {
            received += 1;
        }
        let sent = upgrader.join().unwrap();
        assert_eq!(
            received,
            usize::from(sent),
            "sent through the upgrade, but not received"
        );
    });
}

/// Guard: `closed()` looks at `closed` and queues in one critical section, and `close` sets
/// it and empties the queue in one. Leave the queue out of `close` and the waiter sleeps on a
/// channel that closed.
#[test]
fn loom_mpsc_closed_racing_the_receiver_going_is_never_lost() {
    loom::model(|| {
        let (tx, rx) = mpsc::channel::<u8>(1);
        let dropper = thread::spawn(move || drop(rx));
        block_on(tx.closed());
        assert!(tx.is_closed());
        dropper.join().unwrap();
    });
}
