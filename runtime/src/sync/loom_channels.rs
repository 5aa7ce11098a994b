//! Model checks of the wake protocols of the broadcast and watch channels, over every
//! interleaving loom explores (run as `loom_tests.rs` says).
//!
//! As there, a waiting side runs `loom::future::block_on`, which parks its loom thread until
//! its waker is called: a lost wakeup leaves every thread parked, and loom fails the model.
//! A sender that must not close the channel meanwhile hands itself back through `join`, so
//! that the wake of the channel closing cannot hide a lost wake of a send. Each model names
//! the step that prevents the failure; each was seen to fail with that step removed.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc as StdArc;
use std::task::{Context, Wake, Waker};

use loom::future::block_on;
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;

use super::broadcast::{self, RecvError, TryRecvError};
use super::watch;

struct Noop;

impl Wake for Noop {
    fn wake(self: StdArc<Self>) {}
}

/// A value that counts its drops, to check each is dropped exactly once (sent in a std `Arc`,
/// whose clones are copies of one value).
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Guard: a receiver that found its slot not yet written looks at the tail again, under the
/// tail lock, before it puts its waker on the list (`Shared::look`: `tail.pos > next`). Without
/// that second look, a send between the look at the slot and the waker stored is never woken
/// for.
#[test]
fn loom_broadcast_a_send_racing_a_receiver_going_to_sleep_is_never_lost() {
    loom::model(|| {
        let (tx, mut rx) = broadcast::channel(2);
        let sender = thread::spawn(move || {
            assert_eq!(tx.send(7), Ok(1));
            tx // kept alive: closing would wake the receiver anyway
        });
        assert_eq!(block_on(rx.recv()), Ok(7));
        let tx = sender.join().unwrap();
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(tx);
    });
}

/// Guard: the same, for a receiver that waited once already and polls again with a new waker
/// (stored in a second critical section, `store_waker_and_unlock`), and for the last sender
/// closing the channel: it marks it closed and empties the waiting list in one critical
/// section, so a receiver either sees `closed` or is on the list it empties.
#[test]
fn loom_broadcast_the_last_sender_going_wakes_a_waiting_receiver() {
    loom::model(|| {
        let (tx, mut rx) = broadcast::channel::<u8>(1);
        let mut recv = pin!(rx.recv());
        let waker = Waker::from(StdArc::new(Noop));
        assert!(recv
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        let sender = thread::spawn(move || drop(tx));
        assert_eq!(block_on(recv), Err(RecvError::Closed));
        sender.join().unwrap();
    });
}

/// Guard: a receiver that goes stops counting itself among those owed the values sent from
/// then on in the same critical section where it reads the tail (`Shared::unsubscribe`). Read
/// the tail after, and a send in between, which did not count it, is counted down for it: the
/// other receiver finds its value taken out before it took it.
#[test]
fn loom_broadcast_a_receiver_going_while_values_are_sent_drops_each_value_once() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, mut stays) = broadcast::channel(2);
        let goes = tx.subscribe();
        let leaver = thread::spawn(move || drop(goes));
        let _ = tx.send(StdArc::new(Counted(Arc::clone(&drops))));
        let _ = tx.send(StdArc::new(Counted(Arc::clone(&drops))));
        assert!(stays.try_recv().is_ok());
        assert!(stays.try_recv().is_ok());
        leaver.join().unwrap();
        drop((tx, stays));
        assert_eq!(drops.load(SeqCst), 2, "each value dropped exactly once");
    });
}

/// Guard: `changed` makes its `Notified` future before it reads the version. Read first, and
/// a send that bumps the version and calls `notify_waiters` between the read and the
/// `Notified` being made is never woken for.
#[test]
fn loom_watch_a_send_racing_changed_going_to_sleep_is_never_lost() {
    loom::model(|| {
        let (tx, mut rx) = watch::channel(0);
        let sender = thread::spawn(move || {
            tx.send(1).unwrap();
            tx // kept alive: closing would wake the receiver anyway
        });
        assert!(block_on(rx.changed()).is_ok());
        assert_eq!(*rx.borrow(), 1);
        drop(sender.join().unwrap());
    });
}

/// Guard: the last sender sets the closed bit before it calls `notify_waiters`, and `changed`
/// reads the bit after making its `Notified`: a receiver that waits sees the bit or is woken.
#[test]
fn loom_watch_the_last_sender_going_ends_changed() {
    loom::model(|| {
        let (tx, mut rx) = watch::channel(0);
        let sender = thread::spawn(move || drop(tx));
        assert!(block_on(rx.changed()).is_err());
        sender.join().unwrap();
    });
}
