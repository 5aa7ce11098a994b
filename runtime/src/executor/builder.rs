//! `Builder`: the settings of a runtime, and which flavour they build.
//!
//! Every setting lands in [`Config`], which the flavour that is built takes apart: how often
//! the loop looks at the reactor, what the observer records, the seed, virtual time, the
//! blocking pool. Without `worker_threads` the runtime is the current-thread loop; with it, the
//! multi-thread one.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::current_thread::CurrentThread;
use super::multi_thread::MultiThread;
use super::runtime::{Flavor, Runtime};
use super::DEFAULT_EVENT_INTERVAL;
use crate::blocking::{PoolConfig, ThreadHooks};
use crate::observe::ObserveConfig;

/// Settings the `Builder` passes down.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// How many tasks to poll between two looks at the reactor while the queue stays busy.
    pub(crate) event_interval: u32,
    /// What to record, time and print.
    pub(crate) observe: ObserveConfig,
    /// The seed of the order ready tasks are polled in; `None`: first woken, first polled.
    pub(crate) seed: Option<u64>,
    /// A virtual clock instead of real time (`reactor/clock.rs`).
    pub(crate) virtual_time: bool,
    /// The blocking pool's cap and keep-alive.
    pub(crate) blocking: PoolConfig,
    /// The name and start/stop hooks of the threads the runtime starts.
    pub(crate) threads: ThreadHooks,
    /// What `block_on` does when its tasks wait on each other in a cycle.
    pub(crate) on_cycle: OnCycle,
}

/// What `block_on` does when the tasks it waits on wait on each other in a cycle
/// ([`Builder::on_cycle`]).
///
/// A cycle is evidence of a deadlock, not proof: the only wakers still held are held by the
/// tasks of the cycle, but a guard or a handle may have gone where nbio cannot see it (a
/// `MutexGuard` sent to a plain thread, say), and that may still break it. A proven deadlock,
/// with no waker held anywhere, always panics, whatever the policy.
///
/// ```
/// use nbio::OnCycle;
/// let rt = nbio::Runtime::builder().on_cycle(OnCycle::Panic).build()?;
/// assert_eq!(rt.block_on(async { 7 }), 7);
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OnCycle {
    /// Print one report naming every task of the cycle and what each waits on, and go on
    /// waiting, in case something nbio cannot see breaks it. The default.
    #[default]
    Report,
    /// Panic with that report: `block_on` fails instead of waiting on. What `#[nbio::test]`
    /// does, so that a test whose tasks wait on each other fails instead of hanging.
    Panic,
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
                threads: ThreadHooks::default(),
                on_cycle: OnCycle::Report,
            },
            worker_threads: None,
        }
    }

    /// Runs spawned tasks on `n` worker threads instead of on the thread in `block_on`: the
    /// multi-thread flavour. Any worker runs any `Send` task, and a worker with nothing to do
    /// takes ready tasks from a busy one, so a task that blocks its worker does not hold up the
    /// tasks queued behind it. `spawn_local` tasks stay on the thread that spawned them. The
    /// guide's chapter 8 says what that buys and what it costs.
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
    /// the runtime's busy threads once per threshold to tell (every quarter of it while a poll
    /// is long): a poll twice the threshold long is always reported, a shorter one over the
    /// threshold when a look falls early enough in it.
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

    /// What `block_on` does when its tasks wait on each other in a cycle, as far as nbio can see:
    /// [`OnCycle::Report`] (the default) prints one report naming every task of the cycle and
    /// what each waits on, and goes on waiting; [`OnCycle::Panic`] panics with that report.
    /// Under a seed (`seed`, or `NBIO_SEED`) the report says `NBIO_SEED=<n> replays this run`.
    /// `#[nbio::test]` sets `Panic`: a test whose tasks wait on each other fails instead of
    /// hanging. A proven deadlock (no waker held anywhere) panics under either.
    ///
    /// ```
    /// use nbio::sync::{Barrier, Mutex};
    /// use std::sync::Arc;
    /// // Locks one mutex, waits until the other task has locked its own, then wants that one.
    /// async fn cross(mine: Arc<Mutex<()>>, theirs: Arc<Mutex<()>>, both: Arc<Barrier>) {
    ///     let _mine = mine.lock().await;
    ///     both.wait().await;
    ///     drop(theirs.lock().await);
    /// }
    /// let rt = nbio::Runtime::builder()
    ///     .on_cycle(nbio::OnCycle::Panic)
    ///     .seed(7)
    ///     .build()?;
    /// let (a, b) = (Arc::new(Mutex::new(())), Arc::new(Mutex::new(())));
    /// let both = Arc::new(Barrier::new(2));
    /// let stuck = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     rt.block_on(async {
    ///         let first = nbio::spawn(cross(a.clone(), b.clone(), both.clone()));
    ///         let second = nbio::spawn(cross(b, a, both));
    ///         first.await.unwrap();
    ///         second.await.unwrap();
    ///     })
    /// }));
    /// let report = stuck.unwrap_err();
    /// let report = report.downcast_ref::<String>().unwrap();
    /// assert!(report.contains("the tasks wait on each other in a cycle"));
    /// assert!(report.contains("NBIO_SEED=7 replays this run"));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn on_cycle(mut self, policy: OnCycle) -> Builder {
        self.config.on_cycle = policy;
        self
    }

    /// The policy [`on_cycle`](Builder::on_cycle) set, for what builds a runtime on a builder
    /// it was given (a simulation sets `Panic` unless told otherwise).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn cycle_policy(&self) -> OnCycle {
        self.config.on_cycle
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

    /// Names every thread the runtime starts `name`: its worker threads (with
    /// [`worker_threads`](Builder::worker_threads)) and its blocking pool's threads. Without it
    /// they are `nbio-worker-N` and `nbio-blocking-N`. The thread that calls `block_on` is
    /// yours, and keeps its name.
    ///
    /// ```
    /// let rt = nbio::Runtime::builder().worker_threads(1).thread_name("crunch").build()?;
    /// let name = |_| std::thread::current().name().map(String::from);
    /// let on_worker = rt.block_on(rt.spawn(async move { name(()) })).unwrap();
    /// let on_pool = rt.block_on(rt.spawn_blocking(move || name(()))).unwrap();
    /// assert_eq!(on_worker.as_deref(), Some("crunch"));
    /// assert_eq!(on_pool.as_deref(), Some("crunch"));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.config.threads.name = Some(name.into());
        self
    }

    /// Runs `f` on every thread the runtime starts, before it runs any task or job: each worker
    /// thread and each blocking-pool thread (pool threads come and go with the load, so `f` runs
    /// again for each new one). Not on the thread that calls `block_on`. The thread belongs to
    /// the runtime already: [`Handle::current`](crate::Handle::current) works in `f`.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    /// use std::sync::Arc;
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let counter = Arc::clone(&started);
    /// let rt = nbio::Runtime::builder()
    ///     .worker_threads(2)
    ///     .on_thread_start(move || {
    ///         counter.fetch_add(1, SeqCst);
    ///     })
    ///     .build()?;
    /// rt.block_on(rt.spawn_blocking(|| ())).unwrap();
    /// drop(rt); // joins the workers and the pool thread
    /// assert_eq!(started.load(SeqCst), 3); // two workers and one pool thread
    /// # std::io::Result::Ok(())
    /// ```
    pub fn on_thread_start<F>(mut self, f: F) -> Builder
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.config.threads.on_start = Some(std::sync::Arc::new(f));
        self
    }

    /// Runs `f` on every thread the runtime starts, last thing, once it is done: each worker
    /// thread as the runtime shuts down, each blocking-pool thread as it leaves (idle past its
    /// keep-alive, or at shutdown). A pool thread whose job outlives the shutdown's grace runs
    /// it when that job returns. Not on the thread that calls `block_on`. The thread still
    /// belongs to the runtime while `f` runs.
    pub fn on_thread_stop<F>(mut self, f: F) -> Builder
    where
        F: Fn() + Send + Sync + 'static,
    {
        self.config.threads.on_stop = Some(std::sync::Arc::new(f));
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
            None => Flavor::CurrentThread(Rc::new(CurrentThread::new(self.config)?)),
            Some(_) if self.config.virtual_time => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "virtual time needs the current-thread runtime: drop worker_threads, or \
                     virtual_time",
                ))
            }
            Some(workers) => Flavor::MultiThread(MultiThread::new(&self.config, workers)?),
        };
        let runtime = Runtime { flavor };
        super::enter::pool_threads_enter(&runtime.handle());
        Ok(runtime)
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_reported_by_default_and_the_setting_sticks() {
        assert_eq!(Builder::new().cycle_policy(), OnCycle::Report);
        let panics = Builder::new().on_cycle(OnCycle::Panic);
        assert_eq!(panics.cycle_policy(), OnCycle::Panic);
        assert_eq!(
            panics.on_cycle(OnCycle::Report).cycle_policy(),
            OnCycle::Report
        );
    }
}
