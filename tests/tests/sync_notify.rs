//! `Notify`: `notify_one` wakes one waiter (the longest waiting) or stores one permit;
//! `notify_waiters` wakes everyone waiting and every `Notified` made before it, and stores
//! nothing.

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;

use nbio::sync::Notify;
use nbio_tests::{watched, WakeCounter};

#[test]
fn notify_one_wakes_exactly_one_waiter_the_longest_waiting() {
    let notify = Notify::new();
    let counters: Vec<WakeCounter> = (0..3).map(|_| WakeCounter::new()).collect();
    let mut a = pin!(notify.notified());
    let mut b = pin!(notify.notified());
    let mut c = pin!(notify.notified());
    assert!(counters[0].poll(a.as_mut()).is_pending());
    assert!(counters[1].poll(b.as_mut()).is_pending());
    assert!(counters[2].poll(c.as_mut()).is_pending());
    notify.notify_one();
    let wakes: Vec<usize> = counters.iter().map(WakeCounter::wakes).collect();
    assert_eq!(wakes, [1, 0, 0], "only the first waiter is woken");
    assert_eq!(counters[0].poll(a.as_mut()), Poll::Ready(()));
    assert!(
        counters[1].poll(b.as_mut()).is_pending(),
        "the others still wait"
    );
    notify.notify_one();
    assert_eq!(counters[1].poll(b.as_mut()), Poll::Ready(()));
    assert!(counters[2].poll(c.as_mut()).is_pending());
}

#[test]
fn notify_waiters_wakes_every_waiter_and_stores_no_permit() {
    let notify = Notify::new();
    let counter = WakeCounter::new();
    let mut a = pin!(notify.notified());
    let mut b = pin!(notify.notified());
    assert!(counter.poll(a.as_mut()).is_pending());
    assert!(counter.poll(b.as_mut()).is_pending());
    let unpolled = notify.notified(); // made before the call: covered too
    notify.notify_waiters();
    assert_eq!(counter.wakes(), 2);
    assert_eq!(counter.poll(a.as_mut()), Poll::Ready(()));
    assert_eq!(counter.poll(b.as_mut()), Poll::Ready(()));
    assert_eq!(counter.poll(pin!(unpolled)), Poll::Ready(()));
    // No permit: a Notified made after the call waits.
    assert!(counter.poll(pin!(notify.notified())).is_pending());
}

#[test]
fn a_notify_one_with_nobody_waiting_stores_one_permit_not_more() {
    let notify = Notify::new();
    notify.notify_one();
    notify.notify_one();
    notify.notify_one();
    let counter = WakeCounter::new();
    assert_eq!(counter.poll(pin!(notify.notified())), Poll::Ready(()));
    assert!(
        counter.poll(pin!(notify.notified())).is_pending(),
        "permits do not add up"
    );
}

#[test]
fn tasks_on_other_threads_are_woken_one_per_notify_one() {
    watched(|| {
        let notify = Arc::new(Notify::new());
        let woken = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let (notify, woken) = (Arc::clone(&notify), Arc::clone(&woken));
                std::thread::spawn(move || {
                    nbio::block_on(notify.notified());
                    woken.fetch_add(1, SeqCst);
                })
            })
            .collect();
        // Each notify_one either wakes a waiter or leaves the permit one will take: four
        // calls, spaced so that the permit is taken before the next, free all four.
        for expected in 1..=4 {
            notify.notify_one();
            while woken.load(SeqCst) < expected {
                std::thread::yield_now();
            }
        }
        for waiter in waiters {
            waiter.join().unwrap();
        }
        assert_eq!(woken.load(SeqCst), 4);
    });
}
