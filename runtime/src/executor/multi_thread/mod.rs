//! Many threads: the work-stealing flavour, beside the current-thread loop.
//!
//! The current-thread runtime is the article's loop on one thread. This flavour runs the same
//! loop on `n` worker threads at once (`Builder::worker_threads(n)`), and adds what that needs:
//!
//! - each worker has its own run queue (`queue.rs`), which idle workers steal half of, so that a
//!   worker stuck in a long poll does not hold up the tasks queued behind it;
//! - one shared injection queue (`executor/inject.rs`, the type the current-thread loop uses
//!   too) for tasks that come from outside the workers;
//! - a handshake that wakes a sleeping worker only when there is work it could take, and never
//!   misses one on its way to sleep (`idle.rs`);
//! - one reactor for the whole runtime, driven by whichever worker goes to sleep first: it waits
//!   in the reactor instead of on its condition variable, and wakes the tasks of the events;
//! - tasks pinned to a thread for `spawn_local` (`pinned.rs`);
//! - the `block_on` thread (`block_on.rs`), which polls the future passed to `block_on` (and the
//!   tasks it pins) while the workers run everything else.
//!
//! `worker.rs` is the worker's loop; this file is what the threads share and the runtime's own
//! side: building, spawning, stats, dumps and shutdown.

use std::future::Future;
use std::io;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle as ThreadHandle};

mod block_on;
mod driver;
mod idle;
#[cfg(all(test, nbio_loom))]
mod loom_block_in_place;
#[cfg(all(test, nbio_loom))]
mod loom_overflow;
#[cfg(all(test, nbio_loom))]
mod loom_tests;
mod pinned;
mod queue;
mod worker;

pub(crate) use block_on::BlockOn;
pub(crate) use worker::Worker;

use super::builder::Config;
use super::current::{self, Current};
use super::inject::Inject;
use super::report;
use crate::blocking::{BlockingPool, ShutdownReport};
use crate::loom::lock;
use crate::observe::{self, Dump, Observer, Stats, WorkerStats};
use crate::reactor::Reactor;
use crate::task::owned::{OwnedTasks, Shards};
use crate::task::raw::{self, Schedule, TaskMeta, TaskRef};
use crate::task::{JoinHandle, RuntimeNo, TaskIds};
use idle::{Idle, Parker, Unparked};
use pinned::{Owner, Pinned};
use queue::Queue;

/// How many locks the list of live `Send` tasks is split over: a spawn and a finish each take
/// one, picked by task id, so two workers rarely meet on the same one.
const LIST_SHARDS: usize = 16;

/// What the threads of one multi-thread runtime share.
pub(crate) struct Shared {
    /// The one reactor, driven by whichever worker parks in it.
    pub(crate) reactor: Arc<Reactor>,
    workers: Box<[WorkerSlot]>,
    inject: Inject<TaskRef>,
    idle: Idle,
    /// Held by the worker that blocks in the reactor; the others park on their condvar.
    driver: AtomicBool,
    /// Every `Send` task whose future still exists, in shards.
    tasks: OwnedTasks<Shards>,
    /// Ids of tasks and of blocking jobs.
    ids: Arc<TaskIds>,
    /// Threads for blocking work, shared by every worker; none until the first job.
    pub(crate) blocking: BlockingPool,
    spawned: AtomicU64,
    completed: AtomicU64,
    /// Wakes from threads that are not this runtime's workers (and pinned tasks woken from
    /// another thread than theirs).
    remote_wakes: AtomicU64,
    /// Wakes of the `block_on` future, all and from other threads.
    pub(crate) main_wakes: AtomicU64,
    pub(crate) main_remote_wakes: AtomicU64,
    pub(crate) observe: Arc<observe::RuntimeRecorder>,
    pub(crate) event_interval: u32,
    /// The seed of the workers' own choices (whom to steal from first), if any.
    pub(crate) seed: Option<u64>,
    shutting_down: AtomicBool,
    /// The pinned tasks of the `block_on` thread, for stats and dumps from any thread.
    block_on_pinned: OnceLock<Arc<Pinned>>,
    /// The `block_on` thread's bed: the last worker to fall asleep wakes it, so that it looks
    /// again whether anything can still wake its future (its deadlock check).
    block_on_parker: OnceLock<Arc<Parker>>,
}

/// What the others may touch of one worker.
pub(crate) struct WorkerSlot {
    queue: Queue,
    parker: Parker,
    pinned: Arc<Pinned>,
    counters: WorkerCounters,
}

/// Counters one worker writes (plain stores of its own, read by `stats`).
#[derive(Default)]
pub(crate) struct WorkerCounters {
    polls: AtomicU64,
    steals: AtomicU64,
    local_wakes: AtomicU64,
    cross_thread_wakes: AtomicU64,
    parks: AtomicU64,
    unparks: AtomicU64,
}

/// Adds one to a counter only its owner writes.
fn bump(counter: &AtomicU64) {
    add(counter, 1);
}

/// Adds `n` to a counter only its owner writes: a load and a store, no read-modify-write.
fn add(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed) + n, Relaxed);
}

impl Shared {
    /// Makes a task of `future` (a `Send` one: any worker may run it) and queues it.
    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        future: F,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
        observer: Option<&Observer>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = self.ids.next();
        let site = match observer {
            Some(observer) => observer.spawned_at(id, name, location),
            None => {
                let site = self.observe.site_of(location);
                self.observe.spawned_elsewhere(id, name, location);
                site
            }
        };
        let task = raw::allocate(future, Arc::clone(self), TaskMeta::new(id, site));
        self.tasks.insert(task.registered);
        self.spawned.fetch_add(1, Relaxed);
        current::with_current(|current| match current {
            Some(Current::Worker(worker)) if Arc::ptr_eq(&worker.shared, self) => {
                worker.push_spawned(task.queued)
            }
            _ => self.push_injected(task.queued),
        });
        JoinHandle::new(task.handle)
    }

    /// Makes a task pinned to the thread of `pinned` (a worker, or the `block_on` thread),
    /// which is the calling thread: `spawn_local`.
    pub(crate) fn spawn_pinned<F>(
        &self,
        future: F,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
        observer: &Observer,
        runner: &pinned::PinnedRunner,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let id = self.ids.next();
        let meta = TaskMeta::new(id, observer.spawned_at(id, name, location));
        let task = raw::allocate(future, Arc::clone(&runner.pinned), meta);
        runner.pinned.tasks.insert(task.registered);
        self.spawned.fetch_add(1, Relaxed);
        runner.requeue(task.queued);
        JoinHandle::new(task.handle)
    }

    /// Queues a task for any worker, and wakes one if one sleeps.
    fn push_injected(&self, task: TaskRef) {
        // Refused once the runtime shuts down: the task is dropped with its queue reference.
        if self.inject.push([task], || {}).is_ok() {
            self.announce();
        }
    }

    /// Half of a worker's full ring, moved here for any worker to take. Refused once the
    /// runtime shuts down: the tasks are dropped with their queue references.
    fn push_overflow(&self, tasks: impl IntoIterator<Item = TaskRef>) {
        let _ = self.inject.push(tasks, || {});
    }

    /// A wake from a thread that is not one of ours.
    fn note_remote_wake(&self) {
        self.remote_wakes.fetch_add(1, Relaxed);
    }

    /// Work was published that a sleeping worker could take: wake one, unless one is already
    /// searching (it will find this too).
    #[inline]
    fn announce(&self) {
        if let Some(worker) = self.idle.worker_to_wake() {
            self.unpark(worker);
        }
    }

    /// Wakes worker `index` from its condvar or from the reactor.
    fn unpark(&self, index: usize) {
        let slot = &self.workers[index];
        slot.counters.unparks.fetch_add(1, Relaxed);
        if slot.parker.unpark() == Unparked::NotifyDriver {
            self.reactor.notify();
        }
    }

    /// Whether any work waits that a worker could take: what a worker checks once more after
    /// registering as a sleeper.
    fn has_work_for(&self, index: usize) -> bool {
        !self.inject.is_empty()
            || self.workers[index].pinned.has_inbox()
            || self.workers.iter().any(|slot| !slot.queue.is_empty())
    }

    /// A worker is about to sleep: if it is the last one awake, the `block_on` thread looks
    /// again whether its future can still be woken.
    ///
    /// Not while a socket or a timer is awaited: the look would stop there (`diagnose`'s first
    /// test) and the thread would only go back to sleep. A server whose workers all fall
    /// asleep between two requests would pay that futile wake, a third thread's context
    /// switch, every time. The last such wait ends on a thread that looks again: a worker
    /// (the event or the timer wakes it, and it falls asleep again afterwards) or the
    /// `block_on` thread itself (it looks before it sleeps).
    fn falling_asleep(&self) {
        if self.idle.sleeping() != self.workers.len() {
            return;
        }
        let reactor = &self.reactor;
        if reactor.has_waiters() || reactor.pending_timers() != 0 {
            return;
        }
        if let Some(parker) = self.block_on_parker.get() {
            parker.unpark();
        }
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Acquire)
    }

    /// The task finished: take it off its shard and count it.
    fn finished(&self, task: &TaskRef, had_output: bool) -> TaskRef {
        // SAFETY: every `Send` task of this runtime is listed with them until it finishes, and
        // finishes once.
        let listed = unsafe { self.tasks.remove(task) };
        if had_output {
            self.completed.fetch_add(1, Relaxed);
        }
        listed
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: TaskRef) {
        current::with_current(|current| match current {
            // The fast path: woken on one of this runtime's workers.
            Some(Current::Worker(worker)) if Arc::ptr_eq(&worker.shared, self) => {
                worker.push_woken(task)
            }
            Some(Current::Worker(worker)) => {
                bump(&worker.counters().cross_thread_wakes);
                self.note_remote_wake();
                self.push_injected(task);
            }
            _ => {
                self.note_remote_wake();
                self.push_injected(task);
            }
        });
    }

    fn runtime(&self) -> RuntimeNo {
        self.ids.runtime()
    }
}

/// The multi-thread runtime, as `Runtime` holds it.
pub(crate) struct MultiThread {
    shared: Arc<Shared>,
    threads: Mutex<Vec<ThreadHandle<()>>>,
    block_on: Rc<BlockOn>,
}

impl MultiThread {
    /// Builds the runtime and starts its `workers` threads.
    pub(crate) fn new(config: &Config, workers: usize) -> io::Result<MultiThread> {
        let ids = Arc::new(TaskIds::new());
        let observed = observe::RuntimeRecorder::new(&config.observe, TaskMeta::TAG_MAX);
        observed.set_many_threads();
        let reactor = Arc::new(Reactor::new()?);
        let runtime = ids.runtime();
        let blocking = BlockingPool::new(
            config.blocking,
            config.threads.clone(),
            Arc::clone(&ids),
            Arc::clone(&observed),
        );
        let shared = Arc::new_cyclic(|weak| Shared {
            reactor,
            workers: (0..workers)
                .map(|index| WorkerSlot {
                    queue: Queue::new(),
                    parker: Parker::new(),
                    pinned: Pinned::new(
                        Owner::Worker {
                            runtime: weak.clone(),
                            index,
                        },
                        runtime,
                    ),
                    counters: WorkerCounters::default(),
                })
                .collect(),
            inject: Inject::new(),
            idle: Idle::new(workers),
            driver: AtomicBool::new(false),
            tasks: OwnedTasks::new(Shards::new(LIST_SHARDS)),
            ids,
            blocking,
            spawned: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            remote_wakes: AtomicU64::new(0),
            main_wakes: AtomicU64::new(0),
            main_remote_wakes: AtomicU64::new(0),
            observe: observed,
            event_interval: config.event_interval,
            seed: config.seed,
            shutting_down: AtomicBool::new(false),
            block_on_pinned: OnceLock::new(),
            block_on_parker: OnceLock::new(),
        });
        let block_on = Rc::new(BlockOn::new(&shared, config.on_cycle));
        let _ = shared
            .block_on_pinned
            .set(Arc::clone(&block_on.pinned_runner().pinned));
        let _ = shared.block_on_parker.set(block_on.parker());
        let runtime = MultiThread {
            shared,
            threads: Mutex::default(),
            block_on,
        };
        for index in 0..workers {
            let shared = Arc::clone(&runtime.shared);
            let spawned = thread::Builder::new()
                .name(
                    config
                        .threads
                        .name_or(|| format!("nbio-worker-{}", index + 1)),
                )
                .spawn(move || Worker::run(shared, index));
            match spawned {
                Ok(handle) => lock(&runtime.threads).push(handle),
                // Dropping `runtime` stops and joins the workers already started.
                Err(err) => {
                    return Err(io::Error::new(
                        err.kind(),
                        format!("could not start nbio worker thread {}: {err}", index + 1),
                    ))
                }
            }
        }
        Ok(runtime)
    }

    /// Runs `future` on this thread until it completes; the workers run everything else.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.block_on.run(future)
    }

    /// Spawns a `Send` task from this (the runtime's) thread.
    pub(crate) fn spawn<F>(
        &self,
        future: F,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared
            .spawn(future, name, location, Some(self.block_on.observer()))
    }

    /// Spawns a task pinned to this (the runtime's, the `block_on`) thread.
    pub(crate) fn spawn_local<F>(
        &self,
        future: F,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.block_on.spawn_local(future, name, location)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The side of the runtime on the thread that owns it (`Runtime::enter` enters it).
    pub(crate) fn block_on_side(&self) -> &Rc<BlockOn> {
        &self.block_on
    }

    /// Counters of the runtime, as they are now.
    pub(crate) fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// The live tasks, oldest first.
    pub(crate) fn dump(&self) -> Dump {
        self.shared.dump()
    }

    /// Drops every task's future and joins the workers, cancels the blocking jobs still queued
    /// and waits at most `grace` for the running ones. Only the first call does anything.
    pub(crate) fn shutdown(&self, grace: std::time::Duration) -> Option<ShutdownReport> {
        let shared = &self.shared;
        if shared.shutting_down.swap(true, AcqRel) {
            return None;
        }
        // Wake everyone: sleeping workers see the flag and leave their loops.
        for index in 0..shared.workers.len() {
            shared.unpark(index);
        }
        shared.reactor.notify();
        for handle in lock(&self.threads).drain(..) {
            // A worker thread only ends by returning from its loop; a panic there is a bug in
            // nbio that has already been printed.
            let _ = handle.join();
        }
        // The workers dropped their pinned tasks and emptied their queues; the rest of the
        // `Send` tasks (idle ones, and those queued for any worker) go here, on this thread.
        drop(shared.inject.close());
        shared.tasks.shutdown_all(|| {});
        self.block_on.pinned_runner().shutdown();
        let report = shared.blocking.shutdown(grace);
        shared.reactor.shutdown();
        shared.observe.shutdown();
        Some(report)
    }
}

impl Shared {
    /// Every thread's pinned tasks: the workers', then the `block_on` thread's.
    fn all_pinned(&self) -> impl Iterator<Item = &Arc<Pinned>> {
        self.workers
            .iter()
            .map(|slot| &slot.pinned)
            .chain(self.block_on_pinned.get())
    }

    /// Counters, summed over the threads.
    pub(crate) fn stats(&self) -> Stats {
        let workers: Vec<WorkerStats> = self
            .workers
            .iter()
            .map(|slot| {
                let c = &slot.counters;
                WorkerStats {
                    polls: c.polls.load(Relaxed),
                    steals: c.steals.load(Relaxed),
                    wakes: c.local_wakes.load(Relaxed),
                    cross_thread_wakes: c.cross_thread_wakes.load(Relaxed),
                    parks: c.parks.load(Relaxed),
                    unparks: c.unparks.load(Relaxed),
                }
            })
            .collect();
        let alive = self.tasks.len()
            + self
                .all_pinned()
                .map(|pinned| pinned.tasks.len())
                .sum::<usize>();
        let pinned_wakes: u64 = self.all_pinned().map(|pinned| pinned.wakes()).sum();
        let remote = self.remote_wakes.load(Relaxed);
        let main = self.main_wakes.load(Relaxed);
        let main_remote = self.main_remote_wakes.load(Relaxed);
        let local: u64 = workers.iter().map(|w| w.wakes).sum::<u64>() + pinned_wakes;
        Stats {
            tasks_spawned: self.spawned.load(Relaxed),
            tasks_completed: self.completed.load(Relaxed),
            tasks_alive: alive as u64,
            polls: workers.iter().map(|w| w.polls).sum(),
            wakes: local + remote + main,
            remote_wakes: remote + main_remote,
            block_on_wakes: main,
            workers,
            ..report::shared_stats(&self.reactor, &self.blocking, &self.observe)
        }
    }

    /// Calls `f` on every live task: the `Send` ones and each thread's pinned ones.
    fn for_each_task(&self, mut f: impl FnMut(&crate::task::raw::Header)) {
        self.tasks.for_each(&mut f);
        for pinned in self.all_pinned() {
            pinned.tasks.for_each(&mut f);
        }
    }

    /// Every live task, in id order.
    pub(crate) fn dump(&self) -> Dump {
        let mut tasks = Vec::new();
        self.for_each_task(|task| tasks.push(report::task_info(task, &self.observe)));
        tasks.sort_by_key(|task| task.id);
        Dump::new(tasks, self.blocking.jobs())
    }
}
