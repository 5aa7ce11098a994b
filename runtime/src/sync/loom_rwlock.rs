//! Model checks of the request for many permits and of the `RwLock` built on it, over every
//! interleaving loom explores (run as `loom_tests.rs` says). Each model names the step of the
//! protocol that it checks, and was seen to fail with that step removed.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;

use super::{RwLock, Semaphore};

struct Noop;

impl Wake for Noop {
    fn wake(self: StdArc<Self>) {}
}

/// Explores every interleaving with at most three preemptions: each model has three threads,
/// each taking the waiter list's lock, and an unbounded search does not finish in minutes.
fn model(body: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(body);
}

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let waker = Waker::from(StdArc::new(Noop));
    future.poll(&mut Context::from_waker(&waker))
}

/// Guard: a write request is served only when it holds every permit (`hand_out` leaves a
/// partly filled request first in line, unwoken). Two readers hold the lock, a writer waits, a
/// second reader comes: when the first reader leaves, the writer must not enter beside the
/// second. Wake the writer on a partial grant and it writes while a reader reads (loom reports
/// the two accesses of the cell as unordered, or the reader sees the write).
#[test]
fn loom_rwlock_a_writer_enters_only_when_the_last_reader_before_it_left() {
    model(|| {
        let lock = Arc::new(RwLock::new(0));
        let (first, second) = (lock.try_read().unwrap(), lock.try_read().unwrap());
        let writer = thread::spawn({
            let lock = Arc::clone(&lock);
            move || *block_on(lock.write()) += 1
        });
        let reader = thread::spawn({
            let lock = Arc::clone(&lock);
            move || {
                let value = *block_on(lock.read());
                assert!(value == 0 || value == 1);
            }
        });
        drop(first);
        assert_eq!(*second, 0, "the writer came in beside a reader");
        drop(second);
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(*lock.try_write().expect("every permit came back"), 1);
    });
}

/// Guard: a request for many that is dropped gives back what it was given (`leave` hands out
/// `granted`, a part of the request as much as all of it). A request for two takes the one
/// free permit as it queues and is dropped while the other is given back; whatever the order,
/// a waiter for one gets in and the count is whole at the end. Hand back only a complete
/// request and the partial one is lost: the count ends short, or the waiter sleeps forever.
#[test]
fn loom_semaphore_a_dropped_request_for_many_gives_back_its_partial_grant() {
    model(|| {
        let semaphore = Arc::new(Semaphore::new(2));
        semaphore.try_acquire().unwrap().forget(); // held by the thread below
        let quitter = thread::spawn({
            let semaphore = Arc::clone(&semaphore);
            move || {
                let mut two = pin!(semaphore.acquire_many(2));
                drop(poll_once(two.as_mut())); // done, or queued with a part: then dropped
            }
        });
        let holder = thread::spawn({
            let semaphore = Arc::clone(&semaphore);
            move || semaphore.add_permits(1) // what dropping the held permit does
        });
        drop(block_on(semaphore.acquire()).unwrap());
        quitter.join().unwrap();
        holder.join().unwrap();
        assert_eq!(
            semaphore.available_permits(),
            2,
            "no permit lost or made up"
        );
    });
}
