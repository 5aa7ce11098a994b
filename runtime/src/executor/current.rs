//! Which loop, if any, runs on this thread: the executor's one thread-local.
//!
//! `block_on` (and each worker thread of the multi-thread runtime) sets it for as long as it
//! runs; `nbio::spawn`, `nbio::stats` and `nbio::dump` look it up, and a waker uses it to tell
//! whether it fires on a thread of its own runtime (the fast, lock-free path) or elsewhere.
//! Sockets and timers never look here: what they need is in `crate::context`, which the
//! executor sets up beside this.
//!
//! The thread-local holds plain pointers and nothing to drop: the guard that [`enter`] returns
//! owns the loop (an `Rc`) and clears the pointer when it goes, so every look is one load, with
//! no lazy set-up and no check that the thread is being torn down.

use std::cell::Cell;
use std::rc::Rc;

use super::current_thread::CurrentThread;
use super::multi_thread::{BlockOn, Worker};
use super::seed::ReplayNote;
use crate::context::{self, Entered};

/// What runs on this thread, borrowed for the length of a look.
#[derive(Clone, Copy)]
pub(crate) enum Current<'a> {
    /// The current-thread runtime, in its `block_on`.
    Thread(&'a CurrentThread),
    /// A worker thread of a multi-thread runtime.
    Worker(&'a Worker),
    /// The thread inside a multi-thread runtime's `block_on`.
    BlockOn(&'a BlockOn),
}

/// What [`enter`] is given to run: the loop, owned by the guard while it runs.
pub(crate) enum Loop {
    Thread(Rc<CurrentThread>),
    Worker(Rc<Worker>),
    BlockOn(Rc<BlockOn>),
}

/// The pointer kept in the thread-local.
///
/// Invariant: anything but `None` points at the loop owned by the live [`EnterGuard`] of this
/// thread.
#[derive(Clone, Copy)]
enum Running {
    None,
    Thread(*const CurrentThread),
    Worker(*const Worker),
    BlockOn(*const BlockOn),
}

thread_local! {
    static RUNNING: Cell<Running> = const { Cell::new(Running::None) };
}

/// While alive, this thread runs the loop it owns.
pub(crate) struct EnterGuard {
    _owned: Loop,
}

/// Makes `owned` what runs on this thread until the guard is dropped.
///
/// # Panics
/// If this thread is already running a runtime: a nested `block_on` would stall the outer
/// one's tasks for as long as it runs.
pub(crate) fn enter(owned: Loop) -> EnterGuard {
    assert!(
        matches!(RUNNING.get(), Running::None),
        "nbio: block_on called on a thread that is already running an nbio runtime; \
         `.await` the future instead (a nested block_on would stall every other task)"
    );
    RUNNING.set(match &owned {
        Loop::Thread(scheduler) => Running::Thread(Rc::as_ptr(scheduler)),
        Loop::Worker(worker) => Running::Worker(Rc::as_ptr(worker)),
        Loop::BlockOn(block_on) => Running::BlockOn(Rc::as_ptr(block_on)),
    });
    EnterGuard { _owned: owned }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        RUNNING.set(Running::None);
    }
}

/// Calls `f` with what runs on this thread, or `None` outside of a runtime.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<Current<'_>>) -> R) -> R {
    // SAFETY: a non-`None` pointer is the loop the live guard owns (see `Running`), which
    // outlives this call: the guard is dropped on this thread, not while `f` runs.
    let current = unsafe {
        match RUNNING.get() {
            Running::None => None,
            Running::Thread(ptr) => Some(Current::Thread(&*ptr)),
            Running::Worker(ptr) => Some(Current::Worker(&*ptr)),
            Running::BlockOn(ptr) => Some(Current::BlockOn(&*ptr)),
        }
    };
    f(current)
}

/// Calls `f` with the current-thread runtime running on this thread, if that is what runs: the
/// fast path of every wake on that runtime's thread.
#[inline]
pub(crate) fn with_current_thread<R>(f: impl FnOnce(Option<&CurrentThread>) -> R) -> R {
    let scheduler = match RUNNING.get() {
        Running::Thread(ptr) => ptr,
        _ => std::ptr::null(),
    };
    // SAFETY: as in `with_current`: the pointer is the loop the live guard owns.
    f(unsafe { scheduler.as_ref() })
}

/// While alive, a loop runs on this thread: for itself (the guard of [`enter`]), for the code it
/// polls (`crate::context`), and under a seed, for whoever reads a panic that escapes it.
pub(crate) struct LoopGuard {
    _replay: ReplayNote,
    _context: context::EnterGuard,
    _current: EnterGuard,
}

/// Enters `owned` on this thread with what the code it polls sees (`entered`), noting the
/// `seed` that replays a run, and tells the observer the thread is at work.
///
/// # Panics
/// As [`enter`], if this thread already runs a runtime.
pub(crate) fn enter_loop(owned: Loop, entered: Entered, seed: Option<u64>) -> LoopGuard {
    let current = enter(owned);
    let observer = Rc::clone(&entered.observer);
    let guard = LoopGuard {
        _replay: ReplayNote(seed),
        _context: context::enter(entered),
        _current: current,
    };
    observer.resume();
    guard
}
