//! The owned forms and the requests for many permits: `Semaphore::acquire_many` (its place in
//! the line, its partial grants, what a dropped one hands back, a request larger than the
//! semaphore holds), the owned futures and guards of `Semaphore`, `Mutex` and `RwLock` (they
//! are `'static`, move into spawned tasks and give back what they hold when dropped there).
//! Cases chosen from tokio's `tests/sync_semaphore.rs` and `sync_semaphore_owned.rs`, in
//! nbio's words.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use nbio::sync::{Mutex, RwLock, Semaphore, TryAcquireError};
use nbio::Builder;
use nbio_tests::{watched, WakeCounter};

/// Compiles only for a future that borrows nothing and may move to another thread.
fn spawnable<F: Future + Send + 'static>(future: F) -> F {
    future
}

#[test]
fn acquire_many_takes_and_gives_back_all_its_permits() {
    let semaphore = Semaphore::new(5);
    let counter = WakeCounter::new();
    let Poll::Ready(Ok(three)) = counter.poll(pin!(semaphore.acquire_many(3))) else {
        panic!("three of five free permits were not taken at once");
    };
    assert_eq!((three.num_permits(), semaphore.available_permits()), (3, 2));
    assert_eq!(
        semaphore.try_acquire_many(3).unwrap_err(),
        TryAcquireError::NoPermits
    );
    drop(three);
    assert_eq!(semaphore.available_permits(), 5);
    let none = semaphore.try_acquire_many(0).unwrap();
    assert_eq!(none.num_permits(), 0);
    drop(none);
    assert_eq!(semaphore.available_permits(), 5);
}

/// A request for many keeps its place: permits given back go to it until it has them all, and
/// a request for one behind it waits, although a permit is free by then.
#[test]
fn a_request_for_many_is_not_overtaken_by_requests_for_few() {
    let semaphore = Semaphore::new(3);
    let held = semaphore.try_acquire_many(3).unwrap();
    let (many, one) = (WakeCounter::new(), WakeCounter::new());
    let mut acquire_many = pin!(semaphore.acquire_many(2));
    let mut acquire_one = pin!(semaphore.acquire());
    assert!(many.poll(acquire_many.as_mut()).is_pending());
    assert!(one.poll(acquire_one.as_mut()).is_pending());
    drop(held); // three permits: two fill the first request, one goes to the second
    assert_eq!((many.wakes(), one.wakes()), (1, 1));
    let Poll::Ready(Ok(two)) = many.poll(acquire_many.as_mut()) else {
        panic!("many")
    };
    assert!(one.poll(acquire_one.as_mut()).is_ready());
    drop(two);

    let one_held = semaphore.try_acquire().unwrap(); // 2 free
    let mut acquire_three = pin!(semaphore.acquire_many(3));
    let mut late = pin!(semaphore.acquire());
    assert!(
        many.poll(acquire_three.as_mut()).is_pending(),
        "it takes the two free"
    );
    assert_eq!(semaphore.available_permits(), 0);
    assert!(
        semaphore.try_acquire().is_err(),
        "try_acquire overtook a waiting request"
    );
    assert!(
        one.poll(late.as_mut()).is_pending(),
        "acquire overtook a waiting request"
    );
    drop(one_held);
    let Poll::Ready(Ok(three)) = many.poll(acquire_three.as_mut()) else {
        panic!("the request for three did not get the permit given back");
    };
    assert_eq!(three.num_permits(), 3);
    assert!(
        one.poll(late.as_mut()).is_pending(),
        "all three went to the request for three"
    );
}

#[test]
fn an_acquire_many_dropped_while_it_waits_hands_back_the_permits_it_was_given() {
    let semaphore = Semaphore::new(5);
    let held = semaphore.try_acquire_many(3).unwrap();
    let (quitter, next) = (WakeCounter::new(), WakeCounter::new());
    let mut acquire_four = Box::pin(semaphore.acquire_many(4));
    let mut acquire_one = pin!(semaphore.acquire());
    assert!(quitter.poll(acquire_four.as_mut()).is_pending());
    assert_eq!(
        semaphore.available_permits(),
        0,
        "the request took the two free"
    );
    assert!(next.poll(acquire_one.as_mut()).is_pending());
    drop(acquire_four);
    assert_eq!(
        next.wakes(),
        1,
        "what it was given went to the waiter behind"
    );
    assert!(next.poll(acquire_one.as_mut()).is_ready());
    assert_eq!(
        semaphore.available_permits(),
        2,
        "and the rest to the count"
    );
    drop(held);
    assert_eq!(semaphore.available_permits(), 5);
}

/// The documented behaviour of a request larger than the semaphore holds: it waits, holding
/// what it was given, until permits are added or the semaphore is closed; closing gives back
/// what it held.
#[test]
fn a_request_for_more_than_the_semaphore_holds_waits_for_added_permits_or_a_close() {
    let semaphore = Semaphore::new(2);
    let counter = WakeCounter::new();
    let mut too_many = pin!(semaphore.acquire_many(3));
    assert!(counter.poll(too_many.as_mut()).is_pending());
    assert_eq!(
        semaphore.try_acquire_many(3).unwrap_err(),
        TryAcquireError::NoPermits
    );
    semaphore.add_permits(1);
    let Poll::Ready(Ok(three)) = counter.poll(too_many.as_mut()) else {
        panic!("the added permit did not complete the request");
    };
    assert_eq!(three.num_permits(), 3);
    drop(three);

    let mut too_many = pin!(semaphore.acquire_many(4));
    assert!(counter.poll(too_many.as_mut()).is_pending());
    assert_eq!(semaphore.available_permits(), 0);
    semaphore.close();
    assert!(matches!(
        counter.poll(too_many.as_mut()),
        Poll::Ready(Err(_))
    ));
    assert_eq!(
        semaphore.available_permits(),
        3,
        "the close gave back what it held"
    );
}

#[test]
fn owned_permits_live_in_spawned_tasks_and_come_back_when_they_end() {
    watched(|| {
        let rt = Builder::new().worker_threads(2).build().unwrap();
        let semaphore = Arc::new(Semaphore::new(4));
        rt.block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let permit = spawnable(Arc::clone(&semaphore).acquire_many_owned(2))
                    .await
                    .unwrap();
                assert_eq!(permit.num_permits(), 2);
                assert!(Arc::ptr_eq(permit.semaphore(), &semaphore));
                tasks.push(nbio::spawn(async move {
                    nbio::yield_now().await;
                    drop(permit);
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        });
        assert_eq!(semaphore.available_permits(), 4);
        let one = Arc::clone(&semaphore).try_acquire_owned().unwrap();
        let three = Arc::clone(&semaphore).try_acquire_many_owned(3).unwrap();
        assert!(Arc::clone(&semaphore).try_acquire_owned().is_err());
        one.forget();
        drop(three);
        assert_eq!(
            semaphore.available_permits(),
            3,
            "the forgotten permit stays out"
        );
    });
}

#[test]
fn an_owned_acquire_dropped_after_it_was_handed_a_permit_passes_it_on() {
    let semaphore = Arc::new(Semaphore::new(1));
    let held = semaphore.try_acquire().unwrap();
    let (quitter, next) = (WakeCounter::new(), WakeCounter::new());
    let mut first = Box::pin(Arc::clone(&semaphore).acquire_owned());
    let mut second = pin!(Arc::clone(&semaphore).acquire_owned());
    assert!(quitter.poll(first.as_mut()).is_pending());
    assert!(next.poll(second.as_mut()).is_pending());
    drop(held);
    assert_eq!(quitter.wakes(), 1);
    drop(first);
    assert_eq!(
        next.wakes(),
        1,
        "the dropped owned acquire passed its permit on"
    );
    assert!(next.poll(second.as_mut()).is_ready());
}

#[test]
fn an_owned_mutex_guard_moves_into_a_task_and_unlocks_there() {
    watched(|| {
        let rt = Builder::new().worker_threads(2).build().unwrap();
        let mutex = Arc::new(Mutex::new(0));
        rt.block_on(async {
            let mut tasks = Vec::new();
            for _ in 0..16 {
                let mut guard = spawnable(Arc::clone(&mutex).lock_owned()).await;
                assert!(Arc::ptr_eq(guard.mutex(), &mutex));
                tasks.push(nbio::spawn(async move {
                    nbio::yield_now().await; // still locked: nobody else counts meanwhile
                    *guard += 1;
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        });
        assert_eq!(*mutex.try_lock().unwrap(), 16);
        let guard = Arc::clone(&mutex).try_lock_owned().unwrap();
        assert!(Arc::clone(&mutex).try_lock_owned().is_err());
        assert_eq!(format!("{guard:?}"), "16");
    });
}

#[test]
fn a_waiting_owned_lock_dropped_after_it_was_handed_the_lock_passes_it_on() {
    let mutex = Arc::new(Mutex::new(()));
    let held = mutex.try_lock().unwrap();
    let (quitter, next) = (WakeCounter::new(), WakeCounter::new());
    let mut first = Box::pin(Arc::clone(&mutex).lock_owned());
    let mut second = pin!(Arc::clone(&mutex).lock_owned());
    assert!(quitter.poll(first.as_mut()).is_pending());
    assert!(next.poll(second.as_mut()).is_pending());
    drop(held);
    drop(first);
    assert_eq!(next.wakes(), 1);
    assert!(next.poll(second.as_mut()).is_ready());
}

#[test]
fn owned_rwlock_guards_move_into_tasks_and_let_go_there() {
    watched(|| {
        let rt = Builder::new().worker_threads(2).build().unwrap();
        let lock = Arc::new(RwLock::new(0));
        rt.block_on(async {
            let mut write = spawnable(Arc::clone(&lock).write_owned()).await;
            assert!(Arc::ptr_eq(write.rwlock(), &lock));
            let writer = nbio::spawn(async move {
                nbio::yield_now().await;
                *write += 1;
                write.downgrade() // a read lock, handed back to the caller
            });
            let read = writer.await.unwrap();
            assert_eq!(*read, 1);
            assert!(lock.try_write().is_err() && lock.try_read().is_ok());
            let readers: Vec<_> = (0..4)
                .map(|_| {
                    let lock = Arc::clone(&lock);
                    nbio::spawn(async move {
                        let read = spawnable(lock.read_owned()).await;
                        nbio::yield_now().await;
                        *read
                    })
                })
                .collect();
            drop(read);
            for reader in readers {
                assert_eq!(reader.await.unwrap(), 1);
            }
        });
        let read = Arc::clone(&lock).try_read_owned().unwrap();
        assert!(Arc::clone(&lock).try_write_owned().is_err());
        drop(read);
        let write = Arc::clone(&lock).try_write_owned().unwrap();
        assert!(Arc::clone(&lock).try_read_owned().is_err());
        drop(write);
    });
}

#[test]
fn an_owned_write_dropped_after_it_was_handed_the_lock_passes_it_on() {
    let lock = Arc::new(RwLock::new(()));
    let held = lock.try_read().unwrap();
    let (quitter, next) = (WakeCounter::new(), WakeCounter::new());
    let mut write = Box::pin(Arc::clone(&lock).write_owned());
    let mut read = pin!(Arc::clone(&lock).read_owned());
    assert!(quitter.poll(write.as_mut()).is_pending());
    assert!(
        next.poll(read.as_mut()).is_pending(),
        "behind the waiting writer"
    );
    drop(held);
    assert_eq!((quitter.wakes(), next.wakes()), (1, 0));
    drop(write);
    assert_eq!(next.wakes(), 1);
    assert!(next.poll(read.as_mut()).is_ready());
}
