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
//! (`diagnose`), it prints a report naming the cycle and sleeps on (or, under
//! `OnCycle::Panic`, panics with it). The runtime's threads are not stopped while it looks,
//! so it takes either answer only after a second look, 50 ms later, finds the same. It looks
//! whenever it is about to sleep, and again when the last worker falls asleep while no socket
//! or timer is awaited (that worker wakes it for this; with one awaited, the look would stop
//! at once, and a server would pay a wake of this thread between any two requests).

use std::cell::Cell;
use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};
use std::time::Duration;

use super::idle::{Parker, Unparked};
use super::pinned::{Owner, Pinned, PinnedRunner};
use super::Shared;
use crate::context::Entered;
use crate::diagnose::{self, Quiet, TaskView, Verdict};
use crate::executor::builder::OnCycle;
use crate::executor::current::{self, Current, Loop};
use crate::executor::poll::{poll_main, poll_task, MainPoll, Polled};
use crate::executor::report::{self, OnStuck};
use crate::executor::seed::Rng;
use crate::observe::Observer;
use crate::task::raw::TaskRef;
use crate::task::{JoinHandle, RuntimeNo};

/// How long the deadlock check waits between its two looks.
const DEADLOCK_CONFIRM: Duration = Duration::from_millis(50);

/// The `block_on` side of a multi-thread runtime. One per runtime, on the thread that built it.
pub(crate) struct BlockOn {
    shared: Arc<Shared>,
    /// The runtime's number, for the poll step.
    runtime: RuntimeNo,
    runner: PinnedRunner,
    parker: Arc<Parker>,
    observer: Rc<Observer>,
    main: Arc<MainWaker>,
    /// What the future's last `Pending` said it waits on, for the deadlock check.
    main_waits: AtomicU64,
    /// What the check does on a deadlock or a cycle, and when it last reported a cycle.
    on_stuck: OnStuck,
    /// Polls of the tasks pinned to this thread so far (for `progress`).
    pinned_polls: Cell<u64>,
    /// With a seed: what `select!` draws from in the futures this thread polls (the workers
    /// have their own, seeded with their index; this one comes after them).
    rng: Option<Rng>,
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
    pub(crate) fn new(shared: &Arc<Shared>, on_cycle: OnCycle) -> BlockOn {
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
        let rng = shared
            .seed
            .map(|seed| Rng::new(seed.wrapping_add(shared.workers.len() as u64)));
        BlockOn {
            rng,
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
            on_stuck: OnStuck::new(on_cycle, shared.seed),
            main: Arc::new(MainWaker {
                woken: AtomicBool::new(false),
                parker: Arc::clone(&parker),
                shared: Arc::clone(shared),
            }),
            parker,
            shared: Arc::clone(shared),
        }
    }

    /// The seeded generator of this thread, if the runtime has a seed (`executor/seed.rs`).
    pub(crate) fn rng(&self) -> Option<&Rng> {
        self.rng.as_ref()
    }

    pub(crate) fn pinned_runner(&self) -> &PinnedRunner {
        &self.runner
    }

    pub(crate) fn observer(&self) -> &Observer {
        &self.observer
    }

    /// This thread's recorder, shared (for `Runtime::enter`).
    pub(crate) fn observer_rc(&self) -> Rc<Observer> {
        Rc::clone(&self.observer)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn parker(&self) -> Arc<Parker> {
        Arc::clone(&self.parker)
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
        let entered = Entered {
            reactor: Arc::clone(&self.shared.reactor),
            blocking: self.shared.blocking.clone(),
            observer: Some(Rc::clone(&self.observer)),
        };
        // On worker threads a seed replays the runtime's own choices, not the OS scheduler's:
        // the line is still the one way to run again with the same seed.
        let _entered =
            current::enter_loop(Loop::BlockOn(Rc::clone(self)), entered, self.shared.seed);
        let mut future = pin!(future);
        let waker = Waker::from(Arc::clone(&self.main));
        let main = MainPoll {
            waker: &waker,
            wait: &self.main_waits,
            runtime: self.runtime,
            observer: &self.observer,
        };
        self.main.woken.store(true, Relaxed); // the first poll is not a wake
        loop {
            if self.main.woken.swap(false, AcqRel) {
                if let Poll::Ready(output) = poll_main(future.as_mut(), &main) {
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

    fn run_pinned(&self, task: TaskRef) {
        self.pinned_polls.set(self.pinned_polls.get() + 1);
        match poll_task(task, self.runtime, &self.observer) {
            Polled::Idle => {}
            Polled::Requeue(task) => self.runner.push(task),
            Polled::Finished { task, completed } => {
                if completed {
                    self.shared.completed.fetch_add(1, Relaxed);
                }
                // SAFETY: a pinned task is listed with its thread's pinned tasks until it
                // finishes, and finishes once.
                let listed = unsafe { self.runner.pinned.tasks.remove(task.task()) };
                drop(task); // now its JoinHandle hears of it
                drop(listed);
            }
        }
    }

    /// Sleeps until the future or a pinned task is woken; reports a deadlock instead of
    /// sleeping forever, and a likely one (a cycle of tasks waiting on each other) before it
    /// sleeps on. The runtime's threads go on while it looks, so it acts on a verdict only
    /// once a second look, a little later, agrees.
    fn sleep(&self) {
        if diagnose::verdict(self) != Verdict::Wait {
            self.parker.park_timeout(DEADLOCK_CONFIRM);
            let verdict = diagnose::verdict(self);
            (self.on_stuck).act_on(verdict, self.progress(), "every worker is idle, ", || {
                self.shared.dump()
            });
            if verdict == Verdict::Cycle {
                self.parker.park();
            }
        } else {
            // Not in the reactor: measured on the demo's scene, a third thread waking for the
            // reactor's events on two cores slows the workers more than it helps (the events
            // are dispatched to the injection queue instead of a worker's own queue).
            self.parker.park();
        }
        self.observer.resume();
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

/// What `diagnose` asks of the `block_on` thread before it sleeps: the whole runtime must be
/// idle, every worker asleep and every queue empty.
impl Quiet for BlockOn {
    fn timer_or_socket(&self) -> bool {
        let reactor = &self.shared.reactor;
        reactor.pending_timers() != 0 || reactor.has_waiters()
    }

    fn main_wakers_held(&self) -> usize {
        // Our own `Arc` and the `Waker` that `run` holds account for two references.
        Arc::strong_count(&self.main) - 2
    }

    fn main_wait(&self) -> u64 {
        self.main_waits.load(Relaxed)
    }

    fn work_pending(&self) -> bool {
        let shared = &self.shared;
        self.main.woken.load(Acquire)
            || self.runner.has_ready()
            || shared.idle.sleeping() != shared.workers.len()
            || shared.idle.searching()
            || !shared.inject.is_empty()
            || (shared.workers.iter()).any(|slot| !slot.queue.is_empty() || slot.pinned.has_inbox())
    }

    fn each_task(&self, look: &mut dyn FnMut(TaskView)) {
        // The `Send` tasks and every thread's pinned ones, this thread's included.
        self.shared
            .for_each_task(|task| look(report::task_view(task)));
    }

    fn jobs_busy(&self) -> bool {
        self.shared.blocking.is_busy()
    }

    fn look_again_after_job(&self) {
        // The job's end unparks this thread (the hook `new` set), or now if it just was.
        if !self.shared.blocking.watch_job_end() {
            self.parker.unpark();
        }
    }
}
