//! The scheduler: the run queue and the loop that drives it, the article's `while` loop.
//!
//! The article's loop runs every task in `tasks` once, then calls `select()` with a timeout
//! of 0 and moves the tasks whose sockets are ready into the next round. nbio's loop differs
//! in three ways that matter:
//!
//! - Only tasks that were *woken* are in the queue. A task waiting on a socket or a timer
//!   costs nothing until its waker fires; the article polls every generator every round.
//! - When the queue is empty the loop *blocks* in the reactor (until an event, a timer or a
//!   wake from another thread) instead of spinning with `select(..., 0)`: an idle runtime uses
//!   no CPU.
//! - When the queue never empties, the loop still checks the reactor, without blocking, every
//!   `event_interval` polls, so a task that is always ready cannot starve I/O and timers.
//!
//! The state is split in two. [`Scheduler`] lives on the runtime's thread and needs no locks:
//! the run queue, the list of live tasks, the counters. [`Shared`] is what other threads
//! may touch: a second queue for wakes that come from them, and the doorbell (`doorbell.rs`)
//! that tells whether the loop is parked in the reactor and must be notified.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::mem;
use std::panic::Location;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering::{Acquire, Relaxed};
use std::sync::atomic::{fence, AtomicU64};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use polling::Events;

use super::current;
use super::doorbell::{Doorbell, INJECTED, MAIN_WOKEN};
use super::injector::{Injected, Injector};
use super::seed::{ReplayNote, Rng};
use super::stuck::{self, Reported, Stuck, Verdict};
use crate::blocking::{BlockingPool, PoolConfig, ShutdownReport};
use crate::context::{self, Entered};
use crate::loom;
use crate::observe::{
    self, wait_edge, Cause, Dump, ObserveConfig, Observer, PollOutcome, Stats, TaskInfo, TaskNotes,
    TaskState, Who,
};
use crate::reactor::{Reactor, Trigger, Woken};
use crate::task::list::TaskList;
use crate::task::raw::{self, Header, RunOutcome, Schedule, TaskMeta, TaskRef};
use crate::task::waiting;
use crate::task::{JoinHandle, RuntimeNo, TaskIds};

/// The run-queue capacity kept when the queue empties (8 KiB of entries); a burst beyond it
/// does not pin its memory for the rest of the runtime's life.
const QUEUE_KEPT: usize = 1024;

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
}

/// The part of a runtime that other threads may touch.
pub(crate) struct Shared {
    /// Tasks woken (or spawned) from other threads, waiting to move into the run queue.
    pub(super) injector: Injector,
    /// Whether the loop is parked, and the work waiting for it: `INJECTED` while the injector
    /// has tasks, `MAIN_WOKEN` when the future passed to `block_on` must be polled.
    pub(super) doorbell: Doorbell,
    /// Ids of new tasks: the runtime's thread, `Handle::spawn` from other threads and the
    /// blocking pool's jobs draw them.
    pub(super) ids: Arc<TaskIds>,
    /// Threads for blocking work; none until the first job. In `Shared` so that a `Handle`
    /// reaches it from any thread.
    pub(crate) blocking: BlockingPool,
    /// Wakes of tasks that came from other threads.
    remote_wakes: AtomicU64,
    /// Wakes of the `block_on` future: all of them, and those from other threads.
    main_wakes: AtomicU64,
    main_remote_wakes: AtomicU64,
    /// Tasks spawned from other threads (through a `Handle`).
    spawned_elsewhere: AtomicU64,
    /// The reactor, shared with sockets and timers.
    pub(crate) reactor: Arc<Reactor>,
    /// What the runtime's threads record into (for spawns from other threads).
    pub(super) observed: Arc<observe::Shared>,
}

impl Shared {
    /// The slow path of a wake: from another thread (or from this one outside `block_on`).
    fn push_remote(&self, task: TaskRef) {
        if self
            .injector
            .push(Injected::Woken(task), &self.doorbell, &self.reactor)
        {
            self.remote_wakes.fetch_add(1, Relaxed);
        }
    }

    /// `Handle::spawn` from another thread: the task is made here and handed to the runtime's
    /// thread, which lists it and runs it at its next turn.
    pub(crate) fn spawn_from_elsewhere<F>(
        self: &Arc<Self>,
        future: F,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let id = self.ids.next();
        let meta = TaskMeta::new(id, self.observed.site_of(location));
        let task = raw::allocate(future, Arc::clone(self), meta);
        self.observed.spawned_elsewhere(id, name, location);
        self.spawned_elsewhere.fetch_add(1, Relaxed);
        let spawned = Injected::Spawned {
            registered: task.registered,
            queued: task.queued,
        };
        self.injector.push(spawned, &self.doorbell, &self.reactor);
        JoinHandle::new(task.handle)
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: TaskRef) {
        current::with_scheduler(|current| match current {
            // The fast path: woken on the runtime's own thread, while it runs.
            Some(scheduler) if Arc::ptr_eq(&scheduler.shared, self) => scheduler.push_woken(task),
            _ => self.push_remote(task),
        });
    }

    fn runtime(&self) -> RuntimeNo {
        self.ids.runtime()
    }
}

/// The waker of the future passed to `block_on`, which is not a task: it has no header and
/// never enters the queue; the loop polls the future whenever this waker has rung
/// `MAIN_WOKEN`. It has an `Arc` of its own so that its strong count tells whether the future
/// kept a copy of it somewhere.
struct MainWaker {
    shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let rang = self.shared.doorbell.ring(MAIN_WOKEN);
        if rang.fresh {
            // Counted like a task's wake: once per time it makes the future runnable.
            self.shared.main_wakes.fetch_add(1, Relaxed);
            let here = current::with_scheduler(|current| {
                current.is_some_and(|scheduler| Arc::ptr_eq(&scheduler.shared, &self.shared))
            });
            if !here {
                self.shared.main_remote_wakes.fetch_add(1, Relaxed);
            }
        }
        if rang.parked {
            self.shared.reactor.notify();
        }
    }
}

/// Counters only the runtime's thread updates.
#[derive(Default)]
struct Counters {
    spawned: Cell<u64>,
    completed: Cell<u64>,
    polls: Cell<u64>,
    local_wakes: Cell<u64>,
}

fn bump(counter: &Cell<u64>) {
    counter.set(counter.get() + 1);
}

/// The part of a runtime that lives on its thread.
pub(crate) struct Scheduler {
    pub(crate) shared: Arc<Shared>,
    /// The runtime's number, for `waiting::begin`.
    runtime: RuntimeNo,
    /// Tasks ready to be polled, in the order they became ready.
    run_queue: RefCell<VecDeque<TaskRef>>,
    /// Every task whose future still exists.
    tasks: RefCell<TaskList>,
    counters: Counters,
    config: Config,
    /// The poller's event buffer, kept between waits.
    events: RefCell<Events>,
    /// Wakers collected by the reactor, kept between waits for its capacity.
    woken: RefCell<Vec<Woken>>,
    /// The `block_on` future's waker (see `MainWaker`).
    main_waker: Arc<MainWaker>,
    /// What the `block_on` future's last `Pending` said it waits on (the tasks' is in their
    /// headers), for the deadlock check.
    main_waits: AtomicU64,
    /// When the cycle report was last printed (`stuck::Reported`).
    cycle_reported: Reported,
    /// With a seed, picks each next task among the ready ones (`seed.rs`).
    rng: Option<Rng>,
    /// Names, journal, slow polls: everything `observe` records on this thread.
    pub(crate) observer: Rc<Observer>,
    /// Set by the first shutdown, so that a second one (`shutdown_timeout`, then the drop)
    /// does nothing.
    shut_down: Cell<bool>,
}

impl Scheduler {
    pub(crate) fn new(config: Config) -> io::Result<Scheduler> {
        let mut observe_config = config.observe.clone();
        if config.virtual_time {
            // A poll takes no time on the virtual clock: there is no slow poll to warn about.
            observe_config.slow_poll_threshold = None;
        }
        let ids = Arc::new(TaskIds::new());
        let observed = observe::Shared::new(&observe_config, TaskMeta::NO_SITE);
        let blocking = BlockingPool::new(config.blocking, Arc::clone(&ids), Arc::clone(&observed));
        let shared = Arc::new(Shared {
            injector: Injector::new(),
            doorbell: Doorbell::new(),
            ids,
            blocking,
            remote_wakes: AtomicU64::new(0),
            main_wakes: AtomicU64::new(0),
            main_remote_wakes: AtomicU64::new(0),
            spawned_elsewhere: AtomicU64::new(0),
            reactor: Arc::new(Reactor::with_clock(config.virtual_time)?),
            observed: Arc::clone(&observed),
        });
        // Asleep while a job runs, the loop must look again when the job is over, even if
        // nobody awaits it: always on a virtual clock (which holds for the job), and when the
        // deadlock check waited for it (`BlockingPool::watch_job_end`).
        let reactor = Arc::downgrade(&shared.reactor);
        let virtual_time = config.virtual_time;
        shared.blocking.on_job_end(Box::new(move |watched| {
            if virtual_time || watched {
                if let Some(reactor) = reactor.upgrade() {
                    reactor.notify();
                }
            }
        }));
        Ok(Scheduler {
            runtime: shared.ids.runtime(),
            shut_down: Cell::new(false),
            main_waits: AtomicU64::new(0),
            cycle_reported: Reported::default(),
            main_waker: Arc::new(MainWaker {
                shared: Arc::clone(&shared),
            }),
            observer: Rc::new(Observer::new(&observed, "the runtime's thread", true)),
            rng: config.seed.map(Rng::new),
            shared,
            run_queue: RefCell::default(),
            tasks: RefCell::default(),
            counters: Counters::default(),
            config,
            events: RefCell::new(Events::new()),
            woken: RefCell::default(),
        })
    }

    /// Makes a task of `future` and queues it.
    pub(crate) fn spawn<F>(
        &self,
        future: F,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let id = self.shared.ids.next();
        let meta = TaskMeta::new(id, self.observer.site_of(location));
        let task = raw::allocate(future, Arc::clone(&self.shared), meta);
        self.observer.spawned(id, name, location);
        self.tasks.borrow_mut().insert(task.registered);
        self.run_queue.borrow_mut().push_back(task.queued);
        bump(&self.counters.spawned);
        JoinHandle::new(task.handle)
    }

    /// The fast path of a wake: on this thread, no lock.
    fn push_woken(&self, task: TaskRef) {
        bump(&self.counters.local_wakes);
        let header = task.header();
        self.observer.woke_here(header.id(), &header.notes);
        self.run_queue.borrow_mut().push_back(task);
    }

    /// Runs `future` to completion on this thread, running spawned tasks meanwhile.
    pub(crate) fn block_on<F: Future>(self: &Rc<Self>, future: F) -> F::Output {
        let _current = current::enter(current::Current::Thread(Rc::clone(self)));
        let _replay = ReplayNote(self.rng.as_ref().map(Rng::seed));
        let _context = context::enter(Entered {
            reactor: Arc::clone(&self.shared.reactor),
            observer: Rc::clone(&self.observer),
            blocking: self.shared.blocking.clone(),
        });
        let mut future = pin!(future);
        let waker = Waker::from(Arc::clone(&self.main_waker));
        let mut cx = Context::from_waker(&waker);
        // The first poll is not a wake: it bypasses the waker and its count.
        self.shared.doorbell.ring(MAIN_WOKEN);
        self.observer.resume();
        loop {
            if self.shared.doorbell.take(MAIN_WOKEN) {
                context::reset_budget();
                let started = self.observer.poll_started(Who::Main, None);
                let waits = waiting::begin_main(&self.main_waits, &waker, self.runtime);
                let poll = future.as_mut().poll(&mut cx);
                let waited = waits.end();
                let outcome = if poll.is_ready() {
                    PollOutcome::Done
                } else {
                    PollOutcome::Pending
                };
                self.observer
                    .poll_ended(started, Who::Main, None, outcome, waited);
                if let Poll::Ready(output) = poll {
                    return output;
                }
            }
            self.turn();
        }
    }

    /// One round of the loop: poll up to `event_interval` ready tasks, then look at the
    /// reactor (blocking only if nothing is left to run).
    fn turn(&self) {
        self.take_remote_wakes();
        for _ in 0..self.config.event_interval {
            let next = match &self.rng {
                None => self.run_queue.borrow_mut().pop_front(),
                Some(rng) => rng.pick(&mut self.run_queue.borrow_mut()),
            };
            let Some(task) = next else {
                break;
            };
            self.run_task(task);
        }
        if self.run_queue.borrow().is_empty() {
            self.park();
        } else {
            self.poll_reactor(false);
            self.observer.begin_turn();
        }
    }

    /// Moves the tasks woken (or spawned) from other threads into the run queue.
    fn take_remote_wakes(&self) {
        if !self.shared.doorbell.pending(INJECTED) {
            return;
        }
        let started = self.observer.journaling().then(Instant::now);
        let injected = self.shared.injector.take(&self.shared.doorbell);
        let moved = injected.len();
        let mut queue = self.run_queue.borrow_mut();
        for injected in injected {
            let task = match injected {
                Injected::Woken(task) => {
                    let header = task.header();
                    self.observer
                        .woke(header.id(), &header.notes, Cause::Thread);
                    task
                }
                Injected::Spawned { registered, queued } => {
                    self.tasks.borrow_mut().insert(registered);
                    queued
                }
            };
            queue.push_back(task);
        }
        if let Some(started) = started {
            self.observer.remote_wakes(started, moved);
        }
    }

    fn run_task(&self, task: TaskRef) {
        bump(&self.counters.polls);
        let header = task.header();
        let (id, site) = (header.id(), header.meta.site());
        context::reset_budget();
        let started = self
            .observer
            .poll_started(Who::Task(id), Some(&header.notes));
        let waits = waiting::begin(header, self.runtime);
        let outcome = task.run();
        let waited = waits.end();
        let polled = super::polled_as(&outcome);
        self.observer
            .poll_ended(started, Who::Task(id), Some(site), polled, waited);
        match outcome {
            RunOutcome::Idle => {}
            RunOutcome::Requeue(task) => {
                // Woken while it ran: almost always by itself (yield_now). The journal
                // recorded this wake with the poll.
                bump(&self.counters.local_wakes);
                TaskNotes::of(&task.header().notes).record_wake(Cause::Itself);
                self.run_queue.borrow_mut().push_back(task);
            }
            RunOutcome::Finished(task) => {
                // SAFETY: every task of this scheduler is on its list until it finishes, and
                // finishes once.
                let registered = unsafe { self.tasks.borrow_mut().remove(&task) };
                if polled == PollOutcome::Done {
                    bump(&self.counters.completed);
                }
                self.observer.finished(id);
                drop(registered);
            }
        }
    }

    /// Blocks in the reactor until something happens, unless work arrived meanwhile.
    ///
    /// # Panics
    /// If nothing can ever happen: see `verdict`. Blocking would hang forever. (If only a cycle
    /// of tasks waiting on each other holds the last wakers, it prints a report and blocks.)
    fn park(&self) {
        // The queue is empty: give back what a burst of spawns or wakes made it grow to.
        let mut queue = self.run_queue.borrow_mut();
        if queue.capacity() > QUEUE_KEPT {
            queue.shrink_to(QUEUE_KEPT);
        }
        drop(queue);
        if self.shared.reactor.is_virtual() && self.move_virtual_clock() {
            self.observer.begin_turn();
            return;
        }
        let doorbell = &self.shared.doorbell;
        let may_block = doorbell.park();
        if may_block {
            match self.verdict() {
                Verdict::Wait => {}
                Verdict::Deadlock => {
                    doorbell.unparked();
                    panic!("{}\n{}", stuck::deadlock_message(""), self.dump());
                }
                Verdict::Cycle => {
                    if self.cycle_reported.first_since(self.counters.polls.get()) {
                        eprintln!("{}", stuck::cycle_report(&self.dump()));
                    }
                }
            }
        }
        self.poll_reactor(may_block);
        if may_block {
            doorbell.unparked();
            // Back from blocking: the watchdog may have gone to sleep meanwhile.
            self.observer.resume();
        } else {
            self.observer.begin_turn();
        }
    }

    /// Virtual time, and no task can run: first deliver the socket events that are ready
    /// (they always come before the clock moves), then, if there still is nothing to run and
    /// no blocking job is queued or running, move the clock to the next timer's deadline. True
    /// if either made something runnable. While a job runs the clock holds, and the loop
    /// sleeps until the job's end (or an event) wakes it.
    fn move_virtual_clock(&self) -> bool {
        let runnable = || {
            !self.run_queue.borrow().is_empty()
                || self.shared.doorbell.pending(INJECTED | MAIN_WOKEN)
        };
        self.poll_reactor(false);
        if runnable() {
            return true;
        }
        if self.shared.blocking.is_busy() {
            return false;
        }
        let mut woken = mem::take(&mut *self.woken.borrow_mut());
        let moved = self.shared.reactor.jump_to_next_timer(&mut woken);
        self.observer.set_waking(Some(Cause::Timer));
        for (waker, _) in woken.drain(..) {
            loom::wake_guarded(waker);
        }
        self.observer.set_waking(None);
        *self.woken.borrow_mut() = woken;
        moved && runnable()
    }

    /// Whether anything can still happen as the loop is about to block (see `stuck.rs`): the
    /// run queue is empty (the caller checked). `Deadlock` if no timer is pending, no socket
    /// is awaited, and nobody holds the waker of the `block_on` future or of any live task;
    /// `Cycle` if the only wakers held are those of tasks waiting on each other in a cycle;
    /// otherwise `Wait`. A waker held by another thread, a socket, a timer or a task off the
    /// cycle makes it `Wait`: it errs on the side of waiting.
    fn verdict(&self) -> Verdict {
        let shared = &self.shared;
        let reactor = &shared.reactor;
        if reactor.pending_timers() != 0 || reactor.has_waiters() {
            return Verdict::Wait;
        }
        // Our own `Arc` and the `Waker` that block_on holds account for two references. The
        // count is read relaxed; the fence makes a waker dropped after its wake (a release)
        // also publish that wake's ring to the re-check below.
        let main_wakers = Arc::strong_count(&self.main_waker) - 2;
        fence(Acquire);
        let main = match main_wakers {
            0 => None,
            // One clone held: by whatever the future last waited on, which `stuck.rs` may
            // find to be a cycle of tasks waiting on each other.
            1 => Some(wait_edge(&self.main_waits)),
            _ => return Verdict::Wait,
        };
        // SCHEDULED with an empty run queue: a wake from another thread is on its way to the
        // injector. Otherwise a held waker may still fire, unless a cycle holds it (`stuck.rs`).
        let mut stuck = Stuck::default();
        self.tasks.borrow().for_each(|task| stuck.look(task));
        // A job lowers its count after it woke its awaiter: read first, the ring is seen below.
        let jobs_busy = shared.blocking.is_busy();
        // A wake that completed while we looked has left its mark in these flags.
        if shared.doorbell.pending(INJECTED | MAIN_WOKEN) {
            return Verdict::Wait;
        }
        match stuck.verdict(main) {
            // A job may still break the cycle: look again when it is over.
            Verdict::Cycle if jobs_busy => {
                if !shared.blocking.watch_job_end() {
                    reactor.notify();
                }
                Verdict::Wait
            }
            verdict => verdict,
        }
    }

    /// Asks the reactor for events and due timers, then wakes their tasks.
    fn poll_reactor(&self, block: bool) {
        let started = self.observer.journaling().then(Instant::now);
        let mut woken = mem::take(&mut *self.woken.borrow_mut());
        let result = self
            .shared
            .reactor
            .wait(&mut self.events.borrow_mut(), &mut woken, block);
        let events = match result {
            Ok(events) => events,
            // epoll_wait only fails on a bad descriptor or buffer: a bug, not a condition.
            Err(err) => panic!("nbio: the reactor could not wait for events: {err}"),
        };
        let woke_any = !woken.is_empty();
        for (waker, trigger) in woken.drain(..) {
            self.observer.set_waking(Some(match trigger {
                Trigger::Io { fd, dir } => Cause::Io { fd, dir },
                Trigger::Timer => Cause::Timer,
            }));
            // A socket may be awaited by a task of another runtime, or by a future under a
            // hand-written executor: its waker is not ours to trust.
            loom::wake_guarded(waker);
        }
        self.observer.set_waking(None);
        *self.woken.borrow_mut() = woken;
        if let Some(started) = started {
            if events.is_some() || woke_any {
                self.observer
                    .reactor_waited(started, events.unwrap_or(0), block);
            }
        }
    }

    /// The live tasks, oldest first.
    pub(crate) fn dump(&self) -> Dump {
        let list = self.tasks.borrow();
        let mut tasks = Vec::with_capacity(list.len());
        list.for_each(|task| tasks.push(self.task_info(task)));
        tasks.reverse();
        Dump::new(tasks, self.shared.blocking.jobs())
    }

    fn task_info(&self, task: &Header) -> TaskInfo {
        let state = task.state.load();
        let notes = TaskNotes::of(&task.notes).read();
        let (polls, stamp, last_woken_by) = (notes.polls, notes.stamp, notes.last_woken_by);
        TaskInfo {
            id: task.id(),
            name: self
                .observer
                .name_of(task.id())
                .map(|name| name.to_string()),
            spawned_at: self.observer.site(task.meta.site()),
            state: if state.is_running() {
                TaskState::Running
            } else if state.is_scheduled() {
                TaskState::Scheduled
            } else {
                TaskState::Idle
            },
            polls,
            since_last_poll: (polls > 0).then(|| self.observer.since_stamp(stamp)),
            last_woken_by,
            waker_held: state.outside_refs() > 0,
            worker: None,
            waits_on: (!state.is_running() && !state.is_scheduled())
                .then(|| observe::read_wait(&task.waits))
                .flatten(),
            wait_cycle: Vec::new(),
            waits_on_job: false,
        }
    }

    /// Counters of this runtime, as they are now.
    pub(crate) fn stats(&self) -> Stats {
        let reactor = &self.shared.reactor.counters;
        let remote_wakes = self.shared.remote_wakes.load(Relaxed);
        let main_wakes = self.shared.main_wakes.load(Relaxed);
        let main_remote_wakes = self.shared.main_remote_wakes.load(Relaxed);
        let pool = self.shared.blocking.stats();
        Stats {
            tasks_spawned: self.counters.spawned.get()
                + self.shared.spawned_elsewhere.load(Relaxed),
            tasks_completed: self.counters.completed.get(),
            tasks_alive: self.tasks.borrow().len() as u64,
            polls: self.counters.polls.get(),
            wakes: self.counters.local_wakes.get() + remote_wakes + main_wakes,
            remote_wakes: remote_wakes + main_remote_wakes,
            block_on_wakes: main_wakes,
            reactor_waits: reactor.waits.load(Relaxed),
            io_events: reactor.io_events.load(Relaxed),
            would_block: reactor.would_block.load(Relaxed),
            short_writes: reactor.short_writes.load(Relaxed),
            io_waiters: self.shared.reactor.waiters() as u64,
            timers_fired: reactor.timers_fired.load(Relaxed),
            timers_pending: self.shared.reactor.pending_timers() as u64,
            longest_poll: self.observer.shared().longest_poll(),
            poll_sample_period: self.observer.shared().poll_sample_period(),
            workers: Vec::new(),
            blocking_threads: pool.threads,
            blocking_jobs_running: pool.running,
            blocking_jobs_queued: pool.queued,
            blocking_jobs_run: pool.run,
            blocking_longest_queue_wait: pool.longest_wait,
        }
    }

    /// Drops every task's future (the runtime is being dropped), cancels the blocking jobs
    /// still queued and waits at most `grace` for the running ones, then drops the reactor's
    /// timers. Only the first call does anything (and says what the pool left running); later
    /// ones return `None`.
    pub(crate) fn shutdown(&self, grace: std::time::Duration) -> Option<ShutdownReport> {
        if self.shut_down.replace(true) {
            return None;
        }
        for injected in self.shared.injector.close() {
            if let Injected::Spawned { registered, .. } = injected {
                registered.shutdown(); // spawned from elsewhere, never listed: drop it here
            }
        }
        loop {
            let queued = mem::take(&mut *self.run_queue.borrow_mut());
            drop(queued);
            let Some(task) = self.tasks.borrow_mut().pop() else {
                break;
            };
            // A destructor run here may wake, spawn or even finish other tasks (the list is not
            // borrowed while it runs); the loop catches up.
            task.shutdown();
        }
        let report = self.shared.blocking.shutdown(grace);
        self.shared.reactor.shutdown();
        self.observer.shared().shutdown();
        Some(report)
    }
}
