//! The pool's threads: how one is started, the loop it runs (take a job, run it, say it is
//! over), and the future a job is.
//!
//! A job's end is told twice, and in this order. First the job itself, from inside its poll,
//! as its closure returns or unwinds (`Inner::job_ended`): the run is counted and journaled
//! before the output is stored and the awaiter woken, so that whoever sees the result also
//! sees the count. Then the thread, once the poll is over and the awaiter woken
//! (`Inner::job_over`): only now does the count of unfinished jobs drop, so that a virtual
//! clock never jumps past a wake still on its way. A job cancelled before any thread took it
//! (`Inner::cancel`) gets only the second: its closure never ran.
//!
//! What a pool thread knows of itself lives in one thread-local, `PoolThread`: its recorder,
//! and whether the job it just ran called its closure (a job aborted before it started did
//! not).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread;
use std::time::Instant;

use super::queue::Pushed;
use super::Inner;
use crate::loom::lock;
use crate::observe::{JobRun, Observer, PollOutcome};
use crate::task::raw::{RunOutcome, TaskRef};
use crate::task::TaskId;

/// What a pool thread keeps for the jobs it runs. The pool's one thread-local: every other
/// thread has it too, empty.
struct PoolThread {
    /// The recorder of this pool thread, for the jobs it runs to journal their end.
    observer: RefCell<Option<Rc<Observer>>>,
    /// Whether the closure of the job this pool thread just ran was called (`job_ended`).
    closure_ran: Cell<bool>,
    /// The pool this thread runs jobs for (its `Inner`, as an address): only compared.
    pool: Cell<usize>,
}

thread_local! {
    static POOL_THREAD: PoolThread = const {
        PoolThread {
            observer: RefCell::new(None),
            closure_ran: Cell::new(false),
            pool: Cell::new(0),
        }
    };
}

/// Whether this thread is one of `pool`'s threads.
pub(super) fn running_for(pool: &Arc<Inner>) -> bool {
    POOL_THREAD.with(|thread| thread.pool.get() == Arc::as_ptr(pool) as usize)
}

/// Makes `observer` this thread's recorder, or takes it away (`None`).
fn set_observer(observer: Option<Rc<Observer>>) {
    POOL_THREAD.with(|thread| *thread.observer.borrow_mut() = observer);
}

/// Calls `f` with this thread's recorder, if it has one.
fn with_observer<R>(f: impl FnOnce(Option<&Observer>) -> R) -> R {
    let observer = POOL_THREAD.with(|thread| thread.observer.borrow().clone());
    f(observer.as_deref())
}

/// Records whether the closure of the job being run was called.
fn set_closure_ran(ran: bool) {
    POOL_THREAD.with(|thread| thread.closure_ran.set(ran));
}

/// Whether the closure of the job this thread just ran was called.
fn closure_ran() -> bool {
    POOL_THREAD.with(|thread| thread.closure_ran.get())
}

impl Inner {
    /// Queues a job and makes sure a thread will take it.
    pub(super) fn submit(self: &Arc<Inner>, job: TaskRef) {
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
            .name(self.hooks.name_or(|| format!("nbio-blocking-{index}")))
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
        let observer = Rc::new(Observer::new(&self.observe, &thread_label(index), false));
        // The thread belongs to the runtime while it lives: its jobs see it.
        let entered = (self.enter_hook.get()).and_then(|enter| enter(&observer));
        set_observer(Some(observer));
        POOL_THREAD.with(|thread| thread.pool.set(Arc::as_ptr(self) as usize));
        self.hooks.started();
        self.queue.arrived();
        while let Some((job, start)) = self.queue.next(self.config.keep_alive) {
            self.start_threads(start);
            self.run(job, index);
        }
        self.hooks.stopping();
        set_observer(None);
        POOL_THREAD.with(|thread| thread.pool.set(0));
        drop(entered);
    }

    /// One job fewer is unfinished: lower the count, then say so.
    pub(super) fn job_over(&self) {
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
        set_closure_ran(true);
        with_observer(|observer| {
            let Some(observer) = observer.filter(|o| o.journaling()) else {
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
        set_closure_ran(false);
        let outcome = job.run();
        let ran = closure_ran();
        let finished = match outcome {
            // The job journaled its run itself (`job_ended`).
            RunOutcome::Finished(task) => Some(task),
            // A job's future never returns `Pending`; should a wake ever re-queue one, it
            // goes back to the queue like any task.
            RunOutcome::Requeue(task) => {
                if let Some(record) = lock(&self.registry).get_mut(&id) {
                    record.started = None;
                }
                self.submit(task);
                return;
            }
            RunOutcome::Idle => None,
        };
        // The end, in this order: off the registry (an awaiter woken next finds the dump
        // without the job); then the finished task let go of, which publishes the output and
        // wakes the awaiter; only then over for a virtual clock, which could otherwise jump
        // past that wake (`virtual_time.rs`, `the_clock_holds_while_a_blocking_job_runs`).
        let record = lock(&self.registry).remove(&id);
        drop(finished);
        self.job_over();
        if !ran {
            // Aborted before it ran: its closure never ran. Its handle may already have said
            // "cancelled": this slice comes after.
            with_observer(|observer| {
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
    pub(super) fn cancel(&self, job: TaskRef) {
        let record = lock(&self.registry).remove(&job.header().id());
        job.shutdown();
        drop(job);
        drop(record);
        self.job_over();
    }
}

/// How dumps and traces name pool thread `index`.
pub(super) fn thread_label(index: u64) -> String {
    format!("blocking {index}")
}

/// The future of a blocking job: calls the closure once, on the pool thread that runs it.
pub(super) struct Job<F> {
    pub(super) f: Option<F>,
    /// Its own id, and its pool, told when the closure returns (`Inner::job_ended`). Weak:
    /// the pool's registry holds the job, and a job must not keep its pool alive.
    pub(super) id: TaskId,
    pub(super) pool: std::sync::Weak<Inner>,
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
