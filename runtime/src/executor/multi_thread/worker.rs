//! A worker: the article's loop on one of several threads, with work stealing.
//!
//! Each turn a worker takes a task from, in this order: its own queue (and, every other turn,
//! the tasks pinned to it), the injection queue, and the queue of another worker (half of it).
//! Every 61st turn the injection queue comes first, so that a busy local queue never starves it.
//! With nothing anywhere it goes to sleep, in the reactor if no other worker is waiting there,
//! else on its own condition variable.
//!
//! When a task running here wakes or spawns another, the new one goes on this worker's queue.
//! A spawn, or a wake behind tasks already queued, is work another worker could take: it is
//! announced, and a sleeping worker is woken (unless one is already searching). A wake into an
//! empty queue is not: the woken task runs next, right here, and waking another worker for it
//! would only make the two fight over one task (the ping-pong of a hand-off between two tasks,
//! which other runtimes pay a context switch for on every turn).

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::driver::Driver;
use super::pinned::PinnedRunner;
use super::queue::{self, Queue};
use super::{add, bump, Shared, WorkerCounters, WorkerSlot};
use crate::context::Entered;
use crate::executor::current::{self, Loop};
use crate::executor::poll::{self, poll_task, Polled};
use crate::executor::seed::Rng;
use crate::observe::Observer;
use crate::task::raw::TaskRef;
use crate::task::RuntimeNo;

/// Every this many turns a worker looks at the injection queue before its own.
const INJECT_FIRST_EVERY: u32 = 61;

/// One worker, as its own thread sees it.
pub(crate) struct Worker {
    index: usize,
    /// The runtime's number, for the poll step.
    runtime: RuntimeNo,
    pub(crate) shared: Arc<Shared>,
    runner: PinnedRunner,
    observer: Rc<Observer>,
    /// Turns so far (for the injection queue's turn and the choice of whom to steal from).
    tick: Cell<u32>,
    /// Woken to look for work, and not found any yet.
    searching: Cell<bool>,
    /// Its way to the reactor (`driver.rs`).
    seat: Driver,
    /// With a seed: chooses whom to steal from first.
    rng: Option<Rng>,
    /// With a seed: what `select!` draws from in the tasks this worker polls. Apart from `rng`,
    /// whose draws depend on when the worker runs out of work, so that a task's selects replay
    /// as long as the same worker polls it.
    select_rng: Option<Rng>,
}

impl Worker {
    /// The body of worker thread `index`.
    pub(crate) fn run(shared: Arc<Shared>, index: usize) {
        let name = format!("worker {}", index + 1);
        let observer = Rc::new(Observer::for_worker(
            &shared.observe,
            &name,
            true,
            Some(index),
        ));
        let worker = Rc::new(Worker {
            index,
            runtime: shared.ids.runtime(),
            runner: PinnedRunner::new(Arc::clone(&shared.workers[index].pinned)),
            observer: Rc::clone(&observer),
            tick: Cell::new(0),
            searching: Cell::new(false),
            seat: Driver::new(),
            rng: shared
                .seed
                .map(|seed| Rng::new(seed.wrapping_add(index as u64))),
            select_rng: shared
                .seed
                .map(|seed| Rng::new(!seed.wrapping_add(index as u64))),
            shared,
        });
        let entered = Entered {
            reactor: Arc::clone(&worker.shared.reactor),
            blocking: worker.shared.blocking.clone(),
            observer: Some(observer),
        };
        // The seed replays the workers' own choices (whom to steal from), not the OS's.
        let _entered = current::enter_loop(Loop::Worker(Rc::clone(&worker)), entered, None);
        let hooks = worker.shared.blocking.thread_hooks();
        hooks.started();
        worker.work();
        worker.exit();
        hooks.stopping();
    }

    /// The generator of `select!` in this worker's tasks, if the runtime has a seed
    /// (`executor/seed.rs`).
    pub(crate) fn select_rng(&self) -> Option<&Rng> {
        self.select_rng.as_ref()
    }

    fn slot(&self) -> &WorkerSlot {
        &self.shared.workers[self.index]
    }

    fn queue(&self) -> &Queue {
        &self.slot().queue
    }

    /// This worker's counters.
    pub(crate) fn counters(&self) -> &WorkerCounters {
        &self.slot().counters
    }

    /// The tasks pinned to this worker.
    pub(crate) fn pinned_runner(&self) -> &PinnedRunner {
        &self.runner
    }

    /// The recorder of this thread.
    pub(crate) fn observer(&self) -> &Observer {
        &self.observer
    }

    /// Spawns a task pinned to this worker.
    pub(crate) fn spawn_local<F>(
        &self,
        future: F,
        name: Option<std::sync::Arc<str>>,
        location: &'static std::panic::Location<'static>,
    ) -> crate::task::JoinHandle<F::Output>
    where
        F: std::future::Future + 'static,
        F::Output: 'static,
    {
        self.shared
            .spawn_pinned(future, name, location, &self.observer, &self.runner)
    }

    /// The loop: up to `event_interval` polls, a look at the reactor, again; sleep when there
    /// is nothing to do.
    fn work(&self) {
        while !self.shared.is_shutting_down() {
            let mut ran = 0;
            // A task that yielded into an empty queue: the next one to run (see `run_task`).
            let mut again = None;
            while ran < self.shared.event_interval {
                let next = match again.take() {
                    Some(task) => Some((task, false)),
                    None => self.next_task(),
                };
                let Some((task, pinned)) = next else {
                    break;
                };
                self.found_work();
                again = self.run_task(task, pinned);
                ran += 1;
            }
            if let Some(task) = again {
                self.push_local(task, false);
            }
            if ran == 0 {
                self.park();
            } else {
                self.seat.look(&self.shared, &self.observer);
                self.observer.begin_turn();
            }
        }
    }

    /// The next task to run, and whether it is pinned to this thread.
    fn next_task(&self) -> Option<(TaskRef, bool)> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick % INJECT_FIRST_EVERY == 0 {
            if let Some(task) = self.take_injected() {
                return Some((task, false));
            }
        }
        if tick % 2 == 0 {
            if let Some(task) = self.runner.pop() {
                return Some((task, true));
            }
        }
        if let Some(task) = self.queue().pop() {
            return Some((task, false));
        }
        if let Some(task) = self.runner.pop() {
            return Some((task, true));
        }
        if let Some(task) = self.take_injected() {
            return Some((task, false));
        }
        self.steal().map(|task| (task, false))
    }

    /// Takes a fair share of the injection queue: one to run now, the rest onto this queue,
    /// as much as fits there (so that nothing overflows back), behind one publication.
    fn take_injected(&self) -> Option<TaskRef> {
        let inject = &self.shared.inject;
        if inject.is_empty() {
            return None;
        }
        let queue = self.queue();
        let share = inject.len() / self.shared.workers.len() + 1;
        let share = share.min(queue::CAPACITY / 2).min(queue.room() + 1);
        inject.pop_with(share, |batch| {
            let first = batch.next()?;
            queue.push_batch(batch);
            Some(first)
        })
    }

    /// Takes half of another worker's queue; returns one of the tasks to run now.
    fn steal(&self) -> Option<TaskRef> {
        let workers = self.shared.workers.len();
        let start = match &self.rng {
            Some(rng) => rng.below(workers),
            None => self.tick.get() as usize,
        };
        for offset in 0..workers {
            let victim = (start + offset) % workers;
            if victim == self.index {
                continue;
            }
            let stolen = self.shared.workers[victim].queue.steal_half(self.queue());
            if stolen > 0 {
                add(&self.counters().steals, stolen as u64);
                self.observer.stole(victim, stolen);
                return self.queue().pop();
            }
        }
        None
    }

    /// A task was found. A worker woken to search stops searching; if more work is left, the
    /// next sleeper is woken to take it.
    fn found_work(&self) {
        if self.searching.replace(false) {
            self.shared.idle.stop_searching();
            if !self.queue().is_empty() || !self.shared.inject.is_empty() {
                self.shared.announce();
            }
        }
    }

    /// Polls `task`. Returns it if it yielded and is the next task to run anyway: nothing
    /// else is queued here, injected or pinned, so the back of the queue is its front, and
    /// the loop runs it again without the round trip through the stealable queue (a push and
    /// a CAS to pop, a third of a yield's cost on worker threads).
    fn run_task(&self, task: TaskRef, pinned: bool) -> Option<TaskRef> {
        bump(&self.counters().polls);
        match poll_task(task, self.runtime, &self.observer) {
            Polled::Idle => {}
            Polled::Requeue(task) => {
                // Woken while it ran, almost always by itself (yield_now): it goes to the back,
                // here, and nobody else needs to hear of it.
                bump(&self.counters().local_wakes);
                if pinned {
                    self.runner.requeue(task);
                } else if self.queue().is_empty()
                    && self.shared.inject.is_empty()
                    && !self.runner.has_ready()
                {
                    return Some(task);
                } else {
                    self.push_local(task, false);
                }
            }
            Polled::Finished { task, completed } => {
                let listed = if pinned {
                    if completed {
                        self.shared.completed.fetch_add(1, Relaxed);
                    }
                    // SAFETY: a pinned task is listed with its thread's pinned tasks until it
                    // finishes, and finishes once.
                    unsafe { self.runner.pinned.tasks.remove(task.task()) }
                } else {
                    self.shared.finished(task.task(), completed)
                };
                drop(task); // now its JoinHandle hears of it
                drop(listed);
            }
        }
        None
    }

    /// A `Send` task woken by code running on this worker.
    pub(crate) fn push_woken(&self, task: TaskRef) {
        bump(&self.counters().local_wakes);
        self.observer
            .woke_here(task.header().id(), poll::notes(task.header()));
        // Into an empty queue it is the next task here: no one else needs to know.
        let behind_others = !self.queue().is_empty();
        self.push_local(task, behind_others);
    }

    /// A task spawned by code running on this worker: work another worker may take.
    #[inline]
    pub(crate) fn push_spawned(&self, task: TaskRef) {
        self.push_local(task, true);
    }

    #[inline]
    fn push_local(&self, task: TaskRef, announce: bool) {
        if let Some(overflow) = self.queue().push(task) {
            self.spill(overflow);
        } else if announce {
            self.shared.announce();
        }
    }

    /// This queue was full: half of it goes to the injection queue, for any worker. Out of
    /// line, so that the common push stays small.
    #[cold]
    #[inline(never)]
    fn spill(&self, overflow: queue::Overflow) {
        self.shared.push_overflow(overflow);
        self.shared.announce();
    }

    /// Nothing to do: sleep, in the reactor if no other worker waits there.
    fn park(&self) {
        let shared = &self.shared;
        if self.searching.replace(false) {
            shared.idle.stop_searching();
        }
        shared.idle.sleep(self.index);
        // The last look, after registering as a sleeper (see `idle.rs`).
        if shared.has_work_for(self.index) || self.runner.has_ready() || shared.is_shutting_down() {
            if !shared.idle.unsleep(self.index) {
                self.searching.set(true); // chosen meanwhile: we count as searching
            }
            return;
        }
        bump(&self.counters().parks);
        shared.falling_asleep();
        let drove = self.seat.sleep(shared, &self.slot().parker, &self.observer);
        if !shared.idle.unsleep(self.index) {
            self.searching.set(true); // another worker woke us to take work
        }
        self.observer.resume();
        if drove {
            // The events' tasks are woken now that we are awake again: a wake behind others
            // is announced, and we are no longer a sleeper that could be chosen for it.
            self.seat.wake_collected(&self.observer);
        }
    }

    /// The task this worker polls is about to block its thread (`block_in_place`): every task
    /// queued here moves to the injection queue, and a sleeping worker is woken to take them.
    /// Returns how many moved.
    ///
    /// This is the protocol of any push from outside the workers (publish, then
    /// `Shared::announce`): a worker on its way to sleep either sees the tasks in its last
    /// look or is woken (`idle.rs`, and its loom model).
    pub(crate) fn hand_off(&self) -> usize {
        let mut moved = Vec::new();
        while let Some(task) = self.queue().pop() {
            moved.push(task);
        }
        let count = moved.len();
        if count > 0 {
            self.shared.push_overflow(moved);
            self.shared.announce();
        }
        count
    }

    /// The runtime shuts down: let go of what is queued here (the runtime's thread drops the
    /// futures of `Send` tasks), and drop the pinned tasks' futures here, on their thread.
    fn exit(&self) {
        while let Some(task) = self.queue().pop() {
            drop(task);
        }
        self.runner.shutdown();
    }
}
