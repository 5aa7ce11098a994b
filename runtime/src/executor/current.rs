//! Which runtime, if any, this thread belongs to: the executor's one thread-local.
//!
//! `block_on` (and each worker thread of the multi-thread runtime) sets it for as long as it
//! runs its loop; `Runtime::enter` sets it without a loop running, and so does each thread of a
//! runtime's blocking pool and a worker inside `block_in_place` (then what is set is only the
//! runtime's [`Handle`]). `nbio::spawn`, `nbio::stats`, `Handle::current` look it up, and a waker
//! uses it to tell whether it fires on a thread of its own runtime (the fast, lock-free path) or
//! elsewhere. Sockets and timers never look here: what they need is in `crate::context`, which
//! the executor sets up beside this.
//!
//! The thread-local a look reads holds plain pointers and nothing to drop, so every look is one
//! load, with no lazy set-up and no check that the thread is being torn down. What they point at
//! is owned by a second thread-local (`OWNED`), which only entering and leaving touch: a guard
//! keeps the *previous* owner and puts it back when dropped. So the pointer is always to a live
//! value, even when guards are dropped out of order (a guard made inside `block_on` and returned
//! out of it, say); that mistake is then a panic that says so, never a dangling pointer.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::current_thread::CurrentThread;
use super::multi_thread::{BlockOn, Worker};
use super::seed::ReplayNote;
use super::Handle;
use crate::context::{self, Entered};

/// What runs on this thread, borrowed for the length of a look.
#[derive(Clone, Copy)]
pub(crate) enum Current<'a> {
    /// The current-thread runtime: in its `block_on`, or entered (`Runtime::enter`).
    Thread(&'a CurrentThread),
    /// A worker thread of a multi-thread runtime.
    Worker(&'a Worker),
    /// The thread that owns a multi-thread runtime: in its `block_on`, or entered.
    BlockOn(&'a BlockOn),
    /// A thread that belongs to a runtime without running any of its loops: a blocking-pool
    /// thread, a worker inside `block_in_place`, a thread inside `Handle::block_on`.
    Handle(&'a Handle),
}

/// What [`enter`] is given, owned while it is what this thread sees.
#[derive(Clone)]
pub(crate) enum Loop {
    Thread(Rc<CurrentThread>),
    Worker(Rc<Worker>),
    BlockOn(Rc<BlockOn>),
    Handle(Rc<Handle>),
}

/// The pointer kept in the thread-local.
///
/// Invariant: anything but `None` points at the value `OWNED` holds on this thread.
#[derive(Clone, Copy)]
enum Running {
    None,
    Thread(*const CurrentThread),
    Worker(*const Worker),
    BlockOn(*const BlockOn),
    Handle(*const Handle),
}

thread_local! {
    /// What a look reads. Whether a loop runs here (what a nested `block_on` must not start
    /// under, and what blocking calls refuse to block) is kept by `context`, which the other
    /// layers may ask (`context::looping`).
    static RUNNING: Cell<Running> = const { Cell::new(Running::None) };
    /// Owns what `RUNNING` points at.
    static OWNED: RefCell<Option<Loop>> = const { RefCell::new(None) };
}

impl Loop {
    fn running(&self) -> Running {
        match self {
            Loop::Thread(scheduler) => Running::Thread(Rc::as_ptr(scheduler)),
            Loop::Worker(worker) => Running::Worker(Rc::as_ptr(worker)),
            Loop::BlockOn(block_on) => Running::BlockOn(Rc::as_ptr(block_on)),
            Loop::Handle(handle) => Running::Handle(Rc::as_ptr(handle)),
        }
    }

    fn same(&self, other: &Loop) -> bool {
        match (self, other) {
            (Loop::Thread(a), Loop::Thread(b)) => Rc::ptr_eq(a, b),
            (Loop::Worker(a), Loop::Worker(b)) => Rc::ptr_eq(a, b),
            (Loop::BlockOn(a), Loop::BlockOn(b)) => Rc::ptr_eq(a, b),
            (Loop::Handle(a), Loop::Handle(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// While alive, this thread sees the runtime it was given; dropping it puts back what was seen
/// before.
pub(crate) struct EnterGuard {
    mine: Loop,
    previous: Option<Loop>,
    was_looping: bool,
}

/// How a thread sees the runtime it enters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A loop of it runs here from now on (`block_on`, a worker's loop).
    Loop,
    /// Entered, with no loop of its own (`Runtime::enter`, a pool thread): whether a loop
    /// runs here is as it was.
    Entered,
    /// The loop that runs here stops for a while (`block_in_place`): none runs until the
    /// guard is dropped.
    Suspended,
}

/// Makes `owned` what this thread sees until the guard is dropped, in `mode`.
///
/// # Panics
/// In `Mode::Loop`, if this thread is already running a loop: a nested `block_on` would stall
/// the outer one's tasks for as long as it runs.
pub(crate) fn enter(owned: Loop, mode: Mode) -> EnterGuard {
    let was_looping = context::looping();
    let looping = mode == Mode::Loop;
    assert!(
        !(looping && was_looping),
        "nbio: block_on called on a thread that is already running an nbio runtime; \
         `.await` the future instead (a nested block_on would stall every other task)"
    );
    let previous = OWNED.with(|slot| slot.replace(Some(owned.clone())));
    RUNNING.set(owned.running());
    context::set_looping(match mode {
        Mode::Loop => true,
        Mode::Entered => was_looping,
        Mode::Suspended => false,
    });
    EnterGuard {
        mine: owned,
        previous,
        was_looping,
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let running = previous.as_ref().map_or(Running::None, Loop::running);
        RUNNING.set(running);
        context::set_looping(self.was_looping);
        let current = OWNED.with(|slot| slot.replace(previous));
        let in_order = current
            .as_ref()
            .is_some_and(|current| current.same(&self.mine));
        // Dropped after `RUNNING` points at what `OWNED` holds again: a destructor that runs
        // here (the last reference to a runtime) looks at a consistent thread-local.
        drop(current);
        if !in_order && !std::thread::panicking() {
            panic!(
                "nbio: runtime contexts were left out of order: an EnterGuard (from \
                 Runtime::enter, or one that block_on made) was dropped while a guard made \
                 after it was still alive; drop guards in the reverse order they were made, \
                 and do not keep one made inside block_on past its end"
            );
        }
    }
}

/// Whether a loop (a `block_on`, a worker's loop) runs on this thread right now.
pub(crate) fn looping() -> bool {
    context::looping()
}

/// Calls `f` with what runs on this thread, or `None` outside of a runtime.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(Option<Current<'_>>) -> R) -> R {
    // SAFETY: a non-`None` pointer is the value `OWNED` holds (see `Running`), which outlives
    // this call: only a guard's drop replaces it, and `f` keeps the borrow for its own length.
    // A guard that `f` itself drops would end it: `f`s here never drop one.
    let current = unsafe {
        match RUNNING.get() {
            Running::None => None,
            Running::Thread(ptr) => Some(Current::Thread(&*ptr)),
            Running::Worker(ptr) => Some(Current::Worker(&*ptr)),
            Running::BlockOn(ptr) => Some(Current::BlockOn(&*ptr)),
            Running::Handle(ptr) => Some(Current::Handle(&*ptr)),
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
    // SAFETY: as in `with_current`: the pointer is the value `OWNED` holds.
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
/// As [`enter`], if this thread already runs a loop.
pub(crate) fn enter_loop(owned: Loop, entered: Entered, seed: Option<u64>) -> LoopGuard {
    let current = enter(owned, Mode::Loop);
    let observer = entered.observer.clone();
    let guard = LoopGuard {
        _replay: ReplayNote(seed),
        _context: context::enter(entered),
        _current: current,
    };
    if let Some(observer) = observer {
        observer.resume();
    }
    guard
}

/// While alive, this thread belongs to a runtime without running its loop (see
/// `Runtime::enter`, a blocking-pool thread).
pub(crate) struct EnteredGuard {
    _context: context::EnterGuard,
    _current: EnterGuard,
}

/// Makes `owned` (and `entered`, for sockets and timers) what this thread sees, with no loop
/// running: spawns are queued for the runtime, timers and sockets register with its reactor.
pub(crate) fn enter_only(owned: Loop, entered: Entered) -> EnteredGuard {
    let current = enter(owned, Mode::Entered);
    EnteredGuard {
        _context: context::enter(entered),
        _current: current,
    }
}
