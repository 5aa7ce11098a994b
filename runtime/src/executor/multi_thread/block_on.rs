//! The thread in `block_on`: it polls the future it was given, and the tasks pinned to it,
//! while the workers run everything else.
//!
//! On the current-thread runtime `block_on` runs the whole loop. Here the loop runs on the
//! workers, and the calling thread has a smaller job: poll the `block_on` future when it is
//! woken, run the tasks `spawn_local` pinned to this thread, and otherwise sleep on its own
//! condition variable. It does not drive the reactor; a worker does, and a socket or timer
//! event for the `block_on` future wakes this thread from the worker.
//!
//! Before it sleeps with nothing to wake it, it checks whether anything at all could: every
//! worker asleep, every queue empty, no timer, no socket awaited, no waker held anywhere. Then
//! the future can never complete, and instead of hanging, `block_on` panics with a report of
//! the stuck tasks. If the only wakers held are held by tasks waiting on each other in a cycle
//! (`stuck.rs`), it prints a report naming the cycle and sleeps on. The runtime's threads are
//! not stopped while it looks, so it takes either answer only after a second look, 50 ms
//! later, finds the same. It looks whenever it is about to sleep, and again when the last
//! worker falls asleep (that worker wakes it for this).

use std::cell::Cell;
use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::atomic::{fence, AtomicBool, AtomicU64};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use super::idle::{Parker, Unparked};
use super::pinned::{Owner, Pinned, PinnedRunner};
use super::{lock, Shared};
use crate::context::{self, Entered};
use crate::executor::current::{self, Current};
use crate::executor::seed::ReplayNote;
use crate::executor::stuck::{self, Reported, Stuck, Verdict};
use crate::observe::{wait_edge, Cause, Observer, PollOutcome, TaskNotes, Who};
use crate::task::raw::RunOutcome;
use crate::task::waiting;
use crate::task::{JoinHandle, RuntimeNo};

/// How long the deadlock check waits between its two looks.
const DEADLOCK_CONFIRM: Duration = Duration::from_millis(50);

/// The `block_on` side of a multi-thread runtime. One per runtime, on the thread that built it.
pub(crate) struct BlockOn {
    shared: Arc<Shared>,
    /// The runtime's number, for `waiting::begin`.
    runtime: RuntimeNo,
    runner: PinnedRunner,
    parker: Arc<Parker>,
    observer: Rc<Observer>,
    main: Arc<MainWaker>,
    /// What the future's last `Pending` said it waits on, for the deadlock check.
    main_waits: AtomicU64,
    /// When the cycle report was last printed (`stuck::Reported`).
    cycle_reported: Reported,
    /// Polls of the tasks pinned to this thread so far (for `progress`).
    pinned_polls: Cell<u64>,
}

/// The waker of the `block_on` future: marks it due and wakes the thread.
struct MainWaker {
    woken: AtomicBool,
    parker: Arc<Parker>,
    shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.woken.swap(true, AcqRel) {
            self.shared.main_wakes.fetch_add(1, Relaxed);
            let here = current::with_current(
                |current| matches!(current, Some(Current::BlockOn(b)) if Arc::ptr_eq(&b.shared, &self.shared)),
            );
            if !here {
                self.shared.main_remote_wakes.fetch_add(1, Relaxed);
            }
        }
        if self.parker.unpark() == Unparked::NotifyDriver {
            self.shared.reactor.notify();
        }
    }
}

impl BlockOn {
    pub(crate) fn new(shared: &Arc<Shared>) -> BlockOn {
        let parker = Arc::new(Parker::new());
        // The check may wait for a blocking job to be over: the job's end wakes this thread.
        shared.blocking.on_job_end(Box::new({
            let parker = Arc::clone(&parker);
            move |watched| {
                if watched {
                    parker.unpark();
                }
            }
        }));
        BlockOn {
            pinned_polls: Cell::new(0),
            runtime: shared.ids.runtime(),
            runner: PinnedRunner::new(Pinned::new(
                Owner::BlockOn {
                    parker: Arc::clone(&parker),
                    runtime: Arc::downgrade(shared),
                },
                shared.ids.runtime(),
            )),
            observer: Rc::new(Observer::new(&shared.observe, "the block_on thread", true)),
            main_waits: AtomicU64::new(0),
            cycle_reported: Reported::default(),
            main: Arc::new(MainWaker {
                woken: AtomicBool::new(false),
                parker: Arc::clone(&parker),
                shared: Arc::clone(shared),
            }),
            parker,
            shared: Arc::clone(shared),
        }
    }

    pub(crate) fn pinned_runner(&self) -> &PinnedRunner {
        &self.runner
    }

    pub(crate) fn observer(&self) -> &Observer {
        &self.observer
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn parker(&self) -> Arc<Parker> {
        Arc::clone(&self.parker)
    }

    /// Spawns a `Send` task from this thread (for the workers).
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
            .spawn(future, name, location, Some(&self.observer))
    }

    pub(crate) fn stats(&self) -> crate::observe::Stats {
        self.shared.stats()
    }

    pub(crate) fn dump(&self) -> crate::observe::Dump {
        self.shared.dump()
    }

    /// Spawns a task pinned to this thread.
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
        self.shared
            .spawn_pinned(future, name, location, &self.observer, &self.runner)
    }

    /// Runs `future` to completion on this thread.
    pub(crate) fn run<F: Future>(self: &Rc<Self>, future: F) -> F::Output {
        let _current = current::enter(Current::BlockOn(Rc::clone(self)));
        // On worker threads a seed replays the runtime's own choices, not the OS scheduler's:
        // the line is still the one way to run again with the same seed.
        let _replay = ReplayNote(self.shared.seed);
        let _context = context::enter(Entered {
            reactor: Arc::clone(&self.shared.reactor),
            blocking: self.shared.blocking.clone(),
            observer: Rc::clone(&self.observer),
        });
        let mut future = pin!(future);
        let waker = Waker::from(Arc::clone(&self.main));
        let mut cx = Context::from_waker(&waker);
        self.main.woken.store(true, Relaxed); // the first poll is not a wake
        self.observer.resume();
        loop {
            if self.main.woken.swap(false, AcqRel) {
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
            let mut ran = 0;
            while ran < self.shared.event_interval {
                let Some(task) = self.runner.pop() else {
                    break;
                };
                self.run_pinned(task);
                ran += 1;
            }
            if ran == 0 && !self.main.woken.load(Acquire) {
                self.sleep();
            } else {
                self.observer.begin_turn();
            }
        }
    }

    fn run_pinned(&self, task: crate::task::raw::TaskRef) {
        self.pinned_polls.set(self.pinned_polls.get() + 1);
        let header = task.header();
        let (id, site) = (header.id(), header.meta.site());
        context::reset_budget();
        let started = self
            .observer
            .poll_started(Who::Task(id), Some(&header.notes));
        let waits = waiting::begin(header, self.runtime);
        let outcome = task.run();
        let waited = waits.end();
        let polled = crate::executor::polled_as(&outcome);
        self.observer
            .poll_ended(started, Who::Task(id), Some(site), polled, waited);
        match outcome {
            RunOutcome::Idle => {}
            RunOutcome::Requeue(task) => {
                TaskNotes::of(&task.header().notes).record_wake(Cause::Itself);
                self.runner.push(task);
            }
            RunOutcome::Finished(task) => {
                if polled == PollOutcome::Done {
                    self.shared.completed.fetch_add(1, Relaxed);
                }
                // SAFETY: a pinned task is listed with its thread's pinned tasks until it
                // finishes, and finishes once.
                let listed = unsafe { lock(&self.runner.pinned.tasks).remove(&task) };
                self.observer.finished(id);
                drop(listed);
            }
        }
    }

    /// Sleeps until the future or a pinned task is woken; reports a deadlock instead of
    /// sleeping forever, and a likely one (a cycle of tasks waiting on each other) before it
    /// sleeps on.
    fn sleep(&self) {
        if self.verdict() != Verdict::Wait {
            self.parker.park_timeout(DEADLOCK_CONFIRM);
            match self.verdict() {
                Verdict::Wait => {}
                Verdict::Deadlock => panic!(
                    "{}\n{}",
                    stuck::deadlock_message("every worker is idle, "),
                    self.shared.dump()
                ),
                Verdict::Cycle => {
                    if self.cycle_reported.first_since(self.progress()) {
                        eprintln!("{}", stuck::cycle_report(&self.shared.dump()));
                    }
                    self.parker.park();
                }
            }
        } else {
            // Not in the reactor: measured on the demo's scene, a third thread waking for the
            // reactor's events on two cores slows the workers more than it helps (the events
            // are dispatched to the injection queue instead of a worker's own queue).
            self.parker.park();
        }
        self.observer.resume();
    }

    /// Whether anything can still wake this thread: see the module docs and `stuck.rs`. It
    /// errs on the side of waiting.
    fn verdict(&self) -> Verdict {
        let shared = &self.shared;
        if shared.reactor.pending_timers() != 0 || shared.reactor.has_waiters() {
            return Verdict::Wait;
        }
        // Our own `Arc` and the `Waker` that `run` holds account for two references.
        let main_wakers = Arc::strong_count(&self.main) - 2;
        fence(Acquire);
        if self.main.woken.load(Acquire) || self.runner.has_ready() {
            return Verdict::Wait;
        }
        let main = match main_wakers {
            0 => None,
            // One clone held: perhaps by a cycle of tasks waiting on each other (`stuck.rs`).
            1 => Some(wait_edge(&self.main_waits)),
            _ => return Verdict::Wait,
        };
        if shared.idle.sleeping() != shared.workers.len() || shared.idle.searching() {
            return Verdict::Wait;
        }
        if !shared.inject.is_empty()
            || shared
                .workers
                .iter()
                .any(|slot| !slot.queue.is_empty() || slot.pinned.has_inbox())
        {
            return Verdict::Wait;
        }
        let jobs_busy = shared.blocking.is_busy();
        let mut stuck = Stuck::default();
        let mut look = |list: &crate::task::list::TaskList| list.for_each(|task| stuck.look(task));
        for shard in shared.tasks.iter() {
            look(&lock(shard));
        }
        for slot in shared.workers.iter() {
            look(&lock(&slot.pinned.tasks));
        }
        look(&lock(&self.runner.pinned.tasks));
        match stuck.verdict(main) {
            // A job may still break the cycle: look again when it is over (the hook unparks
            // this thread), or now if it just was.
            Verdict::Cycle if jobs_busy => {
                if !shared.blocking.watch_job_end() {
                    self.parker.unpark();
                }
                Verdict::Wait
            }
            verdict => verdict,
        }
    }

    /// Polls so far, of the workers and this thread: whether anything moved since the last
    /// cycle report.
    fn progress(&self) -> u64 {
        let workers: u64 = (self.shared.workers.iter())
            .map(|slot| slot.counters.polls.load(Relaxed))
            .sum();
        workers + self.pinned_polls.get()
    }
}
