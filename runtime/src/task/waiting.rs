//! The wait word of the task being polled: where a future that returns `Pending` writes what
//! it waits on.
//!
//! Every task header has a word for it (`Header::waits`); the observer decides what the bits
//! mean (`observe/waits.rs`) and a `JoinHandle`, which lives in this layer, writes its own
//! kind of wait with [`JOIN_TAG`]. The pointer below is set only for the length of one poll of
//! one task, so a store through it always lands in a live header.

use std::cell::Cell;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;

use super::TaskKey;

/// The top four bits of a wait word that say "the `JoinHandle` of the task in the low bits".
pub(crate) const JOIN_TAG: u64 = 4 << 60;
/// Beside `JOIN_TAG`: that task is of another runtime than the waiter (its id is that
/// runtime's, so the wait graph must not follow it).
pub(crate) const JOIN_ELSEWHERE: u64 = 1 << 59;

thread_local! {
    /// The wait word of the task this thread is polling; null between polls (and while the
    /// future given to `block_on` is polled).
    static SLOT: Cell<*const AtomicU64> = const { Cell::new(std::ptr::null()) };
    /// The last word noted in this poll, for `Polling::end`.
    static LAST: Cell<u64> = const { Cell::new(0) };
    /// Who this thread is polling: the task and its runtime (a task id of 0 while it polls the
    /// future given to `block_on`), or nobody between polls. The observer sets it as each poll
    /// starts and ends; the sync primitives read it on their fast paths (a mutex records its
    /// holder), so it is a thread-local of its own, reached in one load.
    static POLLED: Cell<TaskKey> = const { Cell::new(TaskKey::NOBODY) };
}

/// Who this thread is polling now (see `POLLED`).
#[inline]
pub(crate) fn polled() -> TaskKey {
    POLLED.get()
}

/// The observer says who this thread polls, as a poll starts (and `NOBODY` as it ends).
#[inline]
pub(crate) fn set_polled(key: TaskKey) {
    POLLED.set(key);
}

/// A poll of the task whose wait word is `slot` begins: the word is cleared, the task is no
/// longer waiting on anything, and `note` writes there until the guard is dropped (even by a
/// panic unwinding out of the poll).
#[inline]
pub(crate) fn begin(slot: &AtomicU64) -> Polling {
    slot.store(0, Relaxed);
    SLOT.set(slot);
    LAST.set(0);
    Polling(())
}

/// While alive, `note` writes into the wait word given to `begin`.
#[must_use = "the word is written only while the guard lives"]
pub(crate) struct Polling(());

impl Polling {
    /// The poll is over: what it noted last (0 if nothing), for the journal. Read from this
    /// thread's copy, not the header: once the poll is over the task may run, or even end, on
    /// another thread.
    #[inline]
    pub(crate) fn end(self) -> u64 {
        LAST.get()
    }
}

impl Drop for Polling {
    #[inline]
    fn drop(&mut self) {
        SLOT.set(std::ptr::null());
    }
}

/// The future being polled returns `Pending`, waiting on what `word` says.
#[inline]
pub(crate) fn note(word: u64) {
    let slot = SLOT.get();
    if !slot.is_null() {
        LAST.set(word);
        // SAFETY: `SLOT` is non-null only between `begin` and the drop of its guard, for one poll, and points
        // into the header of the task being polled, which its poller keeps alive throughout.
        unsafe { (*slot).store(word, Relaxed) };
    }
}
