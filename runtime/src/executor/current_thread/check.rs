//! Beside the loop: how it is built, entered and shut down, the checks it makes before it
//! sleeps (a virtual clock to move, `diagnose`'s verdict), and what it reports of itself
//! (stats, dump).
//!
//! None of this is needed to follow the loop in `mod.rs`; each piece enters it as one call.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use super::doorbell::{Doorbell, INJECTED, MAIN_WOKEN};
use super::remote::{Injected, MainWaker};
use super::run_queue::RunQueue;
use super::{Counters, CurrentThread, Remote};
use crate::blocking::{BlockingPool, ShutdownReport};
use crate::context::Entered;
use crate::diagnose::{self, Quiet, TaskView};
use crate::executor::builder::Config;
use crate::executor::current::{self, Loop, LoopGuard};
use crate::executor::inject::Inject;
use crate::executor::report::{self, OnStuck};
use crate::executor::seat::Seat;
use crate::observe::{self, Dump, Observer, Stats};
use crate::reactor::Reactor;
use crate::task::owned::OwnedTasks;
use crate::task::raw::TaskMeta;
use crate::task::TaskIds;

/// What the check before blocking keeps from one park to the next.
pub(super) struct Checks {
    /// What it does on a deadlock or a cycle of waits, and when it last reported a cycle.
    on_stuck: OnStuck,
}

impl CurrentThread {
    pub(crate) fn new(config: Config) -> io::Result<CurrentThread> {
        let (remote, observer) = build_remote(&config)?;
        Ok(CurrentThread {
            runtime: remote.ids.runtime(),
            main_waker: Arc::new(MainWaker {
                remote: Arc::clone(&remote),
            }),
            remote,
            run_queue: RunQueue::new(config.seed),
            tasks: OwnedTasks::new(RefCell::default()),
            event_interval: config.event_interval,
            counters: Counters::default(),
            seat: Seat::new(),
            main_wait: AtomicU64::new(0),
            checks: Checks {
                on_stuck: OnStuck::new(config.on_cycle, config.seed),
            },
            observer: Rc::new(observer),
            shut_down: Cell::new(false),
        })
    }

    /// Drops every task's future (the runtime is being dropped), cancels the blocking jobs
    /// still queued and waits at most `grace` for the running ones, then drops the reactor's
    /// timers. Only the first call does anything (and says what the pool left running); later
    /// ones return `None`.
    pub(crate) fn shutdown(&self, grace: Duration) -> Option<ShutdownReport> {
        if self.shut_down.replace(true) {
            return None;
        }
        for injected in self.remote.inject.close() {
            if let Injected::Spawned { registered, .. } = injected {
                registered.shutdown(); // spawned from elsewhere, never listed: drop it here
            }
        }
        self.tasks.shutdown_all(|| self.run_queue.clear());
        let report = self.remote.blocking.shutdown(grace);
        self.remote.reactor.shutdown();
        self.observer.shared().shutdown();
        Some(report)
    }
}

/// Makes `scheduler` what runs on this thread, for itself (`executor/current.rs`) and for the
/// code it polls (`crate::context`), until the guard is dropped.
pub(super) fn enter(scheduler: &Rc<CurrentThread>) -> LoopGuard {
    let entered = Entered {
        reactor: Arc::clone(&scheduler.remote.reactor),
        observer: Some(Rc::clone(&scheduler.observer)),
        blocking: scheduler.remote.blocking.clone(),
    };
    let seed = scheduler.run_queue.seed();
    current::enter_loop(Loop::Thread(Rc::clone(scheduler)), entered, seed)
}

/// Builds what other threads may touch of a new runtime, and the observer of its thread.
fn build_remote(config: &Config) -> io::Result<(Arc<Remote>, Observer)> {
    let mut observe_config = config.observe.clone();
    if config.virtual_time {
        // A poll takes no time on the virtual clock: there is no slow poll to warn about.
        observe_config.slow_poll_threshold = None;
    }
    let ids = Arc::new(TaskIds::new());
    let observed = observe::RuntimeRecorder::new(&observe_config, TaskMeta::TAG_MAX);
    let blocking = BlockingPool::new(
        config.blocking,
        config.threads.clone(),
        Arc::clone(&ids),
        Arc::clone(&observed),
    );
    let remote = Arc::new(Remote {
        inject: Inject::new(),
        doorbell: Doorbell::new(),
        ids,
        blocking,
        reactor: Arc::new(Reactor::with_clock(config.virtual_time)?),
        observed: Arc::clone(&observed),
        remote_wakes: AtomicU64::new(0),
        main_wakes: AtomicU64::new(0),
        main_remote_wakes: AtomicU64::new(0),
        spawned_elsewhere: AtomicU64::new(0),
        woken_off_loop: std::sync::OnceLock::new(),
    });
    // Asleep while a job runs, the loop must look again when the job is over, even if nobody
    // awaits it: always on a virtual clock (which holds for the job), and when the deadlock
    // check waited for it (`BlockingPool::watch_job_end`).
    let reactor = Arc::downgrade(&remote.reactor);
    let virtual_time = config.virtual_time;
    remote.blocking.on_job_end(Box::new(move |watched| {
        if virtual_time || watched {
            if let Some(reactor) = reactor.upgrade() {
                reactor.notify();
            }
        }
    }));
    let observer = Observer::new(&observed, "the runtime's thread", true);
    Ok((remote, observer))
}

impl CurrentThread {
    /// Before the loop parks: with virtual time, and no task can run, first deliver the socket
    /// events that are ready (they always come before the clock moves), then, if there still is
    /// nothing to run and no blocking job is queued or running, move the clock to the next
    /// timer's deadline. True if either made something runnable: the loop goes on instead of
    /// parking. While a job runs the clock holds, and the loop sleeps until the job's end (or
    /// an event) wakes it.
    pub(super) fn check_before_park(&self) -> bool {
        let reactor = &self.remote.reactor;
        if !reactor.is_virtual() {
            return false;
        }
        let runnable =
            || !self.run_queue.is_empty() || self.remote.doorbell.pending(INJECTED | MAIN_WOKEN);
        self.poll_reactor(false);
        if runnable() {
            return true;
        }
        if self.remote.blocking.is_busy() {
            return false;
        }
        let moved = self.seat.jump_to_next_timer(reactor);
        self.seat.wake_collected(&self.observer);
        let runnable = moved && runnable();
        if runnable {
            self.observer.begin_turn();
        }
        runnable
    }

    /// The loop may block: unless something can still wake it (`diagnose`), it panics with a
    /// dump, or, on a cycle of waits, reports it once and blocks (or panics with the report,
    /// under `OnCycle::Panic`).
    pub(super) fn check_before_block(&self) {
        let verdict = diagnose::verdict(self);
        if self.checks.on_stuck.panics_on(verdict) {
            self.remote.doorbell.unparked();
        }
        let progress = self.counters.polls.get();
        (self.checks.on_stuck).act_on(verdict, progress, "", || self.dump());
    }

    /// The live tasks, oldest first.
    pub(crate) fn dump(&self) -> Dump {
        let mut tasks = Vec::with_capacity(self.tasks.len());
        let observed = self.observer.shared();
        self.tasks
            .for_each(|task| tasks.push(report::task_info(task, observed)));
        tasks.reverse();
        Dump::new(tasks, self.remote.blocking.jobs())
    }

    /// Counters of this runtime, as they are now.
    pub(crate) fn stats(&self) -> Stats {
        let remote = &self.remote;
        let remote_wakes = remote.remote_wakes.load(Relaxed);
        let main_wakes = remote.main_wakes.load(Relaxed);
        let counters = &self.counters;
        Stats {
            tasks_spawned: counters.spawned.get() + remote.spawned_elsewhere.load(Relaxed),
            tasks_completed: counters.completed.get(),
            tasks_alive: self.tasks.len() as u64,
            polls: counters.polls.get(),
            wakes: counters.local_wakes.get() + remote_wakes + main_wakes,
            remote_wakes: remote_wakes + remote.main_remote_wakes.load(Relaxed),
            block_on_wakes: main_wakes,
            ..report::shared_stats(&remote.reactor, &remote.blocking, self.observer.shared())
        }
    }
}

/// What `diagnose` asks of this loop before it blocks; its run queue is empty (the caller
/// checked).
impl Quiet for CurrentThread {
    fn timer_or_socket(&self) -> bool {
        let reactor = &self.remote.reactor;
        reactor.pending_timers() != 0 || reactor.has_waiters()
    }

    fn main_wakers_held(&self) -> usize {
        // Our own `Arc` and the `Waker` that block_on holds account for two references.
        Arc::strong_count(&self.main_waker) - 2
    }

    fn main_wait(&self) -> u64 {
        self.main_wait.load(Relaxed)
    }

    fn work_pending(&self) -> bool {
        // SCHEDULED with an empty run queue: a wake from another thread is on its way to the
        // injection queue, and leaves its mark here.
        self.remote.doorbell.pending(INJECTED | MAIN_WOKEN)
    }

    fn each_task(&self, look: &mut dyn FnMut(TaskView)) {
        self.tasks.for_each(|task| look(report::task_view(task)));
    }

    fn jobs_busy(&self) -> bool {
        self.remote.blocking.is_busy()
    }

    fn look_again_after_job(&self) {
        if !self.remote.blocking.watch_job_end() {
            self.remote.reactor.notify();
        }
    }
}
