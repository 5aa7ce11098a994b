//! The primitives that the cross-thread protocols are built on, and the one handshake that is
//! not a task's state word or a socket's readiness word: the doorbell between a sleeping loop and
//! a thread that brings work.
//!
//! Under `--cfg nbio_loom` they are loom's, so that `cargo test --lib` with that flag
//! model-checks the task state machine, the readiness protocol and this handshake over every
//! interleaving loom finds (`task/loom_tests.rs`, `reactor/loom_tests.rs`). The project's own
//! cfg name keeps dependencies that have loom modes of their own (tokio, concurrent-queue) out.

#[cfg(nbio_loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize};
#[cfg(nbio_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(not(nbio_loom))]
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize};
#[cfg(not(nbio_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

use std::sync::atomic::Ordering::{AcqRel, Acquire};

/// The loop is blocked in the reactor, or about to be.
const PARKED: usize = 1;
/// Tasks woken from other threads wait in the injector.
pub(crate) const INJECTED: usize = 1 << 1;
/// The future passed to `block_on` was woken.
pub(crate) const MAIN_WOKEN: usize = 1 << 2;
/// Everything the loop must look at before it blocks.
const WORK: usize = INJECTED | MAIN_WOKEN;

/// The handshake between the loop going to sleep in the reactor and a thread that brings it
/// work: whether the loop is parked, and what work is waiting, in one atomic word.
///
/// Both sides change the word with a read-modify-write, and all such operations on one atomic
/// happen in a single total order. So either the loop's `park` comes first, and the thread's
/// `ring` sees `PARKED` and notifies the reactor; or the `ring` comes first, and `park` sees the
/// work and does not block. Neither can miss the other, and no `SeqCst` subtlety is needed (a
/// store-then-load on two separate flags would need it, and loom cannot check that).
pub(crate) struct Doorbell {
    state: AtomicUsize,
}

impl Doorbell {
    pub(crate) fn new() -> Doorbell {
        Doorbell {
            state: AtomicUsize::new(0),
        }
    }

    /// Publishes `work`. True if the loop may be blocked: the caller must notify the reactor.
    pub(crate) fn ring(&self, work: usize) -> bool {
        self.state.fetch_or(work, AcqRel) & PARKED != 0
    }

    /// The loop would like to block. True if it may; false if work is waiting (then it is not
    /// marked parked). After a blocking wait the loop calls `unparked`.
    pub(crate) fn park(&self) -> bool {
        let before = self.state.fetch_or(PARKED, AcqRel);
        if before & WORK != 0 {
            self.unparked();
            return false;
        }
        true
    }

    /// The loop is running again.
    pub(crate) fn unparked(&self) {
        self.state.fetch_and(!PARKED, AcqRel);
    }

    /// Whether any of `work` is waiting.
    pub(crate) fn pending(&self, work: usize) -> bool {
        self.state.load(Acquire) & work != 0
    }

    /// Takes `work` if it is waiting; true if it was.
    pub(crate) fn take(&self, work: usize) -> bool {
        self.pending(work) && self.state.fetch_and(!work, AcqRel) & work != 0
    }
}
