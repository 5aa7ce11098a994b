//! The current-thread loop: the article's `while` loop, grown up. Read it first.
//!
//! The article's loop runs every task in `tasks` once, then calls `select()` with a timeout of
//! 0 and moves the tasks whose sockets are ready into the next round. mini-tokio (the tokio
//! tutorial's teaching executor) pops tasks off a channel and polls each. nbio's loop does
//! what both do, with the correctness they lack:
//!
//! - Only tasks that were *woken* are in the queue (`run_queue.rs`). A task waiting on a
//!   socket or a timer costs nothing until its waker fires; the article polls every generator
//!   every round.
//! - When the queue is empty the loop *blocks* in the reactor (until an event, a timer or a
//!   wake from another thread) instead of spinning with `select(..., 0)`: an idle runtime uses
//!   no CPU. A wake from another thread while it blocks is never lost: the doorbell
//!   (`doorbell.rs`) makes the waker notify the reactor exactly when the loop may be asleep.
//! - When the queue never empties, the loop still looks at the reactor, without blocking,
//!   every `event_interval` polls, so a task that is always ready cannot starve I/O and timers.
//! - A task is in the queue at most once and never polled after it finished (the task's state
//!   word, `task/state.rs`), and every live task is on a list (`task/owned.rs`), so dropping
//!   the runtime drops every future, even of tasks no waker will ever bring back.
//!
//! The state is split in two. [`CurrentThread`] lives on the runtime's thread and needs no
//! locks: the run queue, the list of live tasks, the counters. [`Remote`] is what other
//! threads may touch: the injection queue for their wakes and spawns, and the doorbell.
//!
//! Polling a task is one call (`executor/poll.rs`), and so is the check the loop makes before it
//! blocks (`check.rs`, which asks `diagnose` whether anything can still wake it): what watches
//! the loop stays out of the way of reading it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::Location;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::task::{Poll, Waker};

mod check;
mod doorbell;
#[cfg(all(test, nbio_loom))]
mod loom_tests;
mod remote;
mod run_queue;

use doorbell::{Doorbell, MAIN_WOKEN};
use remote::MainWaker;
pub(crate) use remote::{OffLoopWake, Remote};
use run_queue::RunQueue;

use super::poll::{self, poll_main, poll_task, MainPoll, Polled};
use super::seat::Seat;
use super::seed::Rng;
use crate::observe::Observer;
use crate::task::list::TaskList;
use crate::task::owned::OwnedTasks;
use crate::task::raw::{self, TaskMeta, TaskRef};
use crate::task::{JoinHandle, RuntimeNo};

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

/// The part of a current-thread runtime that lives on its thread.
pub(crate) struct CurrentThread {
    /// What other threads may touch: the injection queue, the doorbell, the reactor, the pool.
    pub(crate) remote: Arc<Remote>,
    /// The runtime's number, for the poll step (see `task::RuntimeNo`).
    runtime: RuntimeNo,
    /// Tasks ready to be polled.
    run_queue: RunQueue,
    /// Every task whose future still exists.
    tasks: OwnedTasks<RefCell<TaskList>>,
    /// How many tasks to poll between two looks at the reactor while the queue stays busy.
    event_interval: u32,
    counters: Counters,
    /// The buffers of the loop's waits in the reactor.
    seat: Seat,
    /// The `block_on` future's waker (see `MainWaker`).
    main_waker: Arc<MainWaker>,
    /// What the `block_on` future's last `Pending` said it waits on (the tasks' is in their
    /// headers), for the check before the loop blocks.
    main_wait: AtomicU64,
    /// What the check before blocking keeps from one park to the next (`check.rs`).
    checks: check::Checks,
    /// Names, journal, slow polls: everything `observe` records on this thread.
    pub(crate) observer: Rc<Observer>,
    /// Set by the first shutdown, so that a second one does nothing.
    shut_down: Cell<bool>,
}

impl CurrentThread {
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
        let id = self.remote.ids.next();
        let meta = TaskMeta::new(id, self.observer.spawned_at(id, name, location));
        let task = raw::allocate(future, Arc::clone(&self.remote), meta);
        self.tasks.insert(task.registered);
        self.run_queue.push(task.queued);
        bump(&self.counters.spawned);
        JoinHandle::new(task.handle)
    }

    /// The generator of the seeded order, if the runtime has a seed (`executor/seed.rs`).
    pub(crate) fn rng(&self) -> Option<&Rng> {
        self.run_queue.rng()
    }

    /// The fast path of a wake: on this thread, no lock.
    #[inline]
    fn push_woken(&self, task: TaskRef) {
        bump(&self.counters.local_wakes);
        self.observer
            .woke_here(task.header().id(), poll::notes(task.header()));
        self.run_queue.push(task);
    }

    /// Runs `future` to completion on this thread, running spawned tasks meanwhile.
    pub(crate) fn block_on<F: Future>(self: &Rc<Self>, future: F) -> F::Output {
        let _entered = check::enter(self);
        let mut future = pin!(future);
        let waker = Waker::from(Arc::clone(&self.main_waker));
        let main = MainPoll {
            waker: &waker,
            wait: &self.main_wait,
            runtime: self.runtime,
            observer: &self.observer,
        };
        // The first poll is not a wake: it bypasses the waker and its count.
        self.remote.doorbell.ring(MAIN_WOKEN);
        loop {
            if self.remote.doorbell.take(MAIN_WOKEN) {
                if let Poll::Ready(output) = poll_main(future.as_mut(), &main) {
                    return output;
                }
            }
            self.turn();
        }
    }

    /// One round of the loop: poll up to `event_interval` ready tasks, then look at the
    /// reactor (blocking only if nothing is left to run).
    fn turn(&self) {
        (self.remote).drain(
            &mut self.run_queue.borrow_mut(),
            &self.tasks,
            &self.observer,
        );
        // A task that woke itself while nothing else was ready goes next anyway: it skips the
        // trip through the queue (a lone task that yields, in a loop).
        let mut again = None;
        for _ in 0..self.event_interval {
            let Some(task) = again.take().or_else(|| self.run_queue.pop()) else {
                break;
            };
            again = self.run_task(task);
        }
        if let Some(task) = again {
            self.run_queue.push(task);
        }
        self.run_queue.shrink();
        if self.run_queue.is_empty() {
            self.park();
        } else {
            self.poll_reactor(false);
        }
    }

    /// Polls one task, and puts it where its outcome says; or, if it woke itself and the queue
    /// is empty, hands it back to be polled next.
    fn run_task(&self, task: TaskRef) -> Option<TaskRef> {
        bump(&self.counters.polls);
        match poll_task(task, self.runtime, &self.observer) {
            Polled::Idle => {}
            Polled::Requeue(task) => {
                // Woken while it ran: almost always by itself (yield_now).
                bump(&self.counters.local_wakes);
                if self.run_queue.is_empty() {
                    return Some(task);
                }
                self.run_queue.push(task);
            }
            Polled::Finished { task, completed } => {
                // SAFETY: every task of this loop is on its list until it finishes, and
                // finishes once.
                let listed = unsafe { self.tasks.remove(task.task()) };
                if completed {
                    bump(&self.counters.completed);
                }
                drop(task); // now its JoinHandle hears of it
                drop(listed);
            }
        }
        None
    }

    /// Blocks in the reactor until something happens, unless work arrived meanwhile.
    ///
    /// # Panics
    /// If nothing can ever happen (`check.rs`): blocking would hang forever.
    fn park(&self) {
        if self.check_before_park() {
            return; // a virtual clock moved and made a task runnable
        }
        // From here on a wake from another thread notifies the reactor, so the loop may block
        // in it; unless such a wake already came, and then it only looks.
        let doorbell: &Doorbell = &self.remote.doorbell;
        let may_block = doorbell.park();
        if may_block {
            self.check_before_block();
        }
        self.poll_reactor(may_block);
        if may_block {
            doorbell.unparked();
        }
    }

    /// Asks the reactor for events and due timers, then wakes their tasks.
    fn poll_reactor(&self, block: bool) {
        self.seat.poll(&self.remote.reactor, &self.observer, block);
    }
}
