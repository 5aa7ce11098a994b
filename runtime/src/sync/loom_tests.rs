//! Model checks of the wake protocols of `nbio::sync`, over every interleaving loom explores.
//!
//! ```text
//! RUSTFLAGS="--cfg nbio_loom" cargo test -p nbio --lib --release loom
//! ```
//!
//! The primitives are the real ones, built on `crate::loom`'s atomics, mutex and cells, which
//! loom swaps for its own. A waiting side runs `loom::future::block_on`, which parks its loom
//! thread until its waker is called: a lost wakeup leaves every thread parked, and loom fails
//! the model with a deadlock. Each model names the step of the protocol that prevents it; each
//! was seen to fail with that step removed.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use loom::future::block_on;
use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;

use super::{mpsc, oneshot, Mutex, Notify, Semaphore};

/// A waker that does nothing: for a future polled once by hand and then dropped.
struct Noop;

impl Wake for Noop {
    fn wake(self: StdArc<Self>) {}
}

fn noop_waker() -> Waker {
    Waker::from(StdArc::new(Noop))
}

/// Polls `future` once with a waker that does nothing: a waiter then holds that waker, and a
/// later `block_on` of the same future polls it again with a new one, which it must clone
/// outside the primitive's lock and store in a second critical section.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let waker = noop_waker();
    future.poll(&mut Context::from_waker(&waker))
}

/// A message that counts its drops, to check a value is dropped exactly once.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Guard: the receiver stores its waker, then looks again (the `fetch_or(RX_WAKER)` returns
/// `COMPLETE`). Without the second look, a send landing between the receiver's first look and
/// its waker being stored is never woken.
#[test]
fn loom_oneshot_a_send_racing_the_receiver_going_to_sleep_is_never_lost() {
    loom::model(|| {
        let (tx, rx) = oneshot::channel();
        let sender = thread::spawn(move || tx.send(7).unwrap());
        assert_eq!(block_on(rx), Ok(7));
        sender.join().unwrap();
    });
}

/// Guard: the reference bits in the state word. Whichever half lets go last frees the block,
/// and a value sent but never received is dropped exactly once with it, whatever the order of
/// the send, a receiver waiting and the receiver being dropped.
#[test]
fn loom_oneshot_a_receiver_dropped_while_the_value_arrives_drops_it_once() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = oneshot::channel();
        let sender = thread::spawn({
            let drops = Arc::clone(&drops);
            move || {
                // Either sent (then dropped with the block) or given back and dropped here.
                let _ = tx.send(Counted(drops));
            }
        });
        {
            let mut rx = pin!(rx);
            let _ = poll_once(rx.as_mut()); // stores a waker the sender may read
        } // the receiver is dropped here
        sender.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1, "the value was dropped once");
    });
}

/// Guard: the receiver keeps its reference while it wakes the sender's `closed()` waker, and
/// the sender leaves the waker cell alone once `CLOSED` is set.
#[test]
fn loom_oneshot_closed_completes_when_the_receiver_goes() {
    loom::model(|| {
        let (mut tx, rx) = oneshot::channel::<u8>();
        let receiver = thread::spawn(move || drop(rx));
        block_on(tx.closed());
        assert!(tx.send(1).is_err());
        receiver.join().unwrap();
    });
}

/// Guard: the receiver looks at the queue and stores its waker in one critical section (and a
/// sender pushes and takes the waker in one). Split the receiver's into two and a message
/// pushed in between is never woken for.
#[test]
fn loom_mpsc_a_send_racing_the_receiver_going_to_sleep_is_never_lost() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let sender = thread::spawn(move || tx.send(1).unwrap());
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(
            block_on(rx.recv()),
            None,
            "the sender is gone: the channel ended"
        );
        sender.join().unwrap();
    });
}

/// Guard: a full sender parks in the critical section that saw the queue full. Park in a later
/// one and the receiver may drain the queue in between, then sleep while the sender sleeps
/// beside free room.
#[test]
fn loom_mpsc_a_full_sender_racing_the_receiver_making_room_is_never_lost() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel(1);
        let sender = thread::spawn(move || {
            block_on(tx.send(1)).unwrap();
            block_on(tx.send(2)).unwrap(); // finds the queue full, unless it was emptied
        });
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(block_on(rx.recv()), Some(2));
        sender.join().unwrap();
    });
}

/// Guard: a parked send's message stays in its future until that future moves it in. A send
/// dropped while the receiver makes room for it was either sent at once (its first poll found
/// room: it is received) or not at all (it is dropped with its future), and each message is
/// dropped exactly once. Move the message in from the receiver's side (as nbio once did) and a
/// send that never completed is received.
#[test]
fn loom_mpsc_a_send_dropped_while_room_appears_is_received_only_if_it_completed() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(Counted(Arc::clone(&drops))).ok().unwrap();
        let sender = thread::spawn({
            let drops = Arc::clone(&drops);
            move || {
                let mut send = pin!(tx.send(Counted(drops)));
                // Ready if the receiver had made room already; else parked, then dropped.
                poll_once(send.as_mut()).is_ready()
            }
        });
        drop(rx.try_recv().ok().expect("the first message is queued"));
        let completed = sender.join().unwrap();
        let second = rx.try_recv().ok();
        assert_eq!(
            second.is_some(),
            completed,
            "received if and only if it was sent"
        );
        drop(second);
        assert_eq!(
            drops.load(SeqCst),
            2,
            "each message was dropped exactly once"
        );
    });
}

/// Guard: a send dropped after the receiver kept a slot for it passes the slot on
/// (`Chan::cancel_send`). Without that, the sender waiting behind it sleeps forever beside a
/// queue with room.
#[test]
fn loom_mpsc_room_kept_for_a_dropped_send_passes_to_the_next_waiting_sender() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(1).ok().unwrap();
        let mut quitter = Box::pin(tx.send(2));
        let mut next = Box::pin(tx.send(3));
        assert!(
            poll_once(quitter.as_mut()).is_pending(),
            "full: parked first"
        );
        assert!(poll_once(next.as_mut()).is_pending(), "parked second");
        let receiver = thread::spawn(move || {
            assert_eq!(rx.try_recv().ok(), Some(1)); // room, kept for the first in line
            rx
        });
        drop(quitter); // before or after the receiver kept room for it
        block_on(next).ok().unwrap();
        let mut rx = receiver.join().unwrap();
        assert_eq!(rx.try_recv().ok(), Some(3));
        assert!(rx.try_recv().is_err(), "2 was never sent");
    });
}

/// Guard: a lock future dropped after an unlock chose it passes the lock on
/// (`Semaphore::leave` hands its permit out). Without it the next waiter, here the thread that
/// unlocked and locks again, sleeps forever on a mutex nobody holds.
#[test]
fn loom_mutex_an_unlock_racing_a_dropped_lock_future_hands_the_lock_to_the_next_waiter() {
    loom::model(|| {
        let mutex = Arc::new(Mutex::new(0));
        let guard = mutex.try_lock().unwrap();
        let quitter = thread::spawn({
            let mutex = Arc::clone(&mutex);
            move || {
                let mut lock = pin!(mutex.lock());
                if let Poll::Ready(mut guard) = poll_once(lock.as_mut()) {
                    *guard += 1; // the unlock came first: a plain lock and unlock
                }
                // dropped here: queued, chosen by the unlock, or done
            }
        });
        drop(guard);
        *block_on(mutex.lock()) += 10; // the next waiter, queued behind the quitter or not
        quitter.join().unwrap();
        let total = *mutex.try_lock().expect("nobody holds the mutex at the end");
        assert!(total == 10 || total == 11);
    });
}

/// Guard: a waiter sets `QUEUED` only with a compare-and-swap that also checks the count is
/// still zero, so a permit given back in between is taken, not stranded in the count while
/// its waiter sleeps. And every permit comes back: the count is whole at the end.
#[test]
fn loom_semaphore_a_release_racing_a_waiter_going_to_sleep_loses_no_permit() {
    loom::model(|| {
        let semaphore = Arc::new(Semaphore::new(1));
        semaphore.try_acquire().unwrap().forget(); // held by the thread below
        let holder = thread::spawn({
            let semaphore = Arc::clone(&semaphore);
            move || semaphore.add_permits(1) // what dropping the permit does
        });
        let waiter = thread::spawn({
            let semaphore = Arc::clone(&semaphore);
            move || drop(block_on(semaphore.acquire()).unwrap())
        });
        let _ = semaphore.try_acquire().map(drop);
        holder.join().unwrap();
        waiter.join().unwrap();
        assert_eq!(
            semaphore.available_permits(),
            1,
            "no permit lost or made up"
        );
    });
}

/// Guard: a waiter moves the state EMPTY → WAITING with a compare-and-swap, which fails if a
/// `notify_one` stored the permit meanwhile (and then takes it). With a plain store the permit
/// would be overwritten and the waiter would sleep on a notification already given.
#[test]
fn loom_notify_one_racing_a_waiter_going_to_sleep_is_never_lost() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let notifier = thread::spawn({
            let notify = Arc::clone(&notify);
            move || notify.notify_one()
        });
        block_on(notify.notified());
        notifier.join().unwrap();
    });
}

/// Guard: a waiter polled again with a new waker clones it outside the lock, then takes the
/// lock again and looks at its slot afresh before storing it (`Notified::check`). Store the
/// clone without that second look and a `notify_one` that came in between, choosing this
/// waiter and waking the old waker, is lost: the waiter sleeps on a notification it was given.
#[test]
fn loom_notify_a_waiter_repolled_with_a_new_waker_racing_notify_one_is_never_lost() {
    loom::model(|| {
        let notify = Arc::new(Notify::new());
        let notifier = thread::spawn({
            let notify = Arc::clone(&notify);
            move || notify.notify_one()
        });
        let mut notified = pin!(notify.notified());
        if poll_once(notified.as_mut()).is_pending() {
            block_on(notified); // a new waker: cloned between two critical sections
        }
        notifier.join().unwrap();
    });
}

/// Guard: as for `Notify`, a queued `acquire` polled with a new waker looks at its slot again
/// after cloning the waker outside the lock (`Semaphore::check_turn`); a permit handed to it
/// in between is taken, not slept beside.
#[test]
fn loom_semaphore_a_waiter_repolled_with_a_new_waker_racing_a_release_is_never_lost() {
    loom::model(|| {
        let semaphore = Arc::new(Semaphore::new(0));
        let releaser = thread::spawn({
            let semaphore = Arc::clone(&semaphore);
            move || semaphore.add_permits(1)
        });
        let mut acquire = pin!(semaphore.acquire());
        if let Poll::Pending = poll_once(acquire.as_mut()) {
            drop(block_on(acquire).unwrap());
        }
        releaser.join().unwrap();
        assert_eq!(semaphore.available_permits(), 1, "the permit came back");
    });
}

/// Guard: a parked send polled with a new waker looks at its slot again after cloning the
/// waker outside the lock (`Chan::poll_parked`): room the receiver made in between is used,
/// not slept beside.
#[test]
fn loom_mpsc_a_parked_send_repolled_with_a_new_waker_racing_the_receiver_is_never_lost() {
    loom::model(|| {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(1).ok().unwrap();
        let receiver = thread::spawn(move || {
            assert_eq!(rx.try_recv().ok(), Some(1));
            rx
        });
        {
            let mut send = pin!(tx.send(2));
            if poll_once(send.as_mut()).is_pending() {
                block_on(send).ok().unwrap();
            }
        }
        let mut rx = receiver.join().unwrap();
        assert_eq!(rx.try_recv().ok(), Some(2));
    });
}

/// Guard: an arrival counts itself and queues in one critical section, and the last arrival
/// opens the round and empties the queue in one. Queue in a later section than the count, and
/// the leader may empty the queue before the other party is on it: it sleeps forever.
#[test]
fn loom_barrier_the_last_arrival_racing_a_party_going_to_sleep_releases_it() {
    loom::model(|| {
        let barrier = Arc::new(super::Barrier::new(2));
        let other = thread::spawn({
            let barrier = Arc::clone(&barrier);
            move || block_on(barrier.wait()).is_leader()
        });
        let mine = block_on(barrier.wait()).is_leader();
        let theirs = other.join().unwrap();
        assert!(mine != theirs, "exactly one leader in a round");
    });
}

/// Guard: a dropped wait takes its arrival back only if it is still queued, looked at in the
/// critical section that removes it. Look in an earlier section, or not at all, and a wait
/// released meanwhile by the other party takes an arrival from the next round.
#[test]
fn loom_barrier_a_wait_dropped_as_its_round_opens_is_counted_or_withdrawn_never_both() {
    loom::model(|| {
        let barrier = Arc::new(super::Barrier::new(2));
        let quitters: Vec<_> = (0..2)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                thread::spawn(move || {
                    let mut wait = pin!(barrier.wait());
                    let _ = poll_once(wait.as_mut()); // queued, or the leader
                                                      // dropped here: queued, released by the other, or done
                })
            })
            .collect();
        for quitter in quitters {
            quitter.join().unwrap();
        }
        // Every wait is gone: whatever happened, the next round starts from nobody.
        let mut first = pin!(barrier.wait());
        assert!(
            poll_once(first.as_mut()).is_pending(),
            "an arrival was left behind"
        );
        let mut second = pin!(barrier.wait());
        let Poll::Ready(last) = poll_once(second.as_mut()) else {
            panic!("the second party of a round of two did not open it");
        };
        assert!(last.is_leader());
        assert!(matches!(poll_once(first.as_mut()), Poll::Ready(r) if !r.is_leader()));
    });
}

/// Guard: the initialiser sets `ready` and empties the queue in one critical section, and a
/// waiter looks at `ready` and queues in one. Empty the queue before `ready` is set, and a
/// waiter queued in between sleeps beside the value. And the init runs once.
#[test]
fn loom_once_cell_racing_initialisers_run_one_init_and_share_its_value() {
    loom::model(|| {
        let cell = Arc::new(super::OnceCell::new());
        let inits = Arc::new(AtomicUsize::new(0));
        let init = |cell: Arc<super::OnceCell<usize>>, inits: Arc<AtomicUsize>| {
            *block_on(cell.get_or_init(|| async move { inits.fetch_add(1, SeqCst) + 7 }))
        };
        let other = thread::spawn({
            let (cell, inits) = (Arc::clone(&cell), Arc::clone(&inits));
            move || init(cell, inits)
        });
        let mine = init(Arc::clone(&cell), Arc::clone(&inits));
        assert_eq!(mine, other.join().unwrap());
        assert_eq!(inits.load(SeqCst), 1, "the init ran once");
    });
}

/// Guard: an initialiser that fails gives the right to the first waiter. Let it only clear
/// `taken`, and a waiter queued behind it sleeps with nobody initialising.
#[test]
fn loom_once_cell_an_initialiser_that_fails_hands_the_right_to_a_waiter() {
    loom::model(|| {
        let cell = Arc::new(super::OnceCell::new());
        let failer = thread::spawn({
            let cell = Arc::clone(&cell);
            move || {
                let failed = block_on(cell.get_or_try_init(|| async { Err::<u8, _>("refused") }));
                assert!(matches!(failed, Ok(&2) | Err("refused")));
            }
        });
        assert_eq!(*block_on(cell.get_or_init(|| async { 2 })), 2);
        failer.join().unwrap();
    });
}

/// Guard: a waiter dropped after the right was handed to it passes it on. Without that, the
/// right stays taken by a future that is gone, and every later caller waits forever.
#[test]
fn loom_once_cell_a_waiter_dropped_as_the_right_is_handed_to_it_passes_it_on() {
    loom::model(|| {
        let cell = Arc::new(super::OnceCell::<u8>::new());
        let mut first = Box::pin(cell.get_or_init(std::future::pending));
        assert!(poll_once(first.as_mut()).is_pending(), "initialising");
        let quitter = thread::spawn({
            let cell = Arc::clone(&cell);
            move || {
                let mut wait = pin!(cell.get_or_init(|| async { 1 }));
                let _ = poll_once(wait.as_mut()); // queued, or handed the right and done
            }
        });
        drop(first); // gives up: the right goes to the quitter, if it is queued
        quitter.join().unwrap();
        let value = *block_on(cell.get_or_init(|| async { 3 }));
        assert!(value == 1 || value == 3);
    });
}

/// Guard: a waiter looks at the chain of flags and queues in one critical section of its
/// node, and `cancel` sets the flag and empties the queue in one. Look before the lock only,
/// and a cancel in between finds nobody to wake while the waiter goes to sleep.
#[test]
fn loom_cancel_racing_a_waiter_going_to_sleep_is_never_lost() {
    loom::model(|| {
        let token = super::CancellationToken::new();
        let canceller = thread::spawn({
            let token = token.clone();
            move || token.cancel()
        });
        block_on(token.cancelled());
        canceller.join().unwrap();
    });
}

/// Guard: `is_cancelled` walks up to the ancestors' flags. A child made just after its
/// parent's cancel took the list of children is never reached by that cancel; without the
/// walk it would wait forever for a cancellation that already happened.
#[test]
fn loom_cancel_a_child_made_as_its_parent_is_cancelled_is_cancelled_too() {
    loom::model(|| {
        let parent = super::CancellationToken::new();
        let canceller = thread::spawn({
            let parent = parent.clone();
            move || parent.cancel()
        });
        let child = parent.child_token();
        block_on(child.cancelled());
        assert!(child.is_cancelled());
        canceller.join().unwrap();
    });
}

/// Guard: a child dropped by everyone leaves its parent's list only if the parent was not
/// cancelled, looked at under the parent's lock: a cancelled parent took the whole list, the
/// child's slot with it.
#[test]
fn loom_cancel_a_child_dropped_as_its_parent_is_cancelled_leaves_the_list_once() {
    loom::model(|| {
        let parent = super::CancellationToken::new();
        let child = parent.child_token();
        let survivor = parent.child_token();
        let dropper = thread::spawn(move || drop(child));
        parent.cancel();
        dropper.join().unwrap();
        assert!(survivor.is_cancelled());
    });
}
