//! What code running inside a runtime may ask of it: the thin boundary between the runtime and
//! the sockets and timers that run on it.
//!
//! In the article, `fds` and `select()` are globals that every generator reaches directly. In
//! nbio a socket or a timer must find the reactor of the runtime that is polling it, spend the
//! poll's budget, and tell the journal when it had to wait, without knowing what kind of
//! executor is polling (the current-thread loop, a worker of the multi-thread runtime) or how it
//! is built. Everything they need is here, in one thread-local, set by the executor while it
//! runs: `net` and `time` ask this module and never the scheduler.
//!
//! - [`reactor`]: the reactor to register with, and [`now`]: its clock;
//! - [`spend_budget`]: whether the task being polled may complete one more socket operation in
//!   this poll (see `Budget`);
//! - [`record_stall`]: a note for the journal;
//! - [`waiting_on`]: what the polled task waits on, for dumps and the deadlock report;
//! - [`current_task`]: which task is being polled, for the sync primitives to record who
//!   waits on them and who holds them;
//! - [`spawn_blocking`]: a closure for the runtime's blocking pool (`nbio::fs`, host-name
//!   lookups and `nbio::spawn_blocking` all come here).

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crate::blocking::BlockingPool;
use crate::task::{JoinHandle, TaskKey};

pub(crate) use crate::diagnose::WaitOn;
use crate::observe::{Observer, StallReason};
use crate::reactor::{Direction, Reactor};

/// How many socket operations one poll of a task may complete without waiting before it must
/// let the others run.
///
/// Without a budget, a task reading a socket that is always ready (a fast peer) would never
/// return `Pending`, and nothing else, timers and I/O events included, would run on the
/// thread. When the budget is spent the operation wakes its own task and returns `Pending`,
/// which puts the task at the back of the queue; readiness is not consumed, so the operation
/// succeeds at the task's next poll.
pub(crate) const POLL_BUDGET: u32 = 128;

/// The runtime as the code it polls sees it.
pub(crate) struct Entered {
    /// Sockets and timers register with this reactor.
    pub(crate) reactor: Arc<Reactor>,
    /// The recorder of this thread; `None` on a thread the runtime does not journal (one in
    /// `Handle::block_on`).
    pub(crate) observer: Option<Rc<Observer>>,
    /// The runtime's pool for blocking work.
    pub(crate) blocking: BlockingPool,
}

/// What this thread's code may ask of the runtime running it. It holds plain values and a
/// pointer, nothing to drop, so that every look (the budget above all, on every socket
/// operation) is one load with no lazy set-up.
struct Context {
    /// What the running runtime offers, owned by `OWNED`; null outside a runtime.
    entered: Cell<*const Entered>,
    /// The socket operations the current poll may still complete; `u32::MAX` outside a runtime.
    budget: Cell<u32>,
    /// Whether a loop of a runtime (a `block_on`, a worker's loop) runs on this thread now: the
    /// executor sets it as it enters and leaves (`executor/current.rs`); a blocking call asks it
    /// (`looping`), since blocking here would stall every task the loop runs.
    looping: Cell<bool>,
}

thread_local! {
    static CONTEXT: Context = const {
        Context {
            entered: Cell::new(std::ptr::null()),
            budget: Cell::new(u32::MAX),
            looping: Cell::new(false),
        }
    };
    /// Owns what `CONTEXT.entered` points at. Only entering and leaving touch it, so the hot
    /// thread-local above stays one with nothing to drop.
    static OWNED: RefCell<Option<Rc<Entered>>> = const { RefCell::new(None) };
}

/// While alive, this thread runs (or has entered) a runtime (see [`enter`]). It keeps what
/// was entered before and puts it back when dropped. Guards are dropped in the reverse order
/// they were made; should one not be (the executor panics then, `executor/current.rs`), the
/// pointer is still to a live `Entered`, since `OWNED` holds whatever it points at.
pub(crate) struct EnterGuard {
    previous: Option<Rc<Entered>>,
}

/// Makes `entered` what this thread's code sees until the guard is dropped. The executor's
/// own bookkeeping of which runtime runs here is separate (`executor/current.rs`).
pub(crate) fn enter(entered: Entered) -> EnterGuard {
    let entered = Rc::new(entered);
    let pointer = Rc::as_ptr(&entered);
    let previous = OWNED.with(|owned| owned.replace(Some(entered)));
    CONTEXT.with(|context| context.entered.set(pointer));
    EnterGuard { previous }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let pointer = previous.as_ref().map_or(std::ptr::null(), Rc::as_ptr);
        CONTEXT.with(|context| {
            context.entered.set(pointer);
            context.budget.set(u32::MAX);
        });
        let left = OWNED.with(|owned| owned.replace(previous));
        drop(left); // after the pointer moved off it
    }
}

/// Whether a runtime's loop runs on this thread now (not a pool thread, not a thread inside
/// `Handle::block_on` or `block_in_place`): what a call that blocks the thread must refuse.
pub(crate) fn looping() -> bool {
    CONTEXT.with(|context| context.looping.get())
}

/// The executor says whether a loop runs here from now on.
pub(crate) fn set_looping(looping: bool) {
    CONTEXT.with(|context| context.looping.set(looping));
}

/// Calls `f` with what the running runtime offers, or `None` outside of one.
fn with<R>(f: impl FnOnce(Option<&Entered>) -> R) -> R {
    let entered = CONTEXT.with(|context| context.entered.get());
    // SAFETY: non-null only while `OWNED` holds the `Entered` it points at (see `EnterGuard`);
    // only a guard's drop replaces it, and no `f` given here drops a guard.
    f(unsafe { entered.as_ref() })
}

/// The reactor of the runtime running on this thread.
pub(crate) fn reactor() -> Option<Arc<Reactor>> {
    with(|entered| entered.map(|entered| Arc::clone(&entered.reactor)))
}

/// Whether `reactor` is the reactor of the runtime running on this thread.
pub(crate) fn is_current_reactor(reactor: &Arc<Reactor>) -> bool {
    with(|entered| entered.is_some_and(|entered| Arc::ptr_eq(&entered.reactor, reactor)))
}

/// Now, by the clock of the runtime running on this thread (its virtual clock, with virtual
/// time on); outside a runtime, `Instant::now()`.
pub(crate) fn now() -> Instant {
    with(|entered| entered.map_or_else(Instant::now, |entered| entered.reactor.now()))
}

/// A new poll begins: it gets a full budget.
#[inline]
pub(crate) fn reset_budget() {
    CONTEXT.with(|context| context.budget.set(POLL_BUDGET));
}

/// Spends one unit of the polled task's budget on a socket operation about to complete without
/// waiting. `false` once it is gone: the operation must wake its task and return `Pending`.
/// Outside a runtime there is no budget.
#[inline]
pub(crate) fn spend_budget() -> bool {
    CONTEXT.with(|context| match context.budget.get() {
        0 => false,
        left => {
            context.budget.set(left - 1);
            true
        }
    })
}

/// Tells the journal of the running runtime that an operation of the task it is polling stalled:
/// it must wait for readiness on `fd` (it got `WouldBlock`, or made a short write), with
/// `remaining` bytes still to go when the caller knows.
pub(crate) fn record_stall(fd: RawFd, dir: Direction, remaining: Option<usize>, why: StallReason) {
    with(|entered| {
        if let Some(observer) = entered.and_then(|entered| entered.observer.as_deref()) {
            observer.stalled(fd, dir, remaining, why);
        }
    });
}

/// The number of the task this thread is polling right now (its `TaskId`), or `None`: between
/// polls, while polling the future given to `block_on`, or outside a runtime. The sync
/// primitives keep it beside each waiter and a lock's holder, so that a dump can later say who
/// waits on what; it costs one load of a thread-local.
#[inline]
pub(crate) fn current_task() -> Option<u64> {
    crate::task::polled::polled().id().map(|id| id.0)
}

/// The task this thread is polling with its runtime's number, which tells whether another
/// recorded task id is of the same runtime (see `TaskKey`); the future given to `block_on`
/// gives its runtime and no task; no runtime and no task between polls.
#[inline]
pub(crate) fn current_key() -> TaskKey {
    crate::task::polled::polled()
}

/// The future being polled is about to return `Pending`, waiting on `on`: the note a dump
/// shows on the task's line and the deadlock check follows (`diagnose`). Each future
/// that waits calls it at the one place it returns `Pending`; it costs a thread-local load and
/// a store, and does nothing outside a task's poll.
#[inline]
pub(crate) fn waiting_on(on: WaitOn) {
    if crate::task::polled::noting() {
        crate::task::polled::note(on.encode());
    }
}

/// As [`waiting_on`], for a wait that names a task (a `Mutex`'s holder) and registered
/// `registered` to be woken: the deadlock check follows the edge only if that is the polled
/// task's own waker (see `task/polled.rs`).
#[inline]
pub(crate) fn waiting_on_registered(on: WaitOn, registered: &std::task::Waker) {
    if crate::task::polled::noting() {
        crate::task::polled::note_registered(on.encode(), registered);
    }
}

/// A lock or permit future that was queued is dropped (`Semaphore::leave`): if the poll's last
/// wait was on a lock, it is over, and the word is cleared (`task::polled::forget_if`). It may
/// have been another lock's wait, which then goes unshown: a wait too few is safe, as the
/// deadlock check goes, and a wait that is over is not.
#[cold]
pub(crate) fn lock_wait_dropped() {
    crate::task::polled::forget_if(crate::diagnose::is_lock_wait);
}

/// Hands `f` to the blocking pool of the runtime running on this thread; `None` outside of
/// one (the caller says which call needed a runtime). `location` is the user's call site.
pub(crate) fn spawn_blocking<F, T>(
    f: F,
    location: &'static Location<'static>,
) -> Option<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    with(|entered| {
        entered.map(|entered| (entered.blocking).spawn(f, location, entered.observer.as_deref()))
    })
}
