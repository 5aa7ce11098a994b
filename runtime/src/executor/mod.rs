//! The executor: `Runtime`, `block_on`, `spawn`, the article's event loop as an API.
//!
//! The article builds its loop by hand in `__main__`: a list of generators, a `while` that
//! calls `next()` on each, and a `select()` between rounds. Here the loop is
//! [`Runtime::block_on`]; the list is a run queue fed by wakers; `spawn` adds a task; and
//! `yield_now` is the article's bare `yield`, which lets the others run.
//!
//! A runtime runs on one thread: the thread that calls `block_on`. Wakers may be used from
//! any thread; a wake from another thread reaches the runtime through a locked queue and, if
//! the runtime is blocked in the reactor, a notification that ends the wait.

use std::future::Future;
use std::io::{self, Write};
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

mod current;
mod doorbell;
pub(crate) mod join_set;
#[cfg(all(test, nbio_loom))]
mod loom_tests;
mod scheduler;
pub(crate) mod task_builder;

use scheduler::Config;
pub(crate) use scheduler::Scheduler;

use crate::blocking::{PoolConfig, ShutdownReport, DROP_GRACE};
use crate::context;
use crate::observe::{Dump, ObserveConfig, Stats};
use crate::task::JoinHandle;

/// How many polls run between two looks at the reactor while tasks stay ready. Low enough that
/// a socket event waits at most this many polls; high enough that the look (a syscall when a
/// socket is being waited on) is paid rarely. An odd number, so that it does not fall into step
/// with tasks that yield in a regular pattern.
const DEFAULT_EVENT_INTERVAL: u32 = 61;

/// An nbio runtime: a run queue, a reactor and their loop, on the thread that calls
/// [`block_on`](Runtime::block_on).
///
/// Dropping the runtime drops the future of every task it still holds, so their destructors
/// run; awaiting their handles afterwards gives a cancelled [`JoinError`](crate::JoinError).
/// Blocking jobs still queued are cancelled the same way; jobs already running get at most one
/// second to return, after which the drop names each one on stderr and leaves its thread to
/// finish it alone (see [`Runtime::shutdown_timeout`] to choose the wait and get the list).
/// Dropping a runtime never waits forever.
///
/// ```
/// let rt = nbio::Runtime::new()?;
/// let handle = rt.spawn(async { 1 + 1 }); // queued now, runs once block_on drives the loop
/// assert_eq!(rt.block_on(handle).unwrap(), 2);
/// # std::io::Result::Ok(())
/// ```
pub struct Runtime {
    scheduler: Rc<Scheduler>,
}

impl Runtime {
    /// A runtime with the default settings.
    ///
    /// # Errors
    /// If the poller cannot be created (the process is out of file descriptors, say).
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to choose settings first.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` to completion on this thread, and every spawned task while it waits.
    ///
    /// Tasks still pending when `future` completes stay in the runtime and go on at the next
    /// `block_on` (or are dropped with the runtime).
    ///
    /// # Panics
    /// If this thread is already inside `block_on`: await the future instead. A panic of
    /// `future` itself propagates out of `block_on`; panics of spawned tasks do not.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.scheduler.block_on(future)
    }

    /// Spawns a task on this runtime. Works before `block_on` too: the task runs once the
    /// loop is driven.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.scheduler.spawn(future, None, Location::caller())
    }

    /// Spawns a task whose future need not be `Send` (it holds an `Rc`, say).
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.scheduler.spawn(future, None, Location::caller())
    }

    /// Runs `f` on this runtime's blocking pool, as [`nbio::spawn_blocking`](crate::spawn_blocking)
    /// does from inside it. Works before `block_on` too; the job starts at once.
    ///
    /// ```
    /// let rt = nbio::Runtime::new()?;
    /// let sum = rt.spawn_blocking(|| (1..=10).sum::<u32>());
    /// assert_eq!(rt.block_on(sum).unwrap(), 55);
    /// # std::io::Result::Ok(())
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let scheduler = &self.scheduler;
        scheduler
            .blocking
            .spawn(f, Location::caller(), Some(&scheduler.observer))
    }

    /// Shuts the runtime down, waiting at most `grace` for its blocking jobs, and says which
    /// ones were still running.
    ///
    /// Every task's future is dropped (as when the runtime is dropped), blocking jobs that no
    /// thread has started are cancelled (their closures are dropped unrun), and the jobs that
    /// are running get `grace` to return. Those that do not are listed in the report; their
    /// threads are detached and leave as soon as their jobs return. A thread cannot be stopped
    /// from outside, so a job that never returns keeps its thread (and only that) forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = nbio::Runtime::new()?;
    /// let job = rt.spawn_blocking(|| std::thread::sleep(Duration::from_millis(5)));
    /// let report = rt.shutdown_timeout(Duration::from_secs(5));
    /// assert!(report.is_clean(), "{report}"); // the job had time to finish
    /// drop(job);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn shutdown_timeout(self, grace: Duration) -> ShutdownReport {
        let report = self.scheduler.shutdown(grace);
        report.expect("a runtime is shut down once, by shutdown_timeout or by its drop")
    }

    /// Counters of this runtime.
    pub fn stats(&self) -> Stats {
        self.scheduler.stats()
    }

    /// The live tasks, one line each when printed: id, name, spawn location, state, polls,
    /// time since the last poll, what last woke it, and whether anything still holds its
    /// waker (a waiting task whose waker nobody holds can never run again).
    pub fn dump(&self) -> Dump {
        self.scheduler.dump()
    }

    /// Writes what the journal recorded as Chrome Trace Event JSON, which ui.perfetto.dev
    /// opens: each poll a slice named after its task, wakes as arrows, reactor waits as slices.
    ///
    /// ```
    /// let rt = nbio::Runtime::builder().trace(true).build()?;
    /// rt.block_on(async { nbio::spawn(async {}).await.unwrap() });
    /// let mut json = Vec::new();
    /// rt.write_trace(&mut json)?;
    /// assert!(String::from_utf8(json).unwrap().contains("traceEvents"));
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` if tracing is off, or the writer's error.
    pub fn write_trace(&self, mut out: impl Write) -> io::Result<()> {
        self.scheduler.observer.shared().write_trace(&mut out)
    }

    pub(crate) fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(report) = self.scheduler.shutdown(DROP_GRACE) {
            if !report.is_clean() {
                eprintln!("nbio: the runtime was dropped; {report}");
            }
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("stats", &self.stats())
            .finish()
    }
}

/// Settings for a [`Runtime`].
///
/// ```
/// let rt = nbio::Runtime::builder().event_interval(31).build()?;
/// assert_eq!(rt.block_on(async { 7 }), 7);
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    config: Config,
}

impl Builder {
    /// The default settings, with the environment's say: `NBIO_TRACE=file.json` turns the
    /// journal on and writes it to that file when the runtime is dropped; `NBIO_EXPLAIN=1`
    /// prints every event as it happens.
    pub fn new() -> Builder {
        Builder {
            config: Config {
                event_interval: DEFAULT_EVENT_INTERVAL,
                observe: ObserveConfig::from_env(),
                blocking: PoolConfig::default(),
            },
        }
    }

    /// Records the journal of events (spawns, polls, wakes and their causes, reactor waits,
    /// `WouldBlock`s) for [`Runtime::write_trace`]. Off by default; costs a clock read per
    /// event when on.
    pub fn trace(mut self, on: bool) -> Builder {
        self.config.observe.trace = on;
        self
    }

    /// How many journal events to keep (default 262,144); older ones are dropped first, and
    /// the trace says how many were.
    pub fn trace_capacity(mut self, events: usize) -> Builder {
        self.config.observe.trace_capacity = events;
        self
    }

    /// Prints every event as it happens, one line each on stderr, in the spirit of the
    /// article's prints ("send_data#2: WouldBlock with 5,242,880 bytes remaining, waiting for
    /// writable on fd 7").
    pub fn explain(mut self, on: bool) -> Builder {
        self.config.observe.explain = on;
        self
    }

    /// Warns on stderr, one line per offence, when a single poll holds the thread longer than
    /// `threshold` (default 10 ms); `None` turns the warning off.
    pub fn slow_poll_threshold(mut self, threshold: Option<Duration>) -> Builder {
        self.config.observe.slow_poll_threshold = threshold;
        self
    }

    /// How many task polls may run between two looks at the reactor while tasks are always
    /// ready (default 61). Lower favours I/O latency, higher favours throughput of busy tasks.
    ///
    /// # Panics
    /// If `polls` is zero.
    pub fn event_interval(mut self, polls: u32) -> Builder {
        assert!(polls > 0, "event_interval must be at least 1");
        self.config.event_interval = polls;
        self
    }

    /// The most threads the blocking pool may run at once (default 512). Jobs beyond that wait
    /// in the pool's queue, oldest first; `Stats::blocking_jobs_queued` and
    /// `Stats::blocking_longest_queue_wait` show it. Threads start only when a job needs one.
    ///
    /// ```
    /// let rt = nbio::Runtime::builder().max_blocking_threads(2).build()?;
    /// let jobs: Vec<_> = (0..4).map(|i| rt.spawn_blocking(move || i * 2)).collect();
    /// assert!(rt.stats().blocking_threads <= 2);
    /// for (i, job) in jobs.into_iter().enumerate() {
    ///     assert_eq!(rt.block_on(job).unwrap(), i * 2);
    /// }
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Panics
    /// If `threads` is zero: jobs would never run.
    pub fn max_blocking_threads(mut self, threads: usize) -> Builder {
        assert!(
            threads > 0,
            "max_blocking_threads must be at least 1: with no thread, blocking jobs never run"
        );
        self.config.blocking.max_threads = threads;
        self
    }

    /// How long an idle blocking-pool thread waits for a new job before it leaves (default
    /// 10 s). A short keep-alive gives threads back sooner; a long one saves restarting them
    /// for jobs that come in bursts.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = nbio::Runtime::builder()
    ///     .blocking_keep_alive(Duration::from_millis(20))
    ///     .build()?;
    /// rt.block_on(rt.spawn_blocking(|| ())).unwrap();
    /// std::thread::sleep(Duration::from_millis(300));
    /// assert_eq!(rt.stats().blocking_threads, 0); // the idle thread left
    /// # std::io::Result::Ok(())
    /// ```
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.config.blocking.keep_alive = keep_alive;
        self
    }

    /// Creates the runtime.
    ///
    /// # Errors
    /// If the poller cannot be created.
    pub fn build(self) -> io::Result<Runtime> {
        Ok(Runtime {
            scheduler: Rc::new(Scheduler::new(self.config)?),
        })
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

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
    spawn_here(future, Location::caller())
}

/// Spawns a task whose future need not be `Send` on the current runtime.
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
    spawn_here(future, Location::caller())
}

fn spawn_here<F>(future: F, location: &'static Location<'static>) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_named(future, None, location)
}

/// Spawns on the current runtime, with an optional name; what every spawn comes down to.
pub(crate) fn spawn_named<F>(
    future: F,
    name: Option<Arc<str>>,
    location: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    on_current(
        "nbio::spawn",
        "Runtime::spawn",
        Some(location),
        |scheduler| scheduler.spawn(future, name, location),
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
    on_current("nbio::stats", "Runtime::stats", None, Scheduler::stats)
}

/// The live tasks of the current runtime; see [`Runtime::dump`].
///
/// # Panics
/// If called outside of a runtime.
pub fn dump() -> Dump {
    on_current("nbio::dump", "Runtime::dump", None, Scheduler::dump)
}

/// Runs `f` on the current runtime.
///
/// # Panics
/// Outside of a runtime, with a message that names the call (`what`, made at `at`) and the
/// `Runtime` method to use instead.
fn on_current<R>(
    what: &str,
    instead: &str,
    at: Option<&Location<'_>>,
    f: impl FnOnce(&Scheduler) -> R,
) -> R {
    current::with_current(|current| match current {
        Some(scheduler) => f(scheduler),
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
