//! Fairness: a `Mutex`, a `Semaphore` and the senders waiting on a full channel are served in
//! the order they came; a newcomer does not take what a waiter was promised; a waiter that is
//! dropped gives its turn to the next one; and a task that never has to wait (its channel is
//! always full) still gives the others their turn.

use std::cell::{Cell, RefCell};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;

use nbio::sync::{mpsc, Mutex, Semaphore};
use nbio_tests::{watched, WakeCounter};

#[test]
fn mutex_waiters_get_the_lock_in_the_order_they_asked() {
    watched(|| {
        let order = nbio::block_on(async {
            let mutex = Arc::new(Mutex::new(()));
            let order = Rc::new(RefCell::new(Vec::new()));
            let held = mutex.lock().await;
            let tasks: Vec<_> = (0..6)
                .map(|n| {
                    let (mutex, order) = (Arc::clone(&mutex), Rc::clone(&order));
                    nbio::spawn_local(async move {
                        let _guard = mutex.lock().await;
                        order.borrow_mut().push(n);
                        nbio::yield_now().await; // hold it a while: the others stay queued
                    })
                })
                .collect();
            for _ in 0..3 {
                nbio::yield_now().await; // every task is queued on the mutex by now
            }
            drop(held);
            for task in tasks {
                task.await.unwrap();
            }
            Rc::try_unwrap(order).unwrap().into_inner()
        });
        assert_eq!(order, [0, 1, 2, 3, 4, 5]);
    });
}

#[test]
fn an_unlock_hands_the_lock_to_the_waiter_not_to_a_newcomer() {
    let mutex = Mutex::new(());
    let guard = mutex.try_lock().unwrap();
    let counter = WakeCounter::new();
    let mut waiter = pin!(mutex.lock());
    assert!(counter.poll(waiter.as_mut()).is_pending());
    drop(guard);
    assert!(mutex.try_lock().is_err(), "the lock went to the waiter");
    assert!(matches!(counter.poll(waiter.as_mut()), Poll::Ready(_)));
}

#[test]
fn a_dropped_lock_future_that_was_handed_the_lock_passes_it_on() {
    let mutex = Mutex::new(());
    let guard = mutex.try_lock().unwrap();
    let (first, second) = (WakeCounter::new(), WakeCounter::new());
    let mut quitter = Box::pin(mutex.lock());
    let mut next = pin!(mutex.lock());
    assert!(first.poll(quitter.as_mut()).is_pending());
    assert!(second.poll(next.as_mut()).is_pending());
    drop(guard); // hands the lock to the first waiter…
    assert_eq!((first.wakes(), second.wakes()), (1, 0));
    drop(quitter); // …which leaves without using it: the next waiter gets it
    assert_eq!(second.wakes(), 1);
    assert!(matches!(second.poll(next.as_mut()), Poll::Ready(_)));
}

#[test]
fn a_dropped_waiter_gives_up_its_place_and_the_order_of_the_rest_holds() {
    let semaphore = Semaphore::new(0);
    let counters: Vec<WakeCounter> = (0..3).map(|_| WakeCounter::new()).collect();
    let mut a = pin!(semaphore.acquire());
    let mut b = Box::pin(semaphore.acquire());
    let mut c = pin!(semaphore.acquire());
    assert!(counters[0].poll(a.as_mut()).is_pending());
    assert!(counters[1].poll(b.as_mut()).is_pending());
    assert!(counters[2].poll(c.as_mut()).is_pending());
    drop(b);
    semaphore.add_permits(1);
    assert_eq!(counters[0].wakes(), 1, "the first in line");
    semaphore.add_permits(1);
    assert_eq!(counters[2].wakes(), 1, "then the third: the second left");
    assert!(matches!(counters[0].poll(a.as_mut()), Poll::Ready(Ok(_))));
    assert!(matches!(counters[2].poll(c.as_mut()), Poll::Ready(Ok(_))));
    assert_eq!(semaphore.available_permits(), 2, "both came back");
}

#[test]
fn senders_waiting_on_a_full_channel_get_in_the_order_they_came() {
    watched(|| {
        let received = nbio::block_on(async {
            let (tx, mut rx) = mpsc::channel(1);
            tx.send(0).await.unwrap(); // full from now on
            let senders: Vec<_> = (1..=5)
                .map(|n| {
                    let tx = tx.clone();
                    nbio::spawn(async move { tx.send(n).await.unwrap() })
                })
                .collect();
            for _ in 0..3 {
                nbio::yield_now().await; // all five are parked
            }
            drop(tx);
            let mut received = Vec::new();
            while let Some(n) = rx.recv().await {
                received.push(n);
            }
            for sender in senders {
                sender.await.unwrap();
            }
            received
        });
        assert_eq!(received, [0, 1, 2, 3, 4, 5]);
    });
}

#[test]
fn a_receiver_that_never_has_to_wait_still_lets_other_tasks_run() {
    watched(|| {
        let (during, messages) = nbio::block_on(async {
            const MESSAGES: u32 = 10_000;
            let (tx, mut rx) = mpsc::unbounded_channel();
            for n in 0..MESSAGES {
                tx.send(n).unwrap();
            }
            let ticks = Rc::new(Cell::new(0u32));
            let stop = Rc::new(Cell::new(false));
            let ticker = nbio::spawn_local({
                let (ticks, stop) = (Rc::clone(&ticks), Rc::clone(&stop));
                async move {
                    while !stop.get() {
                        ticks.set(ticks.get() + 1);
                        nbio::yield_now().await;
                    }
                }
            });
            let drainer = nbio::spawn_local({
                let ticks = Rc::clone(&ticks);
                async move {
                    let before = ticks.get();
                    let mut received = 0;
                    while received < MESSAGES {
                        rx.recv().await.unwrap(); // always ready: only the budget yields
                        received += 1;
                    }
                    (ticks.get() - before, received)
                }
            });
            let result = drainer.await.unwrap();
            stop.set(true);
            ticker.await.unwrap();
            result
        });
        assert_eq!(messages, 10_000);
        // The budget is 128 completions per poll: the drainer yields about 78 times.
        assert!(
            during >= 40,
            "the other task ran only {during} times meanwhile"
        );
    });
}
