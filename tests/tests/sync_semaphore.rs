//! `Semaphore` bounds how many hold a permit at once (an atomic maximum of concurrent holders
//! never passes `n`), gives every permit back, and wakes its waiters when it is closed or given
//! more permits.

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;
use std::thread;

use nbio::sync::{Semaphore, TryAcquireError};
use nbio_tests::{watched, WakeCounter};

const PERMITS: usize = 3;

#[test]
fn no_more_than_n_tasks_on_several_threads_hold_a_permit_at_once() {
    watched(|| {
        let semaphore = Arc::new(Semaphore::new(PERMITS));
        let (holding, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (semaphore, holding, most) = (
                    Arc::clone(&semaphore),
                    Arc::clone(&holding),
                    Arc::clone(&most),
                );
                thread::spawn(move || {
                    nbio::block_on(async move {
                        let tasks: Vec<_> = (0..10)
                            .map(|_| {
                                let (semaphore, holding, most) = (
                                    Arc::clone(&semaphore),
                                    Arc::clone(&holding),
                                    Arc::clone(&most),
                                );
                                nbio::spawn(async move {
                                    for _ in 0..100 {
                                        let _permit = semaphore.acquire().await.unwrap();
                                        let now = holding.fetch_add(1, SeqCst) + 1;
                                        most.fetch_max(now, SeqCst);
                                        nbio::yield_now().await;
                                        holding.fetch_sub(1, SeqCst);
                                    }
                                })
                            })
                            .collect();
                        for task in tasks {
                            task.await.unwrap();
                        }
                    })
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let most = most.load(SeqCst);
        assert!(
            most <= PERMITS,
            "{most} holders at once with {PERMITS} permits"
        );
        assert!(
            most >= 2,
            "the permits were shared ({most} at most): the test did its job"
        );
        assert_eq!(
            semaphore.available_permits(),
            PERMITS,
            "every permit came back"
        );
    });
}

#[test]
fn closing_wakes_every_waiter_with_an_error_and_refuses_later_ones() {
    let semaphore = Semaphore::new(0);
    let counter = WakeCounter::new();
    let mut first = pin!(semaphore.acquire());
    let mut second = pin!(semaphore.acquire());
    assert!(counter.poll(first.as_mut()).is_pending());
    assert!(counter.poll(second.as_mut()).is_pending());
    semaphore.close();
    assert_eq!(counter.wakes(), 2);
    assert!(matches!(counter.poll(first.as_mut()), Poll::Ready(Err(_))));
    assert!(matches!(counter.poll(second.as_mut()), Poll::Ready(Err(_))));
    assert_eq!(
        semaphore.try_acquire().unwrap_err(),
        TryAcquireError::Closed
    );
    let err = nbio::block_on(semaphore.acquire()).unwrap_err();
    assert!(err.to_string().contains("closed"), "{err}");
}

#[test]
fn add_permits_serves_waiters_first_then_the_count() {
    let semaphore = Semaphore::new(0);
    let counter = WakeCounter::new();
    let mut waiter = pin!(semaphore.acquire());
    assert!(counter.poll(waiter.as_mut()).is_pending());
    semaphore.add_permits(3);
    assert_eq!(counter.wakes(), 1);
    assert_eq!(semaphore.available_permits(), 2, "one went to the waiter");
    let Poll::Ready(Ok(permit)) = counter.poll(waiter.as_mut()) else {
        panic!("the waiter got its permit");
    };
    drop(permit);
    assert_eq!(semaphore.available_permits(), 3);
}

#[test]
fn a_forgotten_permit_leaves_the_count_for_good() {
    let semaphore = Semaphore::new(2);
    semaphore.try_acquire().unwrap().forget();
    assert_eq!(semaphore.available_permits(), 1);
    let held = semaphore.try_acquire().unwrap();
    assert_eq!(
        semaphore.try_acquire().unwrap_err(),
        TryAcquireError::NoPermits
    );
    drop(held);
    assert_eq!(semaphore.available_permits(), 1);
}

#[test]
#[should_panic(expected = "MAX_PERMITS")]
fn too_many_permits_is_a_clear_panic() {
    let semaphore = Semaphore::new(Semaphore::MAX_PERMITS);
    semaphore.add_permits(1);
}
