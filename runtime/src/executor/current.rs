//! Which executor, if any, is running on this thread: the executor's own bookkeeping.
//!
//! `block_on` sets it for as long as it runs; `nbio::spawn`, `nbio::stats` and `nbio::dump`
//! look it up, and a waker uses it to tell whether it fires on its runtime's own thread (the
//! fast, lock-free path) or on another one. Sockets and timers never look here: what they need
//! is in `crate::context`, which `block_on` sets up beside this.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;

use super::scheduler::Scheduler;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Scheduler>>> = const { RefCell::new(None) };
}

/// While alive, `scheduler` is this thread's current runtime.
pub(crate) struct EnterGuard {
    _not_send: PhantomData<Rc<()>>,
}

/// Makes `scheduler` the current runtime until the guard is dropped.
///
/// # Panics
/// If this thread is already running a runtime: a nested `block_on` would stall the outer
/// one's tasks for as long as it runs.
pub(crate) fn enter(scheduler: &Rc<Scheduler>) -> EnterGuard {
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        assert!(
            current.is_none(),
            "nbio: block_on called on a thread that is already running an nbio runtime; \
             `.await` the future instead (a nested block_on would stall every other task)"
        );
        *current = Some(Rc::clone(scheduler));
    });
    EnterGuard {
        _not_send: PhantomData,
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = CURRENT.with(|current| current.borrow_mut().take());
        drop(previous);
    }
}

/// Calls `f` with this thread's current runtime, or `None` outside of one (or while the
/// thread is being torn down).
pub(crate) fn with_current<R>(f: impl FnOnce(Option<&Scheduler>) -> R) -> R {
    let mut f = Some(f);
    let result = CURRENT.try_with(|current| {
        let current = current.borrow();
        (f.take().expect("called once"))(current.as_deref())
    });
    match result {
        Ok(value) => value,
        Err(_) => (f.take().expect("not called when the thread-local is gone"))(None),
    }
}
