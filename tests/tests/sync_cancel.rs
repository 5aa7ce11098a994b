//! Cancel safety, drawn at random: futures of `send`, `recv`, `acquire` and `lock` are polled
//! by hand and dropped at random points, and at the end every message and every permit is
//! accounted for. `PROPTEST_CASES` sets how many schedules are tried (default 256).
//!
//! What must hold, whatever the schedule:
//! - every message is dropped exactly once (none leaked, none dropped twice), and is received
//!   at most once;
//! - a send that completed with `Ok` was received; a message is received only if its send
//!   completed or its future was dropped after the receiver had taken the message in;
//! - the semaphore and the mutex end with every permit back, and a permit is never idle in the
//!   count while a waiter waits for one (that waiter would sleep forever).

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::{Arc, Mutex as StdMutex};
use std::task::Poll;

use nbio::sync::{mpsc, Mutex, Semaphore, SemaphorePermit};
use nbio_tests::WakeCounter;
use proptest::prelude::*;

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
