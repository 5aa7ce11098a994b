//! The primitives every cross-thread protocol of nbio is built on: atomics and a mutex, and the
//! one rule for calling a waker that nbio did not make.
//!
//! Under `--cfg nbio_loom` the atomics and the mutex are loom's, so that `cargo test --lib`
//! with that flag model-checks the protocols built on them (the task state machine, the
//! readiness word, the doorbell, the watchdog's sleep) over every interleaving loom finds. The
//! project's own cfg name keeps dependencies that have loom modes of their own (tokio,
//! concurrent-queue) out of it.

#[cfg(nbio_loom)]
pub(crate) use ::loom::sync::atomic::{fence, AtomicPtr, AtomicU64, AtomicUsize};
#[cfg(nbio_loom)]
pub(crate) use ::loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(not(nbio_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicPtr, AtomicU64, AtomicUsize};
#[cfg(not(nbio_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

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
