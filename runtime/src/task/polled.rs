//! The task this thread is polling, and where a future that returns `Pending` writes what it
//! waits on: the task layer's one thread-local.
//!
//! The poll step (`executor/poll.rs`) sets it for the length of one poll and clears it after,
//! through a guard, so that even a panic unwinding out of the poll leaves it clear. What the
//! layers above ask of it:
//!
//! - [`polled`]: who is being polled (the task and its runtime), for the sync primitives to
//!   record who waits on them and who holds them, and for a `JoinHandle` to name its awaiter;
//! - [`note`]: the wait word of the polled task, where a `Pending` says what it waits on. Every
//!   task has a word for it in its header's metadata slot; which word, and what the bits mean,
//!   is decided above (`diagnose`). A `JoinHandle`, which lives in this layer, writes its own
//!   kind of wait with [`JOIN_TAG`]. The `block_on` future, which is not a task, has a word in
//!   its loop instead. The pointer is set only for the length of one poll, so a store through
//!   it always lands in a live word: the polled task's header, or the loop's.
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
use super::{waker, RuntimeNo, TaskId, TaskKey};

/// The top four bits of a wait word that say "the `JoinHandle` of the task in the low bits".
pub(crate) const JOIN_TAG: u64 = 4 << 60;
/// Beside `JOIN_TAG`: that task is of another runtime than the waiter (its id is that
/// runtime's, so the wait graph must not follow it).
pub(crate) const JOIN_ELSEWHERE: u64 = 1 << 58;
/// In a wait that names a task: the waker it registered is the polled task's own.
pub(crate) const OWN_WAKER: u64 = 1 << 59;

/// What this thread is polling. One `Cell` a fact; each is set once per poll and read with one
/// load: the struct holds nothing to drop, so reaching it needs no lazy set-up.
struct Polled {
    /// Who: the task and its runtime (a task id of 0 while it polls the future given to
    /// `block_on`), or nobody between polls. The sync primitives read it on their fast paths
    /// (a mutex records its holder).
    key: Cell<TaskKey>,
    /// The wait word of the task (or `block_on` future) being polled; null between polls.
    slot: Cell<*const AtomicU64>,
    /// The last word noted in this poll, for `Polling::end`.
    last: Cell<u64>,
    /// Whose waker the poll under way was given, so that a wait can tell whether it registered
    /// it: the polled task's header, or (with the low bit set) the waker `block_on` polls its
    /// future with. Meaningful only while `slot` is set.
    own: Cell<*const ()>,
}

thread_local! {
    static POLLED: Polled = const {
        Polled {
            key: Cell::new(TaskKey::NOBODY),
            slot: Cell::new(std::ptr::null()),
            last: Cell::new(0),
            own: Cell::new(std::ptr::null()),
        }
    };
}

/// Who this thread is polling now: a task, the `block_on` future (a key with no task), or
/// nobody.
#[inline]
pub(crate) fn polled() -> TaskKey {
    POLLED.with(|p| p.key.get())
}

/// The task being polled on this thread right now, if any: what a `JoinHandle` names as its
/// awaiter.
pub(crate) fn polled_task() -> Option<TaskId> {
    POLLED.try_with(|p| p.key.get().id()).ok().flatten()
}

/// A poll of `task`, of runtime `runtime`, begins: its wait word `wait` is cleared, the task is
/// no longer waiting on anything, and `note` writes there until the guard is dropped (even by a
/// panic unwinding out of the poll); until then `polled` says it is this task.
#[inline]
pub(crate) fn begin(task: &Header, wait: &AtomicU64, runtime: RuntimeNo) -> Polling {
    let key = TaskKey::new(runtime, task.id().0);
    begin_with(wait, (task as *const Header).cast(), key)
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
    POLLED.with(|p| {
        p.slot.set(slot);
        p.last.set(0);
        p.own.set(own);
        p.key.set(key);
    });
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
        POLLED.with(|p| p.last.get())
    }
}

impl Drop for Polling {
    #[inline]
    fn drop(&mut self) {
        POLLED.with(|p| {
            p.slot.set(std::ptr::null());
            p.key.set(TaskKey::NOBODY);
        });
    }
}

/// Whether a task (or the `block_on` future) is being polled on this thread, so that a wait
/// noted now is written: a caller with a word to work out asks first.
#[inline]
pub(crate) fn noting() -> bool {
    POLLED.with(|p| !p.slot.get().is_null())
}

/// The future being polled returns `Pending`, waiting on what `word` says.
#[inline]
pub(crate) fn note(word: u64) {
    POLLED.with(|p| note_in(p, word));
}

#[inline]
fn note_in(p: &Polled, word: u64) {
    let slot = p.slot.get();
    if !slot.is_null() {
        p.last.set(word);
        // SAFETY: `slot` is non-null only between `begin` (or `begin_main`) and the drop of its
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
    POLLED.with(|p| note_registered_in(p, word, registered));
}

#[inline]
fn note_registered_in(p: &Polled, word: u64, registered: &Waker) {
    if p.slot.get().is_null() {
        return; // not in a poll: `own` is stale, and there is no word to write
    }
    let own = p.own.get();
    let is_own = if own as usize & 1 == 0 {
        // The task's own waker is its header's address with the task vtable; only compared.
        NonNull::new(own.cast_mut().cast::<Header>())
            .is_some_and(|task| registered.will_wake(&waker::borrowed(task)))
    } else {
        let main = own.cast::<u8>().wrapping_sub(1).cast::<Waker>();
        // SAFETY: with `slot` set, `own` is this poll's: the tagged address of the waker
        // `block_on` polls its future with (`begin_main`), which lives across the poll.
        registered.will_wake(unsafe { &*main })
    };
    note_in(p, if is_own { word | OWN_WAKER } else { word });
}

/// A future that waited is being dropped, and `is_it` says whether the poll's last note was
/// its wait. If so, the word no longer says anything true (the wait went with the future:
/// `poll_once`, a `timeout` that elapsed, the losing side of a select), and the poll may now
/// wait on something that notes nothing: the word is cleared. A future dropped in a later poll
/// leaves nothing to clear: each poll starts with a clear word.
#[inline]
pub(crate) fn forget_if(is_it: impl FnOnce(u64) -> bool) {
    POLLED.with(|p| {
        let slot = p.slot.get();
        if !slot.is_null() && is_it(p.last.get()) {
            p.last.set(0);
            // SAFETY: as in `note`: non-null only during a poll, pointing at its live word.
            unsafe { (*slot).store(0, Relaxed) };
        }
    });
}
