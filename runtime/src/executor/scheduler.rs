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
//! the run queue, the registry of live tasks, the counters. [`Shared`] is what other threads
//! may touch: a second queue for wakes that come from them, and the flags that tell whether
//! the loop is parked in the reactor and must be notified.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::mem;
use std::panic::Location;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use polling::Events;

use super::context;
use super::registry::Registry;
use crate::observe::Stats;
use crate::reactor::Reactor;
use crate::task::raw::{self, RunOutcome, Schedule, TaskRef};
use crate::task::{JoinHandle, TaskId};

/// Settings the `Builder` passes down.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// How many tasks to poll between two looks at the reactor while the queue stays busy.
    pub(crate) event_interval: u32,
}

/// The part of a runtime that other threads may touch.
pub(crate) struct Shared {
    /// Tasks woken from other threads, waiting to move into the run queue.
    injector: Mutex<Injector>,
    /// `injector` is non-empty: lets the loop skip the lock when nothing came in.
    injected: AtomicBool,
    /// The loop is (about to be) blocked in the reactor; whoever queues work must notify it.
    parked: AtomicBool,
    /// The future passed to `block_on` was woken and must be polled.
    main_woken: AtomicBool,
    /// Wakes that came from other threads.
    remote_wakes: AtomicU64,
    /// The reactor, shared with sockets and timers.
    pub(crate) reactor: Arc<Reactor>,
}

struct Injector {
    queue: VecDeque<TaskRef>,
    /// The runtime is gone: wakes from other threads are dropped instead of queued.
    closed: bool,
}

impl Shared {
    fn lock_injector(&self) -> MutexGuard<'_, Injector> {
        // A push or a drain cannot be left half done by a panic: poisoning is harmless.
        self.injector.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The slow path of a wake: from another thread (or from this one outside `block_on`).
    fn push_remote(&self, task: TaskRef) {
        let mut injector = self.lock_injector();
        if injector.closed {
            drop(injector);
            drop(task);
            return;
        }
        injector.queue.push_back(task);
        self.injected.store(true, SeqCst);
        drop(injector);
        self.remote_wakes.fetch_add(1, Relaxed);
        self.unpark();
    }

    /// Notifies the reactor if the loop is parked in it (or about to be).
    ///
    /// Pairs with `Scheduler::park`: the loop sets `parked` *then* checks for work; a waker
    /// publishes its work *then* takes `parked`. With both in SeqCst, at least one of the two
    /// sees the other, so either the loop does not block or the waker notifies it.
    fn unpark(&self) {
        if self.parked.swap(false, SeqCst) {
            self.reactor.notify();
        }
    }

    /// Moves tasks woken from other threads into `queue`.
    fn take_injected(&self, queue: &mut VecDeque<TaskRef>) {
        if self.injected.load(Acquire) {
            let mut injector = self.lock_injector();
            self.injected.store(false, Relaxed);
            queue.append(&mut injector.queue);
        }
    }

    /// Refuses further remote wakes and returns what was queued.
    fn close(&self) -> VecDeque<TaskRef> {
        let mut injector = self.lock_injector();
        injector.closed = true;
        mem::take(&mut injector.queue)
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: TaskRef) {
        context::with_current(|current| match current {
            // The fast path: woken on the runtime's own thread, while it runs.
            Some(scheduler) if Arc::ptr_eq(&scheduler.shared, self) => scheduler.push_woken(task),
            _ => self.push_remote(task),
        });
    }
}

/// The waker of the future passed to `block_on`, which is not a task: it has no header and
/// never enters the queue; the loop polls it whenever this flag is set.
impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.main_woken.store(true, SeqCst);
        self.unpark();
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
    /// Tasks ready to be polled, in the order they became ready.
    run_queue: RefCell<VecDeque<TaskRef>>,
    /// Every task whose future still exists.
    registry: Registry,
    counters: Counters,
    next_id: Cell<u64>,
    config: Config,
    /// The poller's event buffer, kept between waits.
    events: RefCell<Events>,
    /// Wakers collected by the reactor, kept between waits for its capacity.
    woken: RefCell<Vec<Waker>>,
}

impl Scheduler {
    pub(crate) fn new(config: Config) -> io::Result<Scheduler> {
        let shared = Arc::new(Shared {
            injector: Mutex::new(Injector {
                queue: VecDeque::new(),
                closed: false,
            }),
            injected: AtomicBool::new(false),
            parked: AtomicBool::new(false),
            main_woken: AtomicBool::new(false),
            remote_wakes: AtomicU64::new(0),
            reactor: Arc::new(Reactor::new()?),
        });
        Ok(Scheduler {
            shared,
            run_queue: RefCell::default(),
            registry: Registry::new(),
            counters: Counters::default(),
            next_id: Cell::new(1),
            config,
            events: RefCell::new(Events::new()),
            woken: RefCell::default(),
        })
    }

    /// Makes a task of `future` and queues it.
    pub(crate) fn spawn<F>(
        &self,
        future: F,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let id = TaskId(self.next_id.get());
        self.next_id.set(id.0 + 1);
        let task = raw::allocate(future, Arc::clone(&self.shared), id, location);
        self.registry.insert(task.registered);
        self.run_queue.borrow_mut().push_back(task.queued);
        bump(&self.counters.spawned);
        JoinHandle::new(task.handle)
    }

    /// The fast path of a wake: on this thread, no lock.
    fn push_woken(&self, task: TaskRef) {
        bump(&self.counters.local_wakes);
        self.run_queue.borrow_mut().push_back(task);
    }

    /// Runs `future` to completion on this thread, running spawned tasks meanwhile.
    pub(crate) fn block_on<F: Future>(self: &Rc<Self>, future: F) -> F::Output {
        let _current = context::enter(self);
        let mut future = pin!(future);
        let waker = Waker::from(Arc::clone(&self.shared));
        let mut cx = Context::from_waker(&waker);
        self.shared.main_woken.store(true, Relaxed);
        loop {
            if self.shared.main_woken.swap(false, AcqRel) {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
            }
            self.turn();
        }
    }

    /// One round of the loop: poll up to `event_interval` ready tasks, then look at the
    /// reactor (blocking only if nothing is left to run).
    fn turn(&self) {
        self.shared.take_injected(&mut self.run_queue.borrow_mut());
        for _ in 0..self.config.event_interval {
            let Some(task) = self.run_queue.borrow_mut().pop_front() else {
                break;
            };
            self.run_task(task);
        }
        if self.run_queue.borrow().is_empty() {
            self.park();
        } else {
            self.poll_reactor(false);
        }
    }

    fn run_task(&self, task: TaskRef) {
        bump(&self.counters.polls);
        match task.run() {
            RunOutcome::Idle => {}
            RunOutcome::Requeue(task) => self.push_woken(task),
            RunOutcome::Finished(task) => {
                let registered = self.registry.remove(&task);
                bump(&self.counters.completed);
                drop(registered);
            }
        }
    }

    /// Blocks in the reactor until something happens, unless work arrived meanwhile.
    fn park(&self) {
        let shared = &self.shared;
        shared.parked.store(true, SeqCst);
        let work_arrived = shared.main_woken.load(SeqCst) || shared.injected.load(SeqCst);
        self.poll_reactor(!work_arrived);
        shared.parked.store(false, SeqCst);
    }

    /// Asks the reactor for events and due timers, then wakes their tasks.
    fn poll_reactor(&self, block: bool) {
        let mut woken = mem::take(&mut *self.woken.borrow_mut());
        let result = self
            .shared
            .reactor
            .wait(&mut self.events.borrow_mut(), &mut woken, block);
        if let Err(err) = result {
            // epoll_wait only fails on a bad descriptor or buffer: a bug, not a condition.
            panic!("nbio: the reactor could not wait for events: {err}");
        }
        for waker in woken.drain(..) {
            waker.wake();
        }
        *self.woken.borrow_mut() = woken;
    }

    /// Counters of this runtime, as they are now.
    pub(crate) fn stats(&self) -> Stats {
        let reactor = &self.shared.reactor.counters;
        let remote_wakes = self.shared.remote_wakes.load(Relaxed);
        Stats {
            tasks_spawned: self.counters.spawned.get(),
            tasks_completed: self.counters.completed.get(),
            tasks_alive: self.registry.len() as u64,
            polls: self.counters.polls.get(),
            wakes: self.counters.local_wakes.get() + remote_wakes,
            remote_wakes,
            reactor_waits: reactor.waits.load(Relaxed),
            io_events: reactor.io_events.load(Relaxed),
            would_block: reactor.would_block.load(Relaxed),
            timers_fired: reactor.timers_fired.load(Relaxed),
            timers_pending: self.shared.reactor.pending_timers() as u64,
        }
    }

    /// Drops every task's future (the runtime is being dropped), then the reactor's timers.
    pub(crate) fn shutdown(&self) {
        drop(self.shared.close());
        loop {
            let queued = mem::take(&mut *self.run_queue.borrow_mut());
            drop(queued);
            let Some(task) = self.registry.pop() else {
                break;
            };
            // A destructor run here may wake or even finish other tasks; the loop catches up.
            task.shutdown();
        }
        self.shared.reactor.shutdown();
    }
}
