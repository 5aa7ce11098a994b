//! The doorbell: the handshake between a loop going to sleep in the reactor and a thread that
//! brings it work.
//!
//! The article's loop never sleeps (it spins on `select(..., 0)`), so it needs no doorbell.
//! nbio's loop blocks in the kernel when it has nothing to do, and a thread that then wakes one
//! of its tasks must end that block with `Reactor::notify`, an `eventfd` write. Doing that on
//! every wake would cost a syscall per wake even while the loop is busy; skipping it while the
//! loop is about to block would lose the wake. The doorbell tells the two apart.

use std::sync::atomic::Ordering::{AcqRel, Acquire};

use crate::loom::AtomicUsize;

/// The loop is blocked in the reactor, or about to be.
const PARKED: usize = 1;
/// Tasks woken (or spawned) by other threads wait in the injection queue.
pub(crate) const INJECTED: usize = 1 << 1;
/// The future passed to `block_on` was woken.
pub(crate) const MAIN_WOKEN: usize = 1 << 2;
/// Everything the loop must look at before it blocks.
const WORK: usize = INJECTED | MAIN_WOKEN;

/// What a `ring` found.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rang {
    /// The loop may be blocked in the reactor: notify it.
    pub(crate) parked: bool,
    /// The work was not waiting already.
    pub(crate) fresh: bool,
}

/// Whether the loop is parked, and what work is waiting, in one atomic word.
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

    /// Publishes `work`. The answer says whether the loop may be blocked (then the caller must
    /// notify the reactor) and whether `work` was new (not already waiting).
    pub(crate) fn ring(&self, work: usize) -> Rang {
        let before = self.state.fetch_or(work, AcqRel);
        Rang {
            parked: before & PARKED != 0,
            fresh: before & work != work,
        }
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
