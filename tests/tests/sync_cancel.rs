//! Cancel safety: what a future of `nbio::sync` promises when it is dropped before it completed
//! (the losing branch of a `select!`, a `timeout` that elapsed, an aborted task). Each claim
//! its documentation makes has a test of its own first; then the same futures are polled by
//! hand and dropped at random points, and at the end every message and every permit is
//! accounted for. `PROPTEST_CASES` sets how many schedules are tried (default 256).
//!
//! What must hold, whatever the schedule:
//! - every message is dropped exactly once (none leaked, none dropped twice), and is received
//!   at most once;
//! - a message is received if and only if its send completed with `Ok`: a send future dropped
//!   before it completed has sent nothing, even if room had been made for it;
//! - the semaphore and the mutex end with every permit back, and a permit is never idle in the
//!   count while a waiter waits for one (that waiter would sleep forever).

use std::collections::BTreeSet;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex as StdMutex};
use std::task::Poll;

use nbio::sync::mpsc::{TryRecvError, TrySendError};
use nbio::sync::{mpsc, oneshot, Mutex, Notify, Semaphore, SemaphorePermit};
use nbio_tests::{DropCounter, WakeCounter};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// One test per claim.

#[test]
fn a_send_dropped_after_the_receiver_made_room_for_it_has_sent_nothing() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(1).unwrap();
    let counter = WakeCounter::new();
    let mut send = Box::pin(tx.send(2));
    assert!(counter.poll(send.as_mut()).is_pending(), "full: it waits");
    assert_eq!(rx.try_recv(), Ok(1)); // room for the waiting send, which is woken…
    assert_eq!(counter.wakes(), 1);
    drop(send); // …and dropped before it ran again: the losing branch of a select
    assert_eq!(
        rx.try_recv(),
        Err(TryRecvError::Empty),
        "the dropped send delivered its message"
    );
    tx.try_send(3)
        .expect("the room made for the dropped send is free again");
    assert_eq!(rx.try_recv(), Ok(3));
}

/// A full channel of capacity 1 with two sends waiting on it, of 2 then of 3. The first is
/// dropped before it completed: after the receiver took the message ahead of them and so made
/// room for it (`after_room`), or before. Either way 2 is never received, and 3 gets in.
fn two_waiting_sends_and_the_first_is_dropped(after_room: bool) {
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(1).unwrap();
    let (first, second) = (WakeCounter::new(), WakeCounter::new());
    let mut quitter = Box::pin(tx.send(2));
    let mut next = pin!(tx.send(3));
    assert!(first.poll(quitter.as_mut()).is_pending());
    assert!(second.poll(next.as_mut()).is_pending());
    if after_room {
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(
            (first.wakes(), second.wakes()),
            (1, 0),
            "first come, first in"
        );
        drop(quitter);
    } else {
        drop(quitter);
        assert_eq!(rx.try_recv(), Ok(1));
    }
    assert_eq!(
        second.wakes(),
        1,
        "the room went to the next waiting sender"
    );
    assert!(
        matches!(tx.try_send(4), Err(TrySendError::Full(4))),
        "a newcomer took the room a waiting sender was given"
    );
    assert!(matches!(second.poll(next.as_mut()), Poll::Ready(Ok(()))));
    assert_eq!(rx.try_recv(), Ok(3), "2 was never sent");
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn a_send_dropped_after_room_was_made_for_it_passes_the_room_to_the_next_waiting_sender() {
    two_waiting_sends_and_the_first_is_dropped(true);
}

#[test]
fn a_send_dropped_while_the_channel_is_full_has_sent_nothing_and_leaves_the_line() {
    two_waiting_sends_and_the_first_is_dropped(false);
}

#[test]
fn a_recv_dropped_while_it_waits_loses_no_message() {
    let (tx, mut rx) = mpsc::channel(1);
    let counter = WakeCounter::new();
    {
        let mut recv = pin!(rx.recv());
        assert!(counter.poll(recv.as_mut()).is_pending());
    } // dropped while it waits
    tx.try_send(1).unwrap();
    assert_eq!(counter.wakes(), 0, "the dropped recv's waker is forgotten");
    assert_eq!(rx.try_recv(), Ok(1), "the message stayed in the channel");
}

#[test]
fn an_acquire_dropped_after_it_was_handed_a_permit_passes_the_permit_to_the_next_waiter() {
    let semaphore = Semaphore::new(0);
    let (first, second) = (WakeCounter::new(), WakeCounter::new());
    let mut quitter = Box::pin(semaphore.acquire());
    let mut next = pin!(semaphore.acquire());
    assert!(first.poll(quitter.as_mut()).is_pending());
    assert!(second.poll(next.as_mut()).is_pending());
    semaphore.add_permits(1); // handed to the first waiter…
    assert_eq!((first.wakes(), second.wakes()), (1, 0));
    drop(quitter); // …which leaves without using it
    assert_eq!(second.wakes(), 1, "the permit went on to the next waiter");
    let Poll::Ready(Ok(permit)) = second.poll(next.as_mut()) else {
        panic!("the next waiter did not get the permit");
    };
    drop(permit);
    assert_eq!(semaphore.available_permits(), 1, "and it came back");
}

// A `lock()` dropped after the lock was handed to it passes it on: sync_fairness.rs,
// `a_dropped_lock_future_that_was_handed_the_lock_passes_it_on`.

#[test]
fn a_notified_dropped_after_notify_one_chose_it_passes_the_notification_on() {
    let notify = Notify::new();
    let (first, second) = (WakeCounter::new(), WakeCounter::new());
    let mut quitter = Box::pin(notify.notified());
    let mut next = pin!(notify.notified());
    assert!(first.poll(quitter.as_mut()).is_pending());
    assert!(second.poll(next.as_mut()).is_pending());
    notify.notify_one(); // chooses the first waiter…
    drop(quitter); // …which leaves without running
    assert_eq!(
        second.wakes(),
        1,
        "the notification went on to the next waiter"
    );
    assert_eq!(second.poll(next.as_mut()), Poll::Ready(()));
}

#[test]
fn a_notified_dropped_after_notify_one_chose_it_leaves_the_permit_when_nobody_else_waits() {
    let notify = Notify::new();
    let counter = WakeCounter::new();
    let mut quitter = Box::pin(notify.notified());
    assert!(counter.poll(quitter.as_mut()).is_pending());
    notify.notify_one();
    drop(quitter);
    assert_eq!(
        counter.poll(pin!(notify.notified())),
        Poll::Ready(()),
        "the notification was kept as the permit"
    );
}

#[test]
fn a_oneshot_receiver_dropped_drops_the_value_sent_and_nothing_else_is_lost() {
    let drops = DropCounter::new();
    let (tx, rx) = oneshot::channel();
    assert!(tx.send(drops.guard()).is_ok(), "the receiver is there");
    drop(rx);
    assert_eq!(drops.drops(), 1, "the value went with the receiver, once");
}

#[test]
fn a_oneshot_closed_future_dropped_leaves_the_sender_able_to_send() {
    let (mut tx, mut rx) = oneshot::channel();
    let counter = WakeCounter::new();
    {
        let mut closed = pin!(tx.closed());
        assert!(counter.poll(closed.as_mut()).is_pending());
    }
    tx.send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
}

// ---------------------------------------------------------------------------------------------
// The same claims, over random schedules.

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256)
}

/// A message that records its own drop.
struct Message {
    id: usize,
    dropped: Arc<StdMutex<Vec<usize>>>,
}

impl Drop for Message {
    fn drop(&mut self) {
        self.dropped.lock().unwrap().push(self.id);
    }
}

#[derive(Debug, Clone)]
enum ChannelOp {
    /// Start a send and poll it once.
    Send,
    /// Poll the n-th pending send again.
    PollSend(usize),
    /// Drop the n-th pending send.
    DropSend(usize),
    /// Poll a `recv` future once, then drop it (it may have been waiting).
    Recv,
    TryRecv,
}

fn channel_op() -> impl Strategy<Value = ChannelOp> {
    prop_oneof![
        3 => Just(ChannelOp::Send),
        2 => (0..8usize).prop_map(ChannelOp::PollSend),
        2 => (0..8usize).prop_map(ChannelOp::DropSend),
        2 => Just(ChannelOp::Recv),
        1 => Just(ChannelOp::TryRecv),
    ]
}

type PendingSend<'a> = (usize, Pin<Box<mpsc::SendFuture<'a, Message>>>);

fn run_channel(capacity: usize, ops: &[ChannelOp]) -> Result<(), TestCaseError> {
    let dropped = Arc::new(StdMutex::new(Vec::new()));
    let (tx, mut rx) = mpsc::channel::<Message>(capacity);
    let waker = WakeCounter::new();
    let (mut next_id, mut sent_ok, mut received) = (0, BTreeSet::new(), Vec::new());
    let mut pending: Vec<PendingSend<'_>> = Vec::new();
    let record = |message: Message, received: &mut Vec<usize>| received.push(message.id);
    for op in ops {
        match *op {
            ChannelOp::Send => {
                let message = Message {
                    id: next_id,
                    dropped: Arc::clone(&dropped),
                };
                let mut future = Box::pin(tx.send(message));
                match waker.poll(future.as_mut()) {
                    Poll::Ready(result) => {
                        prop_assert!(result.is_ok());
                        sent_ok.insert(next_id);
                    }
                    Poll::Pending => pending.push((next_id, future)),
                }
                next_id += 1;
            }
            ChannelOp::PollSend(n) if !pending.is_empty() => {
                let at = n % pending.len();
                if let Poll::Ready(result) = waker.poll(pending[at].1.as_mut()) {
                    prop_assert!(result.is_ok());
                    sent_ok.insert(pending.remove(at).0);
                }
            }
            ChannelOp::DropSend(n) if !pending.is_empty() => {
                drop(pending.remove(n % pending.len()));
            }
            ChannelOp::Recv => {
                let mut future = Box::pin(rx.recv());
                if let Poll::Ready(message) = waker.poll(future.as_mut()) {
                    record(message.expect("a sender lives"), &mut received);
                }
            }
            ChannelOp::TryRecv => {
                if let Ok(message) = rx.try_recv() {
                    record(message, &mut received);
                }
            }
            ChannelOp::PollSend(_) | ChannelOp::DropSend(_) => {}
        }
    }
    drop(pending);
    drop(tx);
    while let Ok(message) = rx.try_recv() {
        record(message, &mut received);
    }
    drop(rx);
    let mut dropped = dropped.lock().unwrap().clone();
    dropped.sort_unstable();
    prop_assert_eq!(
        dropped,
        (0..next_id).collect::<Vec<_>>(),
        "each message dropped once"
    );
    let received_set: BTreeSet<usize> = received.iter().copied().collect();
    prop_assert_eq!(
        received_set.len(),
        received.len(),
        "a message received twice"
    );
    prop_assert!(
        sent_ok.is_subset(&received_set),
        "a completed send was not received"
    );
    prop_assert!(
        received_set.is_subset(&sent_ok),
        "a send dropped before it completed was received: {:?}",
        received_set.difference(&sent_ok).collect::<Vec<_>>()
    );
    Ok(())
}

#[derive(Debug, Clone)]
enum PermitOp {
    /// Start an acquire (or a lock) and poll it once.
    Acquire,
    Poll(usize),
    DropWaiter(usize),
    /// Give back the n-th permit held.
    Release(usize),
}

fn permit_op() -> impl Strategy<Value = PermitOp> {
    prop_oneof![
        3 => Just(PermitOp::Acquire),
        2 => (0..8usize).prop_map(PermitOp::Poll),
        2 => (0..8usize).prop_map(PermitOp::DropWaiter),
        3 => (0..8usize).prop_map(PermitOp::Release),
    ]
}

fn run_semaphore(permits: usize, ops: &[PermitOp]) -> Result<(), TestCaseError> {
    let semaphore = Semaphore::new(permits);
    let waker = WakeCounter::new();
    let mut waiting: Vec<Pin<Box<nbio::sync::Acquire<'_>>>> = Vec::new();
    let mut held: Vec<SemaphorePermit<'_>> = Vec::new();
    for op in ops {
        match *op {
            PermitOp::Acquire => {
                let mut future = Box::pin(semaphore.acquire());
                match waker.poll(future.as_mut()) {
                    Poll::Ready(permit) => held.push(permit.unwrap()),
                    Poll::Pending => waiting.push(future),
                }
            }
            PermitOp::Poll(n) if !waiting.is_empty() => {
                let at = n % waiting.len();
                if let Poll::Ready(permit) = waker.poll(waiting[at].as_mut()) {
                    held.push(permit.unwrap());
                    drop(waiting.remove(at));
                }
            }
            PermitOp::DropWaiter(n) if !waiting.is_empty() => {
                drop(waiting.remove(n % waiting.len()));
            }
            PermitOp::Release(n) if !held.is_empty() => {
                drop(held.remove(n % held.len()));
            }
            _ => {}
        }
        let free = semaphore.available_permits();
        prop_assert!(held.len() + free <= permits, "more permits than there are");
        if free > 0 {
            // A free permit with a waiter still waiting would strand that waiter: every
            // waiter must complete now (it was handed a permit, or none is left for it).
            for future in &mut waiting {
                prop_assert!(
                    waker.poll(future.as_mut()).is_ready(),
                    "a waiter waits while {} permits are free",
                    free
                );
            }
            waiting.clear(); // completed: their permits were dropped at once
        }
    }
    drop(waiting);
    drop(held);
    prop_assert_eq!(semaphore.available_permits(), permits, "a permit was lost");
    Ok(())
}

fn run_mutex(ops: &[PermitOp]) -> Result<(), TestCaseError> {
    let mutex = Mutex::new(0u32);
    let waker = WakeCounter::new();
    let mut waiting = Vec::new();
    let mut held = Vec::new();
    for op in ops {
        match *op {
            PermitOp::Acquire => {
                let mut future = Box::pin(mutex.lock());
                match waker.poll(future.as_mut()) {
                    Poll::Ready(guard) => held.push(guard),
                    Poll::Pending => waiting.push(future),
                }
            }
            PermitOp::Poll(n) if !waiting.is_empty() => {
                let at = n % waiting.len();
                if let Poll::Ready(guard) = waker.poll(waiting[at].as_mut()) {
                    held.push(guard);
                    drop(waiting.remove(at));
                }
            }
            PermitOp::DropWaiter(n) if !waiting.is_empty() => {
                drop(waiting.remove(n % waiting.len()));
            }
            PermitOp::Release(n) if !held.is_empty() => {
                let mut guard = held.remove(n % held.len());
                *guard += 1;
            }
            _ => {}
        }
        prop_assert!(held.len() <= 1, "two guards at once");
    }
    drop(held);
    drop(waiting);
    prop_assert!(mutex.try_lock().is_ok(), "the lock was lost");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn dropping_send_and_recv_futures_at_random_loses_and_duplicates_no_message(
        capacity in 1..4usize,
        ops in prop::collection::vec(channel_op(), 1..80),
    ) {
        run_channel(capacity, &ops)?;
    }

    #[test]
    fn dropping_acquire_futures_at_random_loses_no_permit(
        permits in 1..4usize,
        ops in prop::collection::vec(permit_op(), 1..80),
    ) {
        run_semaphore(permits, &ops)?;
    }

    #[test]
    fn dropping_lock_futures_at_random_loses_no_lock(
        ops in prop::collection::vec(permit_op(), 1..80),
    ) {
        run_mutex(&ops)?;
    }
}
