//! Which executor, if any, is running on this thread: the executor's own bookkeeping.
//!
//! `block_on` (and each worker thread of the multi-thread runtime) sets it for as long as it
//! runs; `nbio::spawn`, `nbio::stats` and `nbio::dump` look it up, and a waker uses it to tell
//! whether it fires on a thread of its own runtime (the fast, lock-free path) or elsewhere.
//! Sockets and timers never look here: what they need is in `crate::context`, which the
//! executor sets up beside this.

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::ptr;
use std::rc::Rc;

use super::multi_thread::{BlockOn, Worker};
use super::scheduler::Scheduler;

/// What runs on this thread.
pub(crate) enum Current {
    /// The current-thread runtime, in its `block_on`.
    Thread(Rc<Scheduler>),
    /// A worker thread of a multi-thread runtime.
    Worker(Rc<Worker>),
    /// The thread inside a multi-thread runtime's `block_on`.
    BlockOn(Rc<BlockOn>),
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
    /// The current-thread runtime running here, if that is what runs, as a plain pointer: the
    /// fast path of every wake on that runtime's thread asks this, one load from a
    /// thread-local that needs no lazy set-up, instead of borrowing `CURRENT`.
    ///
    /// Invariant: non-null only while `CURRENT` holds `Current::Thread` of that scheduler,
    /// whose `Rc` keeps it alive.
    static SCHEDULER: Cell<*const Scheduler> = const { Cell::new(ptr::null()) };
}

/// While alive, this thread runs an executor.
pub(crate) struct EnterGuard {
    _not_send: PhantomData<Rc<()>>,
}

/// Makes `current` what runs on this thread until the guard is dropped.
///
/// # Panics
/// If this thread is already running a runtime: a nested `block_on` would stall the outer
/// one's tasks for as long as it runs.
pub(crate) fn enter(current: Current) -> EnterGuard {
    CURRENT.with(|slot| {
        let mut slot = slot.borrow_mut();
        assert!(
            slot.is_none(),
            "nbio: block_on called on a thread that is already running an nbio runtime; \
             `.await` the future instead (a nested block_on would stall every other task)"
        );
        if let Current::Thread(scheduler) = &current {
            SCHEDULER.set(Rc::as_ptr(scheduler));
        }
        *slot = Some(current);
    });
    EnterGuard {
        _not_send: PhantomData,
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let _ = SCHEDULER.try_with(|fast| fast.set(ptr::null()));
        let previous = CURRENT.with(|slot| slot.borrow_mut().take());
        drop(previous);
    }
}

/// Calls `f` with what runs on this thread, or `None` outside of a runtime (or while the
/// thread is being torn down).
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Current>) -> R) -> R {
    let mut f = Some(f);
    let result = CURRENT.try_with(|slot| {
        let slot = slot.borrow();
        (f.take().expect("called once"))(slot.as_ref())
    });
    match result {
        Ok(value) => value,
        Err(_) => (f.take().expect("not called when the thread-local is gone"))(None),
    }
}

/// Calls `f` with the current-thread runtime running on this thread, if that is what runs.
#[inline]
pub(crate) fn with_scheduler<R>(f: impl FnOnce(Option<&Scheduler>) -> R) -> R {
    let scheduler = SCHEDULER.try_with(Cell::get).unwrap_or(ptr::null());
    // SAFETY: non-null only while `CURRENT` holds the `Rc` of this scheduler (see SCHEDULER),
    // and `f` cannot outlive this call.
    f(unsafe { scheduler.as_ref() })
}
