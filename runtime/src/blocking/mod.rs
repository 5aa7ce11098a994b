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

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

#[cfg(all(test, nbio_loom))]
mod loom_tests;
mod queue;
mod unfinished;

use queue::{Pushed, Queue};
use unfinished::Unfinished;

use crate::loom::lock;
use crate::observe::{self, human, JobRun, Observer, PollOutcome};
pub use crate::observe::{Awaiter, JobInfo, JobState};
use crate::task::raw::{self, RunOutcome, Schedule, TaskMeta, TaskRef};
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

/// How long dropping a runtime waits for jobs still running before it detaches their threads.
/// Long enough for a job that is finishing (a write being flushed) to finish; short enough that
/// a job that never ends costs a second, not a hang.
pub(crate) const DROP_GRACE: Duration = Duration::from_secs(1);

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
    observe: Arc<observe::Shared>,
    /// Threads ever started: the next thread is "blocking N+1".
    started_threads: AtomicU64,
    /// The pool's threads, to join at shutdown. Finished ones are dropped when a new one
    /// starts, so the list stays as long as the pool is wide.
    handles: Mutex<Vec<thread::JoinHandle<()>>>,
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
}

/// What the pool keeps of a job until it finishes.
struct Record {
    /// The registry's reference to the task (the queue and the handle hold their own).
    task: TaskRef,
    location: &'static Location<'static>,
    queued_at: Instant,
    /// When a thread took it, and which one ("blocking N").
    started: Option<(Instant, u64)>,
    /// Who last registered to await it: `None` if nobody did, `Some(None)` for code that is
    /// not a task (see `Schedule::joined`).
    awaiter: Option<Option<TaskId>>,
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
        ids: Arc<TaskIds>,
        observe: Arc<observe::Shared>,
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
        let meta = TaskMeta::new(id, TaskMeta::NO_SITE);
        let job = Job {
            f: Some(f),
            id,
            pool: Arc::downgrade(inner),
        };
        let task = raw::allocate(job, Arc::clone(inner), meta);
        if let Some(observer) = by {
            observer.job_spawned(id, location);
        }
        let record = Record {
            task: task.registered,
            location,
            queued_at: Instant::now(),
            started: None,
            awaiter: None,
        };
        lock(&inner.registry).insert(id, record);
        inner.unfinished.started();
        inner.submit(task.queued);
        JoinHandle::new(task.handle)
    }

    /// The pool's figures now.
    pub(crate) fn stats(&self) -> PoolStats {
        let inner = &self.inner;
        let counts = inner.queue.counts();
        let running = lock(&inner.registry)
            .values()
            .filter(|record| record.started.is_some())
            .count();
        PoolStats {
            threads: counts.threads as u64,
            running: running as u64,
            queued: counts.queued as u64,
            run: inner.jobs_run.load(Relaxed),
            longest_wait: Duration::from_nanos(inner.longest_wait.load(Relaxed)),
        }
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

    /// Every job queued or running, oldest first.
    pub(crate) fn jobs(&self) -> Vec<JobInfo> {
        let now = Instant::now();
        let registry = lock(&self.inner.registry);
        let mut jobs: Vec<JobInfo> = registry
            .iter()
            .map(|(&id, record)| record.info(id, now))
            .collect();
        drop(registry);
        jobs.sort_by_key(|job| job.id);
        jobs
    }

    /// Shuts the pool down: jobs still queued are cancelled (their closures dropped unrun),
    /// then the running ones get at most `grace` to finish. The threads that left are joined;
    /// those still running a job are detached (each leaves when its job returns) and named in
    /// the report. Calling it again is harmless.
    pub(crate) fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let inner = &self.inner;
        let began = Instant::now();
        let queued = inner.queue.shut_down();
        let cancelled = queued.len();
        for job in queued {
            inner.cancel(job);
        }
        let left = inner.queue.wait_for_threads(began + grace);
        let still_running = if left > 0 { self.jobs() } else { Vec::new() };
        let handles = std::mem::take(&mut *lock(&inner.handles));
        for handle in handles {
            // With no thread left in the pool's loop each of them is ending: joining is quick.
            // Otherwise only the finished ones are joined; the others are detached.
            if left == 0 || handle.is_finished() {
                let _ = handle.join();
            }
        }
        ShutdownReport {
            grace,
            waited: began.elapsed(),
            cancelled,
            still_running,
        }
    }
}

impl Inner {
    /// Queues a job and makes sure a thread will take it.
    fn submit(self: &Arc<Inner>, job: TaskRef) {
        match self.queue.push(job) {
            Pushed::Queued { start } => self.start_threads(start),
            Pushed::Refused(job) => self.cancel(job),
        }
    }

    fn start_threads(self: &Arc<Inner>, threads: usize) {
        for _ in 0..threads {
            self.start_thread();
        }
    }

    /// Starts a pool thread, which `Queue::push` has already counted.
    fn start_thread(self: &Arc<Inner>) {
        let index = self.started_threads.fetch_add(1, Relaxed) + 1;
        let inner = Arc::clone(self);
        let started = thread::Builder::new()
            .name(format!("nbio-blocking-{index}"))
            .spawn(move || inner.work(index));
        match started {
            Ok(handle) => {
                let mut handles = lock(&self.handles);
                handles.retain(|handle| !handle.is_finished());
                handles.push(handle);
            }
            Err(err) => {
                let orphans = self.queue.start_failed();
                eprintln!(
                    "nbio: the blocking pool could not start a thread: {err}; {}",
                    if orphans.is_empty() {
                        "its job waits for a running pool thread".to_string()
                    } else {
                        format!(
                            "no pool thread is left to run the {} queued job(s): they are \
                             cancelled",
                            orphans.len()
                        )
                    }
                );
                for job in orphans {
                    self.cancel(job);
                }
            }
        }
    }

    /// A pool thread: run jobs until the queue says to leave.
    fn work(self: &Arc<Inner>, index: u64) {
        let observer = Observer::new(&self.observe, &thread_label(index), false);
        THREAD_OBSERVER.set(Some(observer));
        self.queue.arrived();
        while let Some((job, start)) = self.queue.next(self.config.keep_alive) {
            self.start_threads(start);
            self.run(job, index);
        }
        THREAD_OBSERVER.set(None);
    }

    /// One job fewer is unfinished: lower the count, then say so.
    fn job_over(&self) {
        let watched = self.unfinished.over();
        if let Some(hook) = self.job_end_hook.get() {
            hook(watched);
        }
    }

    /// The closure of job `id` just returned (or is unwinding), on this pool thread: count it
    /// and journal its run. Called from inside the job's poll, before its output is stored and
    /// its awaiter woken, so that whoever sees the result also sees the count and the slice.
    fn job_ended(&self, id: TaskId) {
        self.jobs_run.fetch_add(1, Relaxed);
        CLOSURE_RAN.set(true);
        THREAD_OBSERVER.with_borrow(|observer| {
            let Some(observer) = observer.as_ref().filter(|o| o.journaling()) else {
                return;
            };
            let registry = lock(&self.registry);
            let Some(record) = registry.get(&id) else {
                return;
            };
            let Some((started, _)) = record.started else {
                return;
            };
            let awaited = record.task.header().state.load().has_handle();
            let run = JobRun {
                id,
                location: record.location,
                started,
                queued_for: started.saturating_duration_since(record.queued_at),
                outcome: PollOutcome::Done,
                awaiter: record.awaiter.flatten().filter(|_| awaited),
            };
            drop(registry);
            observer.job_ran(run);
        });
    }

    /// Runs one job on this pool thread.
    fn run(self: &Arc<Inner>, job: TaskRef, thread: u64) {
        let id = job.header().id();
        let started = Instant::now();
        let (queued_at, location) = {
            let mut registry = lock(&self.registry);
            let record = registry
                .get_mut(&id)
                .expect("a queued blocking job has a record until it finishes");
            record.started = Some((started, thread));
            (record.queued_at, record.location)
        };
        let queued_for = started.saturating_duration_since(queued_at);
        let nanos = queued_for.as_nanos().min(u128::from(u64::MAX)) as u64;
        self.longest_wait.fetch_max(nanos, Relaxed);
        CLOSURE_RAN.set(false);
        let outcome = job.run();
        let ran = CLOSURE_RAN.get();
        match outcome {
            // The job journaled its run itself (`job_ended`), before its awaiter was woken.
            RunOutcome::Finished(_) => {}
            // A job's future never returns `Pending`; should a wake ever re-queue one, it
            // goes back to the queue like any task.
            RunOutcome::Requeue(task) => {
                if let Some(record) = lock(&self.registry).get_mut(&id) {
                    record.started = None;
                }
                self.submit(task);
                return;
            }
            RunOutcome::Idle => {}
        }
        // Its awaiter has been woken by now. Only now is the job over for a virtual clock: had
        // the count dropped first, the clock could jump past the wake still on its way.
        self.job_over();
        let record = lock(&self.registry).remove(&id);
        if !ran {
            // Aborted before it ran: its closure never ran. Its handle may already have said
            // "cancelled": this slice comes after.
            THREAD_OBSERVER.with_borrow(|observer| {
                if let Some(observer) = observer {
                    observer.job_ran(JobRun {
                        id,
                        location,
                        started,
                        queued_for,
                        outcome: PollOutcome::Cancelled,
                        awaiter: None,
                    });
                }
            });
        }
        drop(record);
    }

    /// Cancels a job no thread has taken: its closure is dropped unrun, and its handle gives a
    /// cancelled `JoinError`.
    fn cancel(&self, job: TaskRef) {
        let record = lock(&self.registry).remove(&job.header().id());
        job.shutdown();
        drop(job);
        drop(record);
        self.job_over();
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

impl Record {
    fn info(&self, id: TaskId, now: Instant) -> JobInfo {
        let state = self.task.header().state.load();
        let awaited_by = if !state.has_handle() {
            Awaiter::Detached
        } else if !state.has_join_waker() {
            Awaiter::Nobody
        } else {
            match self.awaiter.flatten() {
                Some(task) => Awaiter::Task(task),
                None => Awaiter::NotATask,
            }
        };
        let (queued_for, running_for, state) = match self.started {
            None => (
                now.saturating_duration_since(self.queued_at),
                None,
                JobState::Queued,
            ),
            Some((started, thread)) => (
                started.saturating_duration_since(self.queued_at),
                Some(now.saturating_duration_since(started)),
                JobState::Running {
                    thread: thread_label(thread),
                },
            ),
        };
        JobInfo {
            id,
            spawned_at: self.location,
            state,
            queued_for,
            running_for,
            awaited_by,
        }
    }
}

/// How dumps and traces name pool thread `index`.
fn thread_label(index: u64) -> String {
    format!("blocking {index}")
}

/// The future of a blocking job: calls the closure once, on the pool thread that runs it.
struct Job<F> {
    f: Option<F>,
    /// Its own id, and its pool, told when the closure returns (`Inner::job_ended`). Weak:
    /// the pool's registry holds the job, and a job must not keep its pool alive.
    id: TaskId,
    pool: std::sync::Weak<Inner>,
}

thread_local! {
    /// The recorder of this pool thread, for the jobs it runs to journal their end.
    static THREAD_OBSERVER: RefCell<Option<Observer>> = const { RefCell::new(None) };
    /// Whether the closure of the job this pool thread just ran was called (`job_ended`).
    static CLOSURE_RAN: Cell<bool> = const { Cell::new(false) };
}

// The closure is moved out, never pinned in place.
impl<F> Unpin for Job<F> {}

impl<F: FnOnce() -> T, T> Future for Job<F> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
        let f = self
            .f
            .take()
            .expect("a blocking job's future is polled once: it is Ready the first time");
        // Told even if `f` panics (the guard drops while unwinding).
        let _ended = Ended(&self);
        Poll::Ready(f())
    }
}

/// Tells the job's pool that its closure is over, when dropped.
struct Ended<'a, F>(&'a Job<F>);

impl<F> Drop for Ended<'_, F> {
    fn drop(&mut self) {
        if let Some(pool) = self.0.pool.upgrade() {
            pool.job_ended(self.0.id);
        }
    }
}

/// What [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout) left behind: the
/// blocking jobs still running when the grace ran out. Their threads are detached; each one
/// leaves as soon as its job returns. Printing it gives a line per job.
///
/// ```
/// use std::time::Duration;
/// let rt = nbio::Runtime::new()?;
/// let (release, wait) = std::sync::mpsc::channel::<()>();
/// let stuck = rt.spawn_blocking(move || wait.recv().ok()); // waits until told
/// # while rt.stats().blocking_jobs_running == 0 { std::thread::yield_now(); }
/// let report = rt.shutdown_timeout(Duration::from_millis(50));
/// assert!(!report.is_clean());
/// assert_eq!(report.still_running()[0].id, stuck.id());
/// eprintln!("{report}");
/// release.send(()).unwrap(); // the detached thread finishes its job and leaves
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct ShutdownReport {
    grace: Duration,
    waited: Duration,
    cancelled: usize,
    still_running: Vec<JobInfo>,
}

impl ShutdownReport {
    /// True if every job had finished (or was cancelled unstarted) within the grace.
    pub fn is_clean(&self) -> bool {
        self.still_running.is_empty()
    }

    /// The jobs still running when the grace ran out, oldest first.
    pub fn still_running(&self) -> &[JobInfo] {
        &self.still_running
    }

    /// How many queued jobs were cancelled before any thread started them.
    pub fn cancelled(&self) -> usize {
        self.cancelled
    }

    /// How long the shutdown waited for running jobs.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cancelled = match self.cancelled {
            0 => String::new(),
            n => format!(" ({n} queued job(s) were cancelled unstarted)"),
        };
        if self.is_clean() {
            return write!(
                f,
                "every blocking job had finished after {}{cancelled}",
                human(self.waited)
            );
        }
        write!(
            f,
            "{} blocking job(s) still running after the {} grace{cancelled}; their threads are \
             detached and leave when their jobs return:",
            self.still_running.len(),
            human(self.grace)
        )?;
        for job in &self.still_running {
            write!(f, "\n  {job}")?;
        }
        Ok(())
    }
}
