//! The primitives every cross-thread protocol of nbio is built on: atomics and a mutex, and the
//! one rule for calling a waker that nbio did not make.
//!
//! Under `--cfg nbio_loom` the atomics, the mutex and the cell are loom's, so that
//! `cargo test --lib` with that flag model-checks the protocols built on them (the task state
//! machine, the readiness word, the doorbell, the watchdog's sleep, the wake protocols of
//! `nbio::sync`) over every interleaving loom finds. The project's own cfg name keeps
//! dependencies that have loom modes of their own (tokio, concurrent-queue) out of it.

#[cfg(nbio_loom)]
pub(crate) use ::loom::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
};
#[cfg(nbio_loom)]
pub(crate) use ::loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(nbio_loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize,
};
#[cfg(not(nbio_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

// A cell whose accesses loom checks: under loom, two accesses that are not ordered by the
// protocol (one of them a write) fail the model. The std version below has the same two
// methods and compiles to a plain `UnsafeCell`.
#[cfg(nbio_loom)]
pub(crate) use ::loom::cell::UnsafeCell;

/// `std::cell::UnsafeCell` with loom's access methods: `with` for a read, `with_mut` for a
/// write, each handing the closure a raw pointer that the caller's protocol makes valid.
#[cfg(not(nbio_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(nbio_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Locks a std `Mutex`, ignoring poisoning: the data of a poisoned lock is taken as it is.
///
/// std poisons a lock whose holder panicked, in case the panic left its data half updated.
/// nbio's std locks guard lists, maps and queues, and each critical section is a single
/// operation on one of them (a push, a pop, an insert, a removal, a field set), which a panic
/// cannot leave half done: the data behind a poisoned lock is whole. Refusing it would only
/// turn one panic, already reported by the thread it happened on, into a panic in every thread
/// that takes the lock after it.
///
/// It takes std's `Mutex` in both configurations, also under `--cfg nbio_loom`, where this
/// module's [`Mutex`] is loom's: a lock that a loom model checks is locked where it is used
/// (the blocking pool's queue, `blocking/queue.rs`).
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

use std::panic::{self, AssertUnwindSafe};
use std::task::Waker;

/// Wakes `waker`, which may belong to anyone: a socket can serve a task of another runtime, or
/// a future polled by a hand-written executor, and nbio calls those wakers from its own loop.
/// A waker that panics must not take the loop down with it (every other task would be lost),
/// so the panic is caught and reported on one line, and the loop goes on.
pub(crate) fn wake_guarded(waker: Waker) {
    if panic::catch_unwind(AssertUnwindSafe(|| waker.wake())).is_err() {
        report_waker_panic();
    }
}

/// As [`wake_guarded`], keeping the waker.
pub(crate) fn wake_by_ref_guarded(waker: &Waker) {
    if panic::catch_unwind(AssertUnwindSafe(|| waker.wake_by_ref())).is_err() {
        report_waker_panic();
    }
}

#[cold]
fn report_waker_panic() {
    eprintln!(
        "nbio: a waker panicked when nbio woke it (a waker of another executor, or a \
         hand-written one); the panic was caught and that wake is lost, the runtime goes on"
    );
}
