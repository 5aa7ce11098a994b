//! The blocking pool: threads for the work that is not I/O, so that it does not stall the
//! runtime's loop.
//!
//! The article's `time.sleep(0.02)` holds the whole loop for 20 ms; so does reading a file
//! (std's file calls block, and epoll cannot wait on a regular file), resolving a host name, or
//! calling a library that blocks. [`spawn_blocking`](crate::spawn_blocking) hands such a closure
//! to a pool of threads owned by the runtime and gives back a [`JoinHandle`] to await: the loop
//! runs other tasks meanwhile, and the awaiting task is woken when the closure returns.
//!
//! A job is a task. It is allocated by the task layer like any spawned future (its future calls
//! the closure once), so its `JoinHandle`, its `JoinError` (a panic is `is_panic()`), `abort()`
//! (of a job no thread has started: the closure never runs) and detaching by dropping the
//! handle all work as they do for tasks. Its `Schedule` is the pool's queue (`queue.rs`).
//!
//! What this pool promises, where pools elsewhere are often blamed for the opposite:
//!
//! - **It can be seen.** [`Stats`](crate::Stats) counts its threads, running, queued and run
//!   jobs and the longest queue wait; [`Runtime::dump`](crate::Runtime::dump) lists every queued
//!   and running job, where it was spawned, for how long, and which task awaits it; the Chrome
//!   trace draws each job as a slice on its pool thread's track, with arrows from the code that
//!   spawned it and to the task it woke.
//! - **It is bounded.** At most `Builder::max_blocking_threads` threads (default 512); more jobs
//!   wait in the queue, and the queue wait is measured. No thread exists before the first job,
//!   and an idle thread leaves after `Builder::blocking_keep_alive` (default 10 s).
//! - **It never hangs shutdown.** Dropping the runtime cancels the jobs still queued, waits at
//!   most one second for the running ones, then names on stderr each job it leaves behind and
//!   detaches its thread, which leaves as soon as its job returns.
//!   [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout) does the same with a grace
//!   of your choosing and returns the list instead of printing it.
//!
//! The pool in files: this one is the handle the runtime holds and what its jobs and threads
//! share; `threads.rs` the pool's threads, their loop and the future a job is; `registry.rs` what
//! the pool keeps of each unfinished job and the figures and dumps it reads from that;
//! `shutdown.rs` the end of the pool and its report; `queue.rs` the queue and the pool's growth;
//! `unfinished.rs` the count a virtual clock waits on.

use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

#[cfg(all(test, nbio_loom))]
mod loom_tests;
mod queue;
mod registry;
mod shutdown;
mod threads;
mod unfinished;

use queue::Queue;
use registry::Record;
pub use shutdown::ShutdownReport;
pub(crate) use shutdown::DROP_GRACE;
use threads::Job;
use unfinished::Unfinished;

use crate::loom::lock;
use crate::observe::{self, Observer};
pub use crate::observe::{Awaiter, JobInfo, JobState};
use crate::task::raw::{self, Schedule, TaskMeta, TaskRef};
use crate::task::{JoinHandle, RuntimeNo, TaskId, TaskIds};

/// The default cap on pool threads. A thread that sleeps in a blocking call costs little (a
/// stack of virtual memory, a few KiB of it touched), and the jobs that need many at once are
/// exactly the ones that wait on something slow: files on a network disk, name lookups, a
/// blocking client library. 512 is what tokio uses, so code moved from it meets the same
/// limit; it is far below the kernel's thread limits, and a burst beyond it queues (the queue
/// wait shows in `Stats`) instead of exhausting them.
pub(crate) const DEFAULT_MAX_THREADS: usize = 512;

/// The default keep-alive of an idle pool thread. Starting a thread costs tens of
/// microseconds, a file read a few; a service that reads files in bursts a few seconds apart
/// should not pay for a new thread on each one. After 10 s of nothing the threads go, so an
/// idle service holds none.
pub(crate) const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The pool's settings, from the runtime `Builder`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolConfig {
    /// At most this many threads at once (at least 1).
    pub(crate) max_threads: usize,
    /// An idle thread leaves after this long.
    pub(crate) keep_alive: Duration,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            max_threads: DEFAULT_MAX_THREADS,
            keep_alive: DEFAULT_KEEP_ALIVE,
        }
    }
}

/// What the runtime asks of every thread it starts, its workers and its pool threads alike:
/// a name, and a hook to run at the start and at the end of the thread (`Builder::thread_name`,
/// `on_thread_start`, `on_thread_stop`).
#[derive(Clone, Default)]
pub(crate) struct ThreadHooks {
    /// The name of every such thread; `None`: `nbio-worker-N`, `nbio-blocking-N`.
    pub(crate) name: Option<String>,
    /// Runs on the thread, first thing.
    pub(crate) on_start: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Runs on the thread, last thing.
    pub(crate) on_stop: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl ThreadHooks {
    /// The name of a thread the runtime starts: the chosen one, or `default`.
    pub(crate) fn name_or(&self, default: impl FnOnce() -> String) -> String {
        self.name.clone().unwrap_or_else(default)
    }

    /// A thread of the runtime starts its work: it belongs to the runtime already.
    pub(crate) fn started(&self) {
        if let Some(start) = &self.on_start {
            start();
        }
    }

    /// A thread of the runtime is done with its work: it still belongs to the runtime.
    pub(crate) fn stopping(&self) {
        if let Some(stop) = &self.on_stop {
            stop();
        }
    }
}

impl std::fmt::Debug for ThreadHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadHooks")
            .field("name", &self.name)
            .field("on_start", &self.on_start.is_some())
            .field("on_stop", &self.on_stop.is_some())
            .finish()
    }
}

/// Makes a pool thread belong to its runtime, given the thread's recorder; what it returns is
/// held until the thread leaves (`None`: the runtime is gone). The executor, which knows what
/// belonging means, sets it (`BlockingPool::on_thread_enter`).
pub(crate) type EnterHook =
    Box<dyn Fn(&std::rc::Rc<Observer>) -> Option<Box<dyn std::any::Any>> + Send + Sync>;

/// A runtime's blocking pool. Cloning it is cheap (one `Arc`); every clone is the same pool.
#[derive(Clone)]
pub(crate) struct BlockingPool {
    inner: Arc<Inner>,
}

/// What the pool's threads, its jobs (through their `Schedule`) and the runtime share.
///
/// How the pool grows and shrinks is the queue's business (`queue.rs`).
struct Inner {
    /// Jobs waiting for a thread, and the idle threads' handshake.
    queue: Queue<TaskRef>,
    /// Every job not yet finished, queued or running: for dumps, stats, shutdown and traces.
    registry: Mutex<HashMap<TaskId, Record>>,
    config: PoolConfig,
    /// The runtime's task ids: a job's id is a task id.
    ids: Arc<TaskIds>,
    /// The runtime's observer, which each pool thread records into with a track of its own.
    observe: Arc<observe::RuntimeRecorder>,
    /// Threads ever started: the next thread is "blocking N+1".
    started_threads: AtomicU64,
    /// The pool's threads, to join at shutdown. Finished ones are dropped when a new one
    /// starts, so the list stays as long as the pool is wide.
    handles: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// Jobs whose closure ran (returned or panicked). Counted by the job itself before its
    /// output is published, so that an awaiter that saw the result also sees the count.
    jobs_run: Arc<AtomicU64>,
    /// The longest queue wait so far, in nanoseconds.
    longest_wait: AtomicU64,
    /// Jobs not yet over: queued, running, or run but not yet past the wake of their awaiter.
    /// Lowered only after that wake, so that a virtual clock never jumps while the wake is on
    /// its way; the end hook then tells the runtime to look again.
    unfinished: Unfinished,
    /// Called each time a job is over (see `on_job_end`).
    job_end_hook: OnceLock<Box<dyn Fn(bool) + Send + Sync>>,
    /// The name and hooks of the pool's threads.
    hooks: ThreadHooks,
    /// Makes each pool thread belong to the runtime (see `on_thread_enter`).
    enter_hook: OnceLock<EnterHook>,
}

/// The pool's figures for `Stats`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PoolStats {
    pub(crate) threads: u64,
    pub(crate) running: u64,
    pub(crate) queued: u64,
    pub(crate) run: u64,
    pub(crate) longest_wait: Duration,
}

impl BlockingPool {
    /// A pool with no thread yet; `ids` and `observe` are its runtime's.
    pub(crate) fn new(
        config: PoolConfig,
        hooks: ThreadHooks,
        ids: Arc<TaskIds>,
        observe: Arc<observe::RuntimeRecorder>,
    ) -> BlockingPool {
        BlockingPool {
            inner: Arc::new(Inner {
                queue: Queue::new(config.max_threads),
                registry: Mutex::default(),
                config,
                ids,
                observe,
                started_threads: AtomicU64::new(0),
                handles: Mutex::default(),
                jobs_run: Arc::default(),
                unfinished: Unfinished::default(),
                job_end_hook: OnceLock::new(),
                hooks,
                enter_hook: OnceLock::new(),
                longest_wait: AtomicU64::new(0),
            }),
        }
    }

    /// Runs `f` on a pool thread; `location` is where the user's call was made, and `by` the
    /// calling thread's observer (to journal the spawn), if it has one. After shutdown the job
    /// is cancelled at once: its closure is dropped and the handle gives a cancelled
    /// `JoinError`.
    pub(crate) fn spawn<F, T>(
        &self,
        f: F,
        location: &'static Location<'static>,
        by: Option<&Observer>,
    ) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let inner = &self.inner;
        let id = inner.ids.next();
        let meta = TaskMeta::new(id, TaskMeta::TAG_MAX);
        let job = Job {
            f: Some(f),
            id,
            pool: Arc::downgrade(inner),
        };
        let task = raw::allocate(job, Arc::clone(inner), meta);
        if let Some(observer) = by {
            observer.job_spawned(id, location);
        }
        let record = Record::queued(task.registered, location);
        lock(&inner.registry).insert(id, record);
        inner.unfinished.started();
        inner.submit(task.queued);
        JoinHandle::new(task.handle)
    }

    /// Whether any job is queued or running: a virtual clock holds still until none is, since
    /// a job's end may wake a task before the next timer would.
    pub(crate) fn is_busy(&self) -> bool {
        self.inner.unfinished.any()
    }

    /// Asks that the next job's end call the hook with `true` (`unfinished.rs`). False if no
    /// job is busy any more: nothing will call it, and the caller must look again itself.
    pub(crate) fn watch_job_end(&self) -> bool {
        self.inner.unfinished.watch()
    }

    /// Calls `hook` each time a job is over (returned, panicked or cancelled), after
    /// `is_busy` counts it as over, with whether `watch_job_end` asked for it: a runtime on a
    /// virtual clock, asleep while a job runs, uses it to look again whether the clock may
    /// move; a deadlock check that waits for jobs, to look again. Set once.
    pub(crate) fn on_job_end(&self, hook: Box<dyn Fn(bool) + Send + Sync>) {
        let _ = self.inner.job_end_hook.set(hook);
    }

    /// The job running on this thread waits for its runtime (in `Handle::block_on`): until
    /// [`job_goes_on`](Self::job_goes_on), it counts as over for a virtual clock, which may then
    /// move to the timer the job waits for. Each call is matched by one `job_goes_on`.
    pub(crate) fn job_waits(&self) {
        self.inner.job_over();
    }

    /// The job that waited (`job_waits`) was woken: it counts as running again.
    pub(crate) fn job_goes_on(&self) {
        self.inner.unfinished.started();
    }

    /// Whether `self` is the pool whose job this thread is running.
    pub(crate) fn runs_here(&self) -> bool {
        threads::running_for(&self.inner)
    }

    /// The name and hooks of the runtime's threads (the workers run them too).
    pub(crate) fn thread_hooks(&self) -> &ThreadHooks {
        &self.inner.hooks
    }

    /// Calls `hook` on each pool thread as it starts, and keeps what it returns until the
    /// thread leaves: so a job runs on a thread that belongs to its runtime (`Handle::current`
    /// works there). Set once, before the first job.
    pub(crate) fn on_thread_enter(&self, hook: EnterHook) {
        let _ = self.inner.enter_hook.set(hook);
    }
}

impl Schedule for Arc<Inner> {
    fn schedule(&self, task: TaskRef) {
        self.submit(task);
    }

    fn joined(&self, task: TaskId, awaiter: Option<TaskId>) {
        if let Some(record) = lock(&self.registry).get_mut(&task) {
            record.awaiter = Some(awaiter);
        }
    }

    fn runtime(&self) -> RuntimeNo {
        self.ids.runtime()
    }
}
