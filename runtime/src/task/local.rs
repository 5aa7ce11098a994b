//! Task-local values: a value that the code of one future sees, wherever its polls run.
//!
//! A thread-local is the wrong home for "the request this task is serving": a task's polls may
//! run on any worker thread, and a thread runs many tasks in turn. A task-local is a
//! thread-local that holds the value only *while the future that owns it is being polled*:
//! [`LocalKey::scope`] wraps a future, and each poll of the wrapper swaps the value into the
//! thread's slot, polls the inner future, and swaps it back out, restoring whatever was there
//! before (an outer scope's value), also when the poll panics. Between polls the value lives in
//! the wrapper, so it travels with the future from thread to thread.
//!
//! A task spawned from inside a scope does not see the value: it is polled by the executor, not
//! by the wrapper. Give it a scope of its own (`KEY.scope(v, fut)` around what it runs).

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Declares task-local keys: `static NAME: Type;`, any number of them, each a [`LocalKey`].
///
/// ```
/// nbio::task_local! {
///     static REQUEST_ID: u64;
///     pub static USER: String;
/// }
///
/// nbio::block_on(REQUEST_ID.scope(7, async {
///     assert_eq!(REQUEST_ID.get(), 7);
///     nbio::yield_now().await; // the value stays, across polls and threads
///     REQUEST_ID.with(|id| assert_eq!(*id, 7));
///     assert!(USER.try_with(|_| ()).is_err()); // no scope of USER here
/// }));
/// ```
///
/// The guide's chapter 10, "How a channel wakes a task", names them beside `select!` and `join!`.
#[macro_export]
macro_rules! task_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident : $t:ty ; $($rest:tt)*) => {
        $crate::__task_local_key!($(#[$attr])* $vis $name, $t);
        $crate::task_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident : $t:ty) => {
        $crate::__task_local_key!($(#[$attr])* $vis $name, $t);
    };
}

/// One key: a `static` [`LocalKey`] around a thread-local slot of its own.
#[doc(hidden)]
#[macro_export]
macro_rules! __task_local_key {
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty) => {
        $(#[$attr])*
        $vis static $name: $crate::task::LocalKey<$t> = {
            ::std::thread_local! {
                static __NBIO_TASK_LOCAL: ::std::cell::RefCell<::core::option::Option<$t>> =
                    const { ::std::cell::RefCell::new(::core::option::Option::None) };
            }
            $crate::task::LocalKey::__new(__NBIO_TASK_LOCAL)
        };
    };
}

/// A task-local key, declared with [`task_local!`](crate::task_local): a value set for the
/// length of a future ([`scope`](LocalKey::scope)) or of a closure
/// ([`sync_scope`](LocalKey::sync_scope)), read with [`with`](LocalKey::with).
pub struct LocalKey<T: 'static> {
    /// The slot of this thread: `Some` while a scope of this key is being polled on it.
    slot: std::thread::LocalKey<RefCell<Option<T>>>,
}

impl<T: 'static> LocalKey<T> {
    /// What `task_local!` expands to; not for direct use.
    #[doc(hidden)]
    pub const fn __new(slot: std::thread::LocalKey<RefCell<Option<T>>>) -> LocalKey<T> {
        LocalKey { slot }
    }

    /// Runs `future` with this key set to `value`: the value is seen by every poll of
    /// `future`, and by the drop of `future` if the scope is dropped before it completes.
    ///
    /// Scopes nest: inside, a scope of the same key shadows this one for its own future, and
    /// the outer value is back when its polls are over. Tasks spawned from inside do not see
    /// the value.
    ///
    /// ```
    /// nbio::task_local! { static DEPTH: u32; }
    ///
    /// nbio::block_on(DEPTH.scope(1, async {
    ///     DEPTH.scope(2, async { assert_eq!(DEPTH.get(), 2) }).await;
    ///     assert_eq!(DEPTH.get(), 1);
    /// }));
    /// ```
    ///
    /// Cancel safety: dropping the scope drops `future` (with the value set) and the value.
    pub fn scope<F: Future>(&'static self, value: T, future: F) -> TaskLocalFuture<T, F> {
        TaskLocalFuture {
            key: self,
            value: Some(value),
            future: Some(future),
        }
    }

    /// Runs `f` with this key set to `value`, and gives what `f` returned.
    ///
    /// ```
    /// nbio::task_local! { static NAME: &'static str; }
    ///
    /// assert_eq!(NAME.sync_scope("inner", || NAME.get()), "inner");
    /// ```
    ///
    /// # Panics
    /// If `f` is called from inside [`with`](LocalKey::with) of the same key (the value is
    /// borrowed), or while the thread is being torn down.
    pub fn sync_scope<F: FnOnce() -> R, R>(&'static self, value: T, f: F) -> R {
        let mut value = Some(value);
        let _swapped = self.swap_in(&mut value);
        f()
    }

    /// Calls `f` with a reference to the value of the scope being polled.
    ///
    /// # Panics
    /// Outside a [`scope`](LocalKey::scope) of this key (see [`try_with`](LocalKey::try_with)
    /// for a form that does not panic).
    #[track_caller]
    pub fn with<F: FnOnce(&T) -> R, R>(&'static self, f: F) -> R {
        match self.try_with(f) {
            Ok(result) => result,
            Err(_) => panic!(
                "nbio: a task-local value was read outside its scope: set it with \
                 `KEY.scope(value, future)` (a spawned task does not inherit it)"
            ),
        }
    }

    /// Calls `f` with a reference to the value of the scope being polled, or tells that there is
    /// none: outside a scope of this key, or while the thread is being torn down.
    pub fn try_with<F: FnOnce(&T) -> R, R>(&'static self, f: F) -> Result<R, AccessError> {
        let value = self.slot.try_with(|slot| {
            // Borrowed mutably only while a scope swaps its value in or out, never while user
            // code runs, so this borrow can not fail.
            let value = slot.borrow();
            value.as_ref().map(f)
        });
        match value {
            Ok(Some(result)) => Ok(result),
            Ok(None) | Err(_) => Err(AccessError { _private: () }),
        }
    }

    /// A copy of the value of the scope being polled.
    ///
    /// # Panics
    /// Outside a scope of this key, as [`with`](LocalKey::with).
    #[track_caller]
    pub fn get(&'static self) -> T
    where
        T: Clone,
    {
        self.with(T::clone)
    }

    /// Swaps `value` into this thread's slot, and back out when the guard is dropped (also by
    /// a panic that unwinds past it).
    ///
    /// # Panics
    /// If the value is borrowed (by `with` of the same key, further up this thread's stack) or
    /// the thread is being torn down.
    fn swap_in<'a>(&'static self, value: &'a mut Option<T>) -> Swapped<'a, T> {
        match self.try_swap_in(value) {
            Ok(swapped) => swapped,
            Err(Blocked::Borrowed) => panic!(
                "nbio: a task-local scope was entered inside `with` of the same key, \
                 which borrows its value"
            ),
            Err(Blocked::TornDown) => {
                panic!("nbio: a task-local scope was entered while its thread was being torn down")
            }
        }
    }

    /// As [`swap_in`](Self::swap_in), telling instead of panicking why it could not.
    fn try_swap_in<'a>(&'static self, value: &'a mut Option<T>) -> Result<Swapped<'a, T>, Blocked> {
        let swapped = self.slot.try_with(|slot| match slot.try_borrow_mut() {
            Ok(mut slot) => {
                std::mem::swap(&mut *slot, value);
                Ok(())
            }
            Err(_) => Err(Blocked::Borrowed),
        });
        match swapped {
            Ok(Ok(())) => Ok(Swapped { key: self, value }),
            Ok(Err(blocked)) => Err(blocked),
            Err(_) => Err(Blocked::TornDown),
        }
    }
}

/// Why a scope's value could not be swapped in.
enum Blocked {
    /// `with` of the same key is running further up the stack.
    Borrowed,
    /// The thread's locals are being destroyed.
    TornDown,
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("LocalKey { .. }")
    }
}

/// While alive, this thread's slot holds a scope's value; its drop puts the outer value back.
struct Swapped<'a, T: 'static> {
    key: &'static LocalKey<T>,
    value: &'a mut Option<T>,
}

impl<T: 'static> Drop for Swapped<'_, T> {
    fn drop(&mut self) {
        // The thread is not being torn down: `swap_in` just used the slot, on this thread, and
        // the slot is not borrowed, as only `with` borrows it, and only around user code that
        // can not reach this guard.
        self.key
            .slot
            .with(|slot| std::mem::swap(&mut *slot.borrow_mut(), self.value));
    }
}

/// What [`LocalKey::try_with`] says outside a scope of its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessError {
    _private: (),
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task-local value not set: this code does not run inside a scope of its key")
    }
}

impl Error for AccessError {}

/// The future of [`LocalKey::scope`]: its inner future, polled with the key set.
#[must_use = "futures do nothing unless polled or `.await`ed"]
pub struct TaskLocalFuture<T: 'static, F> {
    key: &'static LocalKey<T>,
    /// The value, between polls; in the thread's slot during one.
    value: Option<T>,
    /// The inner future, pinned with this one (see `project`); `None` once it completed.
    future: Option<F>,
}

impl<T: 'static, F> TaskLocalFuture<T, F> {
    /// The value, and the inner future pinned.
    fn project(
        self: Pin<&mut Self>,
    ) -> (&'static LocalKey<T>, &mut Option<T>, Pin<&mut Option<F>>) {
        // SAFETY: `future` is pinned whenever `self` is (structural pinning): it is never moved
        // out of `self`, only polled through this pin and dropped in place (by `Pin::set`, or
        // by `Drop`, which treats `self` as pinned); `TaskLocalFuture` is `Unpin` only when `F`
        // is. `value` is not pinned: it is moved in and out freely, never pinned itself.
        unsafe {
            let this = self.get_unchecked_mut();
            (
                this.key,
                &mut this.value,
                Pin::new_unchecked(&mut this.future),
            )
        }
    }
}

impl<T: 'static, F: Future> Future for TaskLocalFuture<T, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let (key, value, mut future) = self.project();
        let _swapped = key.swap_in(value);
        let Some(running) = future.as_mut().as_pin_mut() else {
            panic!("nbio: a task-local scope was polled after it completed");
        };
        let output = running.poll(cx);
        if output.is_ready() {
            // Dropped while the value is still set, as a drop before completion would be.
            future.set(None);
        }
        output
    }
}

impl<T: 'static, F> Drop for TaskLocalFuture<T, F> {
    fn drop(&mut self) {
        if self.future.is_none() {
            return;
        }
        // SAFETY: this value is never used again after `drop`, so treating it as pinned here
        // is sound whether or not it was pinned; the inner future is dropped in place.
        let this = unsafe { Pin::new_unchecked(self) };
        let (key, value, mut future) = this.project();
        // The inner future's drop sees the value, as its polls did, when it can be set: not
        // inside `with` of the same key, nor on a thread being torn down.
        let _swapped = key.try_swap_in(value);
        future.set(None);
    }
}

impl<T: 'static + fmt::Debug, F> fmt::Debug for TaskLocalFuture<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskLocalFuture")
            .field("value", &self.value)
            .field("completed", &self.future.is_none())
            .finish()
    }
}
