//! How many jobs are not over yet, and a runtime that wants to hear when one is.
//!
//! A virtual clock holds still while a job is unfinished, and `block_on`'s deadlock check
//! waits while one is (it may hold a `MutexGuard`, or wake anything). Either then sleeps, and
//! must be told when a job is over: the clock at every job's end, the check only when it asked
//! ([`Unfinished::watch`]). The asking is a handshake between the thread about to sleep and
//! the pool thread ending a job. The watcher raises a flag and then reads the count, a job
//! lowers the count and then reads the flag; the watcher's read is a read-modify-write with
//! release, so that the job's decrement, an acquiring read-modify-write of the same word,
//! either comes first (and the watcher sees the count drop) or comes after it and sees the
//! flag. `loom_tests.rs` checks it, and fails if the watcher only loads the count.

use std::sync::atomic::Ordering::{AcqRel, Relaxed, SeqCst};

use crate::loom::{AtomicBool, AtomicU64};

/// The count of unfinished jobs, and whether someone waits to hear of the next one's end.
#[derive(Default)]
pub(crate) struct Unfinished {
    /// Jobs queued, running, or run but not yet past the wake of their awaiter.
    count: AtomicU64,
    /// A watcher asked to be told of the next job's end.
    watched: AtomicBool,
}

impl Unfinished {
    /// A job was submitted.
    pub(crate) fn started(&self) {
        self.count.fetch_add(1, SeqCst);
    }

    /// A job is over. True if a watcher asked to hear of it (and is now told: the flag is
    /// down, for this job's end alone).
    pub(crate) fn over(&self) -> bool {
        self.count.fetch_sub(1, SeqCst);
        self.watched.load(Relaxed) && self.watched.swap(false, Relaxed)
    }

    /// Whether any job is unfinished.
    pub(crate) fn any(&self) -> bool {
        self.count.load(SeqCst) > 0
    }

    /// Asks to be told of the next job's end. False if no job is unfinished any more: then
    /// nothing will tell, and the caller must look again itself.
    pub(crate) fn watch(&self) -> bool {
        self.watched.store(true, Relaxed);
        self.count.fetch_add(0, AcqRel) > 0
    }
}
