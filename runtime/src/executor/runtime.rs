//! `Runtime` and its `Builder`: one of two flavours behind one API.
//!
//! Without `Builder::worker_threads`, a runtime is the current-thread loop (`scheduler.rs`):
//! everything runs on the thread that calls `block_on`, the article's loop grown up. With it,
//! the multi-thread flavour (`multi_thread/`): the `block_on` future runs on the calling thread
//! and every spawned task on the worker threads.

use std::future::Future;
use std::io::{self, Write};
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use super::multi_thread::MultiThread;
use super::scheduler::{Config, Scheduler};
use super::{Handle, DEFAULT_EVENT_INTERVAL};
use crate::blocking::{PoolConfig, ShutdownReport, DROP_GRACE};
use crate::observe::{Dump, ObserveConfig, Stats};
use crate::task::JoinHandle;

/// An nbio runtime: a run queue, a reactor and their loop, on the thread that calls
/// [`block_on`](Runtime::block_on), or on worker threads (see [`Builder::worker_threads`]).
///
/// Dropping the runtime drops the future of every task it still holds, so their destructors
/// run (and joins its worker threads); awaiting their handles afterwards gives a cancelled
/// [`JoinError`](crate::JoinError). Blocking jobs still queued are cancelled the same way; jobs
/// already running get at most one second to return, after which the drop names each one on
/// stderr and leaves its thread to finish it alone (see [`Runtime::shutdown_timeout`] to choose
/// the wait and get the list). Dropping a runtime never waits forever.
///
/// ```
/// let rt = nbio::Runtime::new()?;
/// let handle = rt.spawn(async { 1 + 1 }); // queued now, runs once block_on drives the loop
/// assert_eq!(rt.block_on(handle).unwrap(), 2);
/// # std::io::Result::Ok(())
/// ```
pub struct Runtime {
    flavor: Flavor,
}

/// Which loop runs the tasks.
pub(crate) enum Flavor {
    /// The current-thread loop.
    CurrentThread(Rc<Scheduler>),
    /// Worker threads.
    MultiThread(MultiThread),
}

impl Runtime {
    /// A runtime with the default settings: the current-thread flavour.
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

    /// Runs `future` to completion on this thread. On the current-thread flavour every spawned
    /// task runs on this thread too, while it waits; on the multi-thread one the workers run
    /// them, and this thread runs only `future` and the tasks `spawn_local` pinned to it.
    ///
    /// Tasks still pending when `future` completes stay in the runtime and go on at the next
    /// `block_on` (on worker threads they simply go on), or are dropped with the runtime.
    ///
    /// # Panics
    /// If this thread is already inside `block_on`: await the future instead. A panic of
    /// `future` itself propagates out of `block_on`; panics of spawned tasks do not.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.block_on(future),
            Flavor::MultiThread(runtime) => runtime.block_on(future),
        }
    }

    /// Spawns a task on this runtime. Works before `block_on` too: on the current-thread
    /// flavour the task runs once the loop is driven, on the multi-thread one at once.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named(future, None, Location::caller())
    }

    /// Spawns a task whose future need not be `Send` (it holds an `Rc`, say). It runs on this
    /// thread, in `block_on`, whichever the flavour.
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn_local_named(future, None, Location::caller())
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
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.spawn(future, name, location),
            Flavor::MultiThread(runtime) => runtime.spawn(future, name, location),
        }
    }

    pub(crate) fn spawn_local_named<F>(
        &self,
        future: F,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.spawn(future, name, location),
            Flavor::MultiThread(runtime) => runtime.spawn_local(future, name, location),
        }
    }

    /// A handle to this runtime, to spawn onto it from any thread.
    ///
    /// ```
    /// let rt = nbio::Runtime::builder().worker_threads(2).build()?;
    /// let handle = rt.handle();
    /// let answer = std::thread::spawn(move || handle.spawn(async { 6 * 7 }))
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(rt.block_on(answer).unwrap(), 42);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn handle(&self) -> Handle {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => Handle::current_thread(&scheduler.shared),
            Flavor::MultiThread(runtime) => Handle::multi_thread(runtime.shared()),
        }
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
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => {
                scheduler
                    .shared
                    .blocking
                    .spawn(f, Location::caller(), Some(&scheduler.observer))
            }
            Flavor::MultiThread(runtime) => {
                runtime.shared().blocking.spawn(f, Location::caller(), None)
            }
        }
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
        self.shutdown(grace)
            .expect("a runtime is shut down once, by shutdown_timeout or by its drop")
    }

    fn shutdown(&self, grace: Duration) -> Option<ShutdownReport> {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.shutdown(grace),
            Flavor::MultiThread(runtime) => runtime.shutdown(grace),
        }
    }

    /// Counters of this runtime.
    pub fn stats(&self) -> Stats {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.stats(),
            Flavor::MultiThread(runtime) => runtime.stats(),
        }
    }

    /// The live tasks, one line each when printed: id, name, spawn location, state, polls,
    /// time since the last poll, the worker that last polled it, what last woke it, and
    /// whether anything still holds its waker (a waiting task whose waker nobody holds can
    /// never run again).
    pub fn dump(&self) -> Dump {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.dump(),
            Flavor::MultiThread(runtime) => runtime.dump(),
        }
    }

    /// Writes what the journal recorded as Chrome Trace Event JSON, which ui.perfetto.dev
    /// opens: one track per thread, each poll a slice named after its task, wakes and steals
    /// as arrows, reactor waits as slices.
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
        let observed = match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.observer.shared(),
            Flavor::MultiThread(runtime) => &runtime.shared().observe,
        };
        observed.write_trace(&mut out)
    }
}

impl Runtime {
    /// The journal as decisions, for `sim::check_determinism`.
    pub(crate) fn decisions(&self) -> Option<(Vec<String>, u64)> {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.observer.shared().decisions(),
            Flavor::MultiThread(runtime) => runtime.shared().observe.decisions(),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(report) = self.shutdown(DROP_GRACE) {
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
    worker_threads: Option<usize>,
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
                seed: None,
                virtual_time: false,
                blocking: PoolConfig::default(),
            },
            worker_threads: None,
        }
    }

    /// Runs spawned tasks on `n` worker threads instead of on the thread in `block_on`: the
    /// multi-thread flavour. Any worker runs any `Send` task, and a worker with nothing to do
    /// takes ready tasks from a busy one, so a task that blocks its worker does not hold up the
    /// tasks queued behind it. `spawn_local` tasks stay on the thread that spawned them. The
    /// guide's chapter 7 says what that buys and what it costs.
    ///
    /// ```
    /// let rt = nbio::Runtime::builder().worker_threads(2).build()?;
    /// let on_workers = rt.block_on(async {
    ///     nbio::spawn(async { std::thread::current().name().map(String::from) })
    ///         .await
    ///         .unwrap()
    /// });
    /// assert!(on_workers.unwrap().starts_with("nbio-worker-"));
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Panics
    /// If `n` is zero.
    pub fn worker_threads(mut self, n: usize) -> Builder {
        assert!(n > 0, "worker_threads must be at least 1");
        self.worker_threads = Some(n);
        self
    }

    /// Records the journal of events (spawns, polls, wakes and their causes, reactor waits,
    /// waits for readiness, steals) for [`Runtime::write_trace`]. Off by default; costs a
    /// clock read per event when on.
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

    /// Warns on stderr, one line per offence, when a single poll holds its thread longer than
    /// `threshold` (default 10 ms); `None` turns the warning off. A watchdog thread looks at
    /// the runtime's threads every quarter of the threshold to tell.
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

    /// Polls ready tasks in an order drawn from `seed` instead of first woken, first polled:
    /// the same seed and the same program give the same order of polls on the current-thread
    /// runtime, so a run that failed can be replayed, and other seeds try other orders. A panic
    /// that escapes `block_on` says which seed replays it (`NBIO_SEED=42 replays this run`).
    /// Without it, `NBIO_SEED=n` in the environment does the same; without either, tasks run
    /// in the order they were woken. On worker threads the seed fixes the runtime's own
    /// choices (whom a worker steals from first), not what the operating system does.
    ///
    /// ```
    /// let order = |seed| {
    ///     let runtime = nbio::Runtime::builder().seed(seed).build().unwrap();
    ///     runtime.block_on(async {
    ///         let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    ///         let tasks: Vec<_> = (0..8)
    ///             .map(|i| {
    ///                 let seen = seen.clone();
    ///                 nbio::spawn_local(async move { seen.borrow_mut().push(i) })
    ///             })
    ///             .collect();
    ///         for task in tasks {
    ///             task.await.unwrap();
    ///         }
    ///         seen.take()
    ///     })
    /// };
    /// assert_eq!(order(7), order(7)); // the same seed, the same order
    /// ```
    pub fn seed(mut self, seed: u64) -> Builder {
        self.config.seed = Some(seed);
        self
    }

    /// Runs the runtime on a virtual clock: it starts at the real now and stands still while
    /// tasks run; whenever no task can run (and no socket event is ready), it jumps to the next
    /// timer's deadline. Sleeps, timeouts and intervals then take no real time at all, and a
    /// test that sleeps an hour runs in microseconds, always the same. `nbio::time::now()` reads
    /// this clock; `nbio::time::advance(d)` moves it by hand.
    ///
    /// Only the current-thread runtime has a virtual clock; with `worker_threads`, `build`
    /// refuses it.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let runtime = nbio::Runtime::builder().virtual_time(true).build()?;
    /// let real = Instant::now();
    /// runtime.block_on(nbio::time::sleep(Duration::from_secs(3600)));
    /// assert!(real.elapsed() < Duration::from_secs(10));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn virtual_time(mut self, on: bool) -> Builder {
        self.config.virtual_time = on;
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

    /// Creates the runtime (and starts its worker threads, if it has any).
    ///
    /// # Errors
    /// If the poller cannot be created, or a worker thread cannot be started; `InvalidInput`
    /// if `NBIO_SEED` is set but not a number, or if virtual time is asked of worker threads.
    pub fn build(mut self) -> io::Result<Runtime> {
        if self.config.seed.is_none() {
            self.config.seed = super::seed::from_env()?;
        }
        let flavor = match self.worker_threads {
            None => Flavor::CurrentThread(Rc::new(Scheduler::new(self.config)?)),
            Some(_) if self.config.virtual_time => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "virtual time needs the current-thread runtime: drop worker_threads, or \
                     virtual_time",
                ))
            }
            Some(workers) => Flavor::MultiThread(MultiThread::new(&self.config, workers)?),
        };
        Ok(Runtime { flavor })
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}
