//! `Handle`: a runtime as seen from any thread.
//!
//! A `Runtime` lives on the thread that made it (it is not `Send`: that thread runs its
//! `block_on`, and its `spawn_local` tasks). A `Handle` is the part that travels: it can be
//! cloned and sent anywhere, and spawns onto its runtime from any thread, inside the runtime or
//! not. On the multi-thread flavour the task is queued for the workers at once; on the
//! current-thread flavour it waits in the runtime's injection queue until its thread next runs
//! the loop.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use super::current::{self, Current};
use super::current_thread;
use super::multi_thread;
use crate::task::JoinHandle;

/// A handle to a runtime: `Clone + Send + Sync`, to spawn onto it from any thread.
///
/// ```
/// let rt = nbio::Runtime::new()?;
/// let handle = rt.handle();
/// // From a plain thread: the task waits for the runtime's thread to run it.
/// let task = std::thread::spawn(move || handle.spawn(async { "from a thread" }))
///     .join()
///     .unwrap();
/// assert_eq!(rt.block_on(task).unwrap(), "from a thread");
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone)]
pub struct Handle {
    inner: Flavor,
}

/// Why `nbio::stats` and `nbio::dump` cannot answer on a pool thread of a current-thread runtime.
const ONLY_ON_ITS_THREAD: &str = "nbio::stats and nbio::dump read a current-thread runtime's \
    counters on its own thread; from another thread (a blocking job) use Runtime::stats on the \
    runtime's thread";

#[derive(Clone)]
pub(crate) enum Flavor {
    CurrentThread(Arc<current_thread::Remote>),
    MultiThread(Arc<multi_thread::Shared>),
}

impl Handle {
    pub(crate) fn current_thread(shared: &Arc<current_thread::Remote>) -> Handle {
        Handle {
            inner: Flavor::CurrentThread(Arc::clone(shared)),
        }
    }

    pub(crate) fn multi_thread(shared: &Arc<multi_thread::Shared>) -> Handle {
        Handle {
            inner: Flavor::MultiThread(Arc::clone(shared)),
        }
    }

    /// The handle of the runtime running the calling code.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let handle = nbio::Handle::current();
    ///     assert_eq!(handle.spawn(async { 1 }).await.unwrap(), 1);
    /// });
    /// ```
    ///
    /// # Panics
    /// Outside of a runtime, with a message that says so.
    #[track_caller]
    pub fn current() -> Handle {
        let at = Location::caller();
        current::with_current(|current| match current {
            Some(Current::Thread(scheduler)) => Handle::current_thread(&scheduler.remote),
            Some(Current::Worker(worker)) => Handle::multi_thread(&worker.shared),
            Some(Current::BlockOn(block_on)) => Handle::multi_thread(block_on.shared()),
            Some(Current::Handle(handle)) => handle.clone(),
            None => panic!(
                "nbio::Handle::current called outside of an nbio runtime (at {at}); call it \
                 from code run by nbio::block_on (or under Runtime::enter), or keep the \
                 Handle from Runtime::handle"
            ),
        })
    }

    /// Spawns a task onto the runtime, from any thread.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named(future, None, Location::caller())
    }

    pub(crate) fn spawn_named<F>(
        &self,
        future: F,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.inner {
            Flavor::CurrentThread(shared) => {
                current::with_current_thread(|current| match current {
                    // On the runtime's own thread: the ordinary spawn.
                    Some(scheduler) if Arc::ptr_eq(&scheduler.remote, shared) => {
                        scheduler.spawn(future, name, location)
                    }
                    _ => shared.spawn_from_elsewhere(future, name, location),
                })
            }
            Flavor::MultiThread(shared) => with_observer_of(shared, |observer| {
                shared.spawn(future, name, location, observer)
            }),
        }
    }

    /// The runtime's counters, as `nbio::stats` gives them on a thread that runs no loop.
    ///
    /// # Panics
    /// For a current-thread runtime: its counters live on its own thread.
    pub(crate) fn stats(&self) -> crate::observe::Stats {
        match &self.inner {
            Flavor::MultiThread(shared) => shared.stats(),
            Flavor::CurrentThread(_) => panic!("{}", ONLY_ON_ITS_THREAD),
        }
    }

    /// The runtime's live tasks, as `nbio::dump` gives them on a thread that runs no loop.
    ///
    /// # Panics
    /// For a current-thread runtime, as `stats`.
    pub(crate) fn dump(&self) -> crate::observe::Dump {
        match &self.inner {
            Flavor::MultiThread(shared) => shared.dump(),
            Flavor::CurrentThread(_) => panic!("{}", ONLY_ON_ITS_THREAD),
        }
    }

    /// A reference to the runtime that does not keep it alive (for the blocking pool's
    /// threads, which the runtime itself owns).
    pub(crate) fn downgrade(&self) -> WeakHandle {
        match &self.inner {
            Flavor::CurrentThread(remote) => WeakHandle::CurrentThread(Arc::downgrade(remote)),
            Flavor::MultiThread(shared) => WeakHandle::MultiThread(Arc::downgrade(shared)),
        }
    }

    /// Which flavour, for `Runtime::enter` and `Handle::block_on`.
    pub(crate) fn flavor(&self) -> &Flavor {
        &self.inner
    }

    /// Runs the blocking closure `f` on the runtime's blocking pool, from any thread, as
    /// [`nbio::spawn_blocking`](crate::spawn_blocking) does from inside the runtime.
    ///
    /// ```
    /// let rt = nbio::Runtime::builder().worker_threads(2).build()?;
    /// let handle = rt.handle();
    /// let job = std::thread::spawn(move || handle.spawn_blocking(|| 6 * 7))
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(rt.block_on(job).unwrap(), 42);
    /// # std::io::Result::Ok(())
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let location = Location::caller();
        match &self.inner {
            Flavor::CurrentThread(shared) => {
                current::with_current_thread(|current| match current {
                    // On the runtime's own thread the spawn goes into its journal.
                    Some(scheduler) if Arc::ptr_eq(&scheduler.remote, shared) => shared
                        .blocking
                        .spawn(f, location, Some(&scheduler.observer)),
                    _ => shared.blocking.spawn(f, location, None),
                })
            }
            Flavor::MultiThread(shared) => with_observer_of(shared, |observer| {
                shared.blocking.spawn(f, location, observer)
            }),
        }
    }
}

/// A [`Handle`] that does not keep its runtime alive.
pub(crate) enum WeakHandle {
    CurrentThread(std::sync::Weak<current_thread::Remote>),
    MultiThread(std::sync::Weak<multi_thread::Shared>),
}

impl WeakHandle {
    /// The handle, if the runtime still exists.
    pub(crate) fn upgrade(&self) -> Option<Handle> {
        let inner = match self {
            WeakHandle::CurrentThread(remote) => Flavor::CurrentThread(remote.upgrade()?),
            WeakHandle::MultiThread(shared) => Flavor::MultiThread(shared.upgrade()?),
        };
        Some(Handle { inner })
    }
}

/// Calls `f` with the recorder of this thread if it is one of `shared`'s (a worker, or the
/// thread in its `block_on`), so that a spawn from there is journaled; with `None` elsewhere.
fn with_observer_of<R>(
    shared: &Arc<multi_thread::Shared>,
    f: impl FnOnce(Option<&crate::observe::Observer>) -> R,
) -> R {
    current::with_current(|current| {
        let observer = match current {
            Some(Current::Worker(worker)) if Arc::ptr_eq(&worker.shared, shared) => {
                Some(worker.observer())
            }
            Some(Current::BlockOn(block_on)) if Arc::ptr_eq(block_on.shared(), shared) => {
                Some(block_on.observer())
            }
            _ => None,
        };
        f(observer)
    })
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flavor = match self.inner {
            Flavor::CurrentThread(_) => "current_thread",
            Flavor::MultiThread(_) => "multi_thread",
        };
        f.debug_struct("Handle").field("flavor", &flavor).finish()
    }
}
