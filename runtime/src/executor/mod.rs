//! The executor: `Runtime`, `block_on`, `spawn`, the article's event loop as an API.
//!
//! The article builds its loop by hand in `__main__`: a list of generators, a `while` that
//! calls `next()` on each, and a `select()` between rounds. Here the loop is
//! [`Runtime::block_on`]; the list is a run queue fed by wakers; `spawn` adds a task; and
//! `yield_now` is the article's bare `yield`, which lets the others run.
//!
//! Two flavours share this API (`runtime.rs`, `builder.rs`). The current-thread runtime
//! (`current_thread/`) runs on one thread, the thread that calls `block_on`: the article's loop,
//! grown up, and the one to read first. The multi-thread runtime (`multi_thread/`) runs the same
//! loop on several worker threads that steal work from each other. Every loop polls a task with
//! the same step (`poll.rs`), waits in the reactor from the same seat (`seat.rs`), and takes
//! work from other threads through the same injection queue (`inject.rs`). In both, wakers may
//! be used from any thread; a wake from another thread reaches the runtime through a locked
//! queue and, if the runtime is blocked in the reactor, a notification that ends the wait.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

mod block_in_place;
mod builder;
mod current;
mod current_thread;
mod enter;
mod handle;
mod inject;
pub(crate) mod join_set;
mod multi_thread;
mod poll;
mod report;
mod runtime;
mod seat;
mod seed;
pub(crate) mod task_builder;

pub use block_in_place::block_in_place;
use current::Current;
pub(crate) use current_thread::OffLoopWake;
pub use enter::{EnterGuard, TryCurrentError};
pub use handle::Handle;
pub use runtime::{Builder, OnCycle, Runtime};
pub(crate) use seed::draw_below;
pub(crate) use seed::from_env as seed_from_env;

use crate::context;
use crate::observe::{Dump, Stats};
use crate::task::JoinHandle;

/// How many polls run between two looks at the reactor while tasks stay ready. Low enough that
/// a socket event waits at most this many polls; high enough that the look (a syscall when a
/// socket is being waited on) is paid rarely. An odd number, so that it does not fall into step
/// with tasks that yield in a regular pattern.
const DEFAULT_EVENT_INTERVAL: u32 = 61;

/// Runs `future` to completion on a new runtime on this thread, then drops the runtime.
///
/// ```
/// let n = nbio::block_on(async {
///     nbio::time::sleep(std::time::Duration::from_millis(1)).await;
///     7
/// });
/// assert_eq!(n, 7);
/// ```
///
/// # Panics
/// If the runtime cannot be created (no file descriptor left for the poller), or if this
/// thread is already running an nbio runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let runtime = Runtime::new()
        .unwrap_or_else(|err| panic!("nbio::block_on could not create a runtime: {err}"));
    runtime.block_on(future)
}

/// Spawns a task on the current runtime.
///
/// ```
/// nbio::block_on(async {
///     let handles: Vec<_> = (0..3).map(|i| nbio::spawn(async move { i * 10 })).collect();
///     let mut sum = 0;
///     for handle in handles {
///         sum += handle.await.unwrap();
///     }
///     assert_eq!(sum, 30);
/// });
/// ```
///
/// # Panics
/// If called outside of a runtime (that is, not from code that `block_on` is running).
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_named(future, None, Location::caller())
}

/// Spawns a task whose future need not be `Send` on the current runtime. It stays on this
/// thread for its whole life: on a worker of the multi-thread runtime, that worker.
///
/// ```
/// use std::rc::Rc;
/// nbio::block_on(async {
///     let shared = Rc::new(5);
///     let copy = Rc::clone(&shared);
///     assert_eq!(nbio::spawn_local(async move { *copy + 1 }).await.unwrap(), 6);
/// });
/// ```
///
/// # Panics
/// If called outside of a runtime.
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_local_named(future, None, Location::caller())
}

/// Spawns a `Send` task on the current runtime, with an optional name. Inside a simulated
/// host (`nbio::sim`) the task is the host's: the host is current while it runs, and dies with it.
pub(crate) fn spawn_named<F>(
    future: F,
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match crate::sim::current() {
        None => spawn_here(future, name, location),
        Some(host) => spawn_on_host(host, future, name, location),
    }
}

/// `spawn_named` inside a simulated host: out of line, so that the real path's spawn stays
/// small enough to be inlined where it is called.
#[cold]
#[inline(never)]
fn spawn_on_host<F>(
    host: crate::sim::Hosted,
    future: F,
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_here(host.wrap(future), name, location)
}

/// `spawn_named`, for the future as it is given.
fn spawn_here<F>(
    future: F,
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    on_current(
        "nbio::spawn",
        "Runtime::spawn",
        Some(location),
        |current| match current {
            Current::Thread(scheduler) => scheduler.spawn(future, name, location),
            Current::Worker(worker) => {
                worker
                    .shared
                    .spawn(future, name, location, Some(worker.observer()))
            }
            Current::BlockOn(block_on) => {
                (block_on.shared()).spawn(future, name, location, Some(block_on.observer()))
            }
            Current::Handle(handle) => handle.spawn_named(future, name, location),
        },
    )
}

/// Spawns a task pinned to this thread on the current runtime, with an optional name (a
/// simulated host's, inside one, as `spawn_named`).
pub(crate) fn spawn_local_named<F>(
    future: F,
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    match crate::sim::current() {
        None => spawn_local_here(future, name, location),
        Some(host) => spawn_local_on_host(host, future, name, location),
    }
}

/// `spawn_local_named` inside a simulated host, out of line as `spawn_on_host`.
#[cold]
#[inline(never)]
fn spawn_local_on_host<F>(
    host: crate::sim::Hosted,
    future: F,
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_local_here(host.wrap(future), name, location)
}

/// `spawn_local_named`, for the future as it is given.
fn spawn_local_here<F>(
    future: F,
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    on_current(
        "nbio::spawn_local",
        "Runtime::spawn_local",
        Some(location),
        |current| match current {
            Current::Thread(scheduler) => scheduler.spawn(future, name, location),
            Current::Worker(worker) => worker.spawn_local(future, name, location),
            Current::BlockOn(block_on) => block_on.spawn_local(future, name, location),
            Current::Handle(_) => panic!(
                "nbio::spawn_local called on a thread that runs no loop of its runtime (a \
                 blocking-pool thread, or inside block_in_place or Handle::block_on) (at \
                 {location}): a local task is polled only by a loop on its own thread; use \
                 nbio::spawn"
            ),
        },
    )
}

/// Runs the blocking closure `f` on a thread of the current runtime's blocking pool, and
/// returns a handle that resolves to its result: for work that would stall the runtime's loop
/// (a file, a blocking library, a long computation).
///
/// The runtime keeps polling its other tasks (its timers tick, its sockets are served) while
/// the closure runs. A panic in the closure becomes the handle's [`JoinError`](crate::JoinError)
/// (`is_panic()`); [`JoinHandle::abort`] cancels a job that no thread has started yet (the
/// closure never runs); dropping the handle lets the job run on, detached.
///
/// ```
/// use std::time::Duration;
/// nbio::block_on(async {
///     let job = nbio::spawn_blocking(|| {
///         std::thread::sleep(Duration::from_millis(20)); // blocks a pool thread, not the loop
///         "slept"
///     });
///     let ticker = nbio::spawn(async {
///         for _ in 0..3 {
///             nbio::time::sleep(Duration::from_millis(1)).await; // ticks meanwhile
///         }
///     });
///     assert_eq!(job.await.unwrap(), "slept");
///     ticker.await.unwrap();
/// });
/// ```
///
/// # Panics
/// If called outside of a runtime (from a thread that is not running `block_on`); use
/// [`Runtime::spawn_blocking`] there.
#[track_caller]
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let location = Location::caller();
    crate::sim::refuse_blocking("nbio::spawn_blocking");
    context::spawn_blocking(f, location).unwrap_or_else(|| {
        panic!(
            "nbio::spawn_blocking called outside of an nbio runtime (at {location}); call it \
             from code run by nbio::block_on, or use Runtime::spawn_blocking"
        )
    })
}

/// Counters of the current runtime.
///
/// ```
/// nbio::block_on(async {
///     nbio::spawn(async {}).await.unwrap();
///     let stats = nbio::stats();
///     assert_eq!(stats.tasks_spawned, 1);
///     assert_eq!(stats.tasks_completed, 1);
/// });
/// ```
///
/// # Panics
/// If called outside of a runtime.
pub fn stats() -> Stats {
    on_current(
        "nbio::stats",
        "Runtime::stats",
        None,
        |current| match current {
            Current::Thread(scheduler) => scheduler.stats(),
            Current::Worker(worker) => worker.shared.stats(),
            Current::BlockOn(block_on) => block_on.shared().stats(),
            Current::Handle(handle) => handle.stats(),
        },
    )
}

/// The live tasks of the current runtime; see [`Runtime::dump`].
///
/// # Panics
/// If called outside of a runtime.
pub fn dump() -> Dump {
    on_current(
        "nbio::dump",
        "Runtime::dump",
        None,
        |current| match current {
            Current::Thread(scheduler) => scheduler.dump(),
            Current::Worker(worker) => worker.shared.dump(),
            Current::BlockOn(block_on) => block_on.shared().dump(),
            Current::Handle(handle) => handle.dump(),
        },
    )
}

/// Runs `f` on what runs on this thread.
///
/// # Panics
/// Outside of a runtime, with a message that names the call (`what`, made at `at`) and the
/// `Runtime` method to use instead.
fn on_current<R>(
    what: &str,
    instead: &str,
    at: Option<&Location<'_>>,
    f: impl FnOnce(Current<'_>) -> R,
) -> R {
    current::with_current(|current| match current {
        Some(current) => f(current),
        None => {
            let at = at.map(|at| format!(" (at {at})")).unwrap_or_default();
            panic!(
                "{what} called outside of an nbio runtime{at}; call it from code run by \
                 nbio::block_on, or use {instead}"
            )
        }
    })
}

/// Lets the other ready tasks run before this one goes on: the article's bare `yield`.
///
/// The task goes to the back of the run queue. Under a seed (`Builder::seed`) the next task is
/// drawn among every ready one, this one included: a yield then gives the others a chance, not
/// the first turn, which is how a seed finds the orders a busier runtime (or another worker)
/// could produce.
///
/// ```
/// nbio::block_on(async {
///     for _ in 0..3 {
///         nbio::yield_now().await;
///     }
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
#[derive(Debug)]
#[must_use = "yield_now does nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // Waking ourselves during the poll puts us at the back of the run queue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
