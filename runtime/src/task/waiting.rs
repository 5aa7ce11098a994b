//! The wait word of the task being polled: where a future that returns `Pending` writes what
//! it waits on.
//!
//! Every task header has a word for it (`Header::waits`); the observer decides what the bits
//! mean (`observe/waits.rs`) and a `JoinHandle`, which lives in this layer, writes its own
//! kind of wait with [`JOIN_TAG`]. The `block_on` future, which is not a task, has a word in its
//! loop instead. The pointer below is set only for the length of one poll, so a store through it
//! always lands in a live word: the polled task's header, or the loop's.
//!
//! A wait that names a task (a `JoinHandle`'s, a `Mutex`'s holder) is an edge the deadlock
//! check may follow, and it then counts the one waker the wait registered as held by that
//! task. That holds only if the waker registered is the polled task's own: a combinator that
//! gives its futures wakers of its own (one per future, as `FuturesUnordered` does) holds the
//! task's waker itself, and something else it polls might wake it. [`note_registered`] sets
//! [`OWN_WAKER`] in the word when it is the task's own; the check follows no other edge.

use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::task::Waker;

use super::raw::Header;
use super::{waker, RuntimeNo, TaskKey};

/// The top four bits of a wait word that say "the `JoinHandle` of the task in the low bits".
pub(crate) const JOIN_TAG: u64 = 4 << 60;
/// Beside `JOIN_TAG`: that task is of another runtime than the waiter (its id is that
/// runtime's, so the wait graph must not follow it).
pub(crate) const JOIN_ELSEWHERE: u64 = 1 << 58;
/// In a wait that names a task: the waker it registered is the polled task's own.
pub(crate) const OWN_WAKER: u64 = 1 << 59;

thread_local! {
    /// The wait word of the task (or `block_on` future) this thread is polling; null between
    /// polls.
    static SLOT: Cell<*const AtomicU64> = const { Cell::new(std::ptr::null()) };
    /// The last word noted in this poll, for `Polling::end`.
    static LAST: Cell<u64> = const { Cell::new(0) };
    /// Whose waker the poll under way was given, so that a wait can tell whether it registered
    /// it: the polled task's header, or (with the low bit set) the waker `block_on` polls its
    /// future with. Meaningful only while `SLOT` is set; one store per poll.
    static OWN: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
    /// Who this thread is polling: the task and its runtime (a task id of 0 while it polls the
    /// future given to `block_on`), or nobody between polls. Set by `begin` and its guard; the
    /// sync primitives read it on their fast paths (a mutex records its holder), so it is a
    /// thread-local of its own, reached in one load.
    static POLLED: Cell<TaskKey> = const { Cell::new(TaskKey::NOBODY) };
}

/// Who this thread is polling now (see `POLLED`).
#[inline]
pub(crate) fn polled() -> TaskKey {
    POLLED.get()
}

/// A poll of `task`, of runtime `runtime`, begins: its wait word is cleared, the task is no
/// longer waiting on anything, and `note` writes there until the guard is dropped (even by a
/// panic unwinding out of the poll); until then `polled` says it is this task.
#[inline]
pub(crate) fn begin(task: &Header, runtime: RuntimeNo) -> Polling {
    let key = TaskKey::new(runtime, task.id().0);
    begin_with(&task.waits, (task as *const Header).cast(), key)
}

/// As `begin`, for a poll of the future given to `block_on` of runtime `runtime`, whose wait
/// word is `slot` and which is polled with `waker`.
#[inline]
pub(crate) fn begin_main(slot: &AtomicU64, waker: &Waker, runtime: RuntimeNo) -> Polling {
    // A `Waker` is pointer-aligned: its address has the low bit free for the tag.
    let own = (waker as *const Waker).cast::<u8>().wrapping_add(1).cast();
    begin_with(slot, own, TaskKey::new(runtime, 0))
}

#[inline]
fn begin_with(slot: &AtomicU64, own: *const (), key: TaskKey) -> Polling {
    slot.store(0, Relaxed);
    SLOT.set(slot);
    LAST.set(0);
    OWN.set(own);
    POLLED.set(key);
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
        POLLED.set(TaskKey::NOBODY);
    }
}

/// Whether a task (or the `block_on` future) is being polled on this thread, so that a wait
/// noted now is written: a caller with a word to work out asks first.
#[inline]
pub(crate) fn noting() -> bool {
    !SLOT.get().is_null()
}

/// The future being polled returns `Pending`, waiting on what `word` says.
#[inline]
pub(crate) fn note(word: u64) {
    let slot = SLOT.get();
    if !slot.is_null() {
        LAST.set(word);
        // SAFETY: `SLOT` is non-null only between `begin` (or `begin_main`) and the drop of its
        // guard, for one poll, and points at the wait word of the task being polled, in its
        // header, which its poller keeps alive throughout (or at the `block_on` loop's word,
        // which outlives the loop's polls).
        unsafe { (*slot).store(word, Relaxed) };
    }
}

/// As `note`, for a wait that names a task and has registered `registered` to be woken: sets
/// `OWN_WAKER` if that is the polled task's (or `block_on` future's) own waker.
#[inline]
pub(crate) fn note_registered(word: u64, registered: &Waker) {
    if SLOT.get().is_null() {
        return; // not in a poll: `OWN` is stale, and there is no word to write
    }
    let own = OWN.get();
    let is_own = if own as usize & 1 == 0 {
        // The task's own waker is its header's address with the task vtable; only compared.
        NonNull::new(own.cast_mut().cast::<Header>())
            .is_some_and(|task| registered.will_wake(&waker::borrowed(task)))
    } else {
        let main = own.cast::<u8>().wrapping_sub(1).cast::<Waker>();
        // SAFETY: with `SLOT` set, `OWN` is this poll's: the tagged address of the waker
        // `block_on` polls its future with (`begin_main`), which lives across the poll.
        registered.will_wake(unsafe { &*main })
    };
    note(if is_own { word | OWN_WAKER } else { word });
}

/// A future that waited is being dropped, and `is_it` says whether the poll's last note was
/// its wait. If so, the word no longer says anything true (the wait went with the future:
/// `poll_once`, a `timeout` that elapsed, the losing side of a select), and the poll may now
/// wait on something that notes nothing: the word is cleared. A future dropped in a later poll
/// leaves nothing to clear: each poll starts with a clear word.
#[inline]
pub(crate) fn forget_if(is_it: impl FnOnce(u64) -> bool) {
    let slot = SLOT.get();
    if !slot.is_null() && is_it(LAST.get()) {
        LAST.set(0);
        // SAFETY: as in `note`: non-null only during a poll, pointing at its live word.
        unsafe { (*slot).store(0, Relaxed) };
    }
}
