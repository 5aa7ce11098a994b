//! What other threads may touch of a current-thread runtime, and how what they bring reaches
//! the loop.
//!
//! The loop's run queue and its list of tasks are its thread's alone, without locks. A wake
//! from another thread (or a spawn through a `Handle`) cannot touch them: it goes into the
//! injection queue (`executor/inject.rs`) and rings the doorbell (`doorbell.rs`), which
//! notifies the reactor if the loop sleeps in it. At its next turn the loop moves everything
//! over ([`Remote::drain`]).

use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::task::Wake;
use std::time::Instant;

use super::doorbell::{Doorbell, INJECTED, MAIN_WOKEN};
use crate::blocking::BlockingPool;
use crate::executor::current;
use crate::executor::inject::Inject;
use crate::executor::poll::notes;
use crate::observe::{self, Cause, Observer};
use crate::reactor::Reactor;
use crate::task::list::TaskList;
use crate::task::owned::OwnedTasks;
use crate::task::raw::{self, Schedule, TaskMeta, TaskRef};
use crate::task::{JoinHandle, RuntimeNo, TaskId, TaskIds};

/// What another thread hands the loop.
pub(crate) enum Injected {
    /// A task it woke.
    Woken(TaskRef),
    /// A task it spawned: the loop lists it (`registered`) and queues it (`queued`).
    Spawned {
        registered: TaskRef,
        queued: TaskRef,
    },
}

/// The part of a current-thread runtime that other threads may touch.
pub(crate) struct Remote {
    /// Tasks woken (or spawned) from other threads, waiting to move into the run queue.
    pub(super) inject: Inject<Injected>,
    /// Whether the loop is parked, and the work waiting for it: `INJECTED` while the injection
    /// queue has tasks, `MAIN_WOKEN` when the future passed to `block_on` must be polled.
    pub(super) doorbell: Doorbell,
    /// Ids of new tasks: the runtime's thread, `Handle::spawn` from other threads and the
    /// blocking pool's jobs draw them.
    pub(super) ids: Arc<TaskIds>,
    /// Threads for blocking work; none until the first job. Here so that a `Handle` reaches it
    /// from any thread.
    pub(crate) blocking: BlockingPool,
    /// The reactor, shared with sockets and timers.
    pub(crate) reactor: Arc<Reactor>,
    /// What the runtime's threads record into (for spawns from other threads).
    pub(super) observed: Arc<observe::RuntimeRecorder>,
    /// Wakes of tasks that came from other threads.
    pub(super) remote_wakes: AtomicU64,
    /// Wakes of the `block_on` future: all of them, and those from other threads.
    pub(super) main_wakes: AtomicU64,
    pub(super) main_remote_wakes: AtomicU64,
    /// Tasks spawned from other threads (through a `Handle`).
    pub(super) spawned_elsewhere: AtomicU64,
    /// Told of every task woken from off the loop (`nbio::sim`, where such a wake is a leak
    /// of the real world into the simulation); unset elsewhere, at the cost of one load.
    pub(crate) woken_off_loop: OnceLock<OffLoopWake>,
}

/// What [`Remote::woken_off_loop`] calls, with the id of the task woken.
pub(crate) type OffLoopWake = Box<dyn Fn(TaskId) + Send + Sync>;

impl Remote {
    /// The slow path of a wake: from another thread (or from this one outside `block_on`).
    fn push_woken(&self, task: TaskRef) {
        if self.push(Injected::Woken(task)) {
            self.remote_wakes.fetch_add(1, Relaxed);
        }
    }

    /// Queues `injected` for the loop, ringing the doorbell under the queue's lock (the loop
    /// drains under it too, so no push slips between) and notifying the reactor if the loop
    /// sleeps. False if the runtime is gone (a spawned task is then shut down here).
    fn push(&self, injected: Injected) -> bool {
        let mut parked = false;
        let pushed = self.inject.push([injected], || {
            parked = self.doorbell.ring(INJECTED).parked;
        });
        match pushed {
            Ok(()) => {
                if parked {
                    self.reactor.notify();
                }
                true
            }
            Err([Injected::Spawned { registered, .. }]) => {
                registered.shutdown();
                false
            }
            Err(_) => false,
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
        self.push(Injected::Spawned {
            registered: task.registered,
            queued: task.queued,
        });
        JoinHandle::new(task.handle)
    }

    /// Moves what other threads brought into the loop's run queue (and its list of tasks).
    pub(super) fn drain(
        &self,
        queue: &mut VecDeque<TaskRef>,
        tasks: &OwnedTasks<std::cell::RefCell<TaskList>>,
        observer: &Observer,
    ) {
        if !self.doorbell.pending(INJECTED) {
            return;
        }
        let started = observer.journaling().then(Instant::now);
        let injected = self.inject.pop_batch(usize::MAX, || {
            self.doorbell.take(INJECTED);
        });
        let moved = injected.len();
        for injected in injected {
            queue.push_back(match injected {
                Injected::Woken(task) => {
                    observer.woke(task.header().id(), notes(task.header()), Cause::Thread);
                    task
                }
                Injected::Spawned { registered, queued } => {
                    tasks.insert(registered);
                    queued
                }
            });
        }
        if let Some(started) = started {
            observer.remote_wakes(started, moved);
        }
    }
}

impl Schedule for Arc<Remote> {
    fn schedule(&self, task: TaskRef) {
        current::with_current_thread(|current| match current {
            // The fast path: woken on the runtime's own thread, while it runs.
            Some(scheduler) if Arc::ptr_eq(&scheduler.remote, self) => scheduler.push_woken(task),
            _ => {
                if let Some(told) = self.woken_off_loop.get() {
                    told(task.header().id());
                }
                self.push_woken(task)
            }
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
pub(crate) struct MainWaker {
    pub(super) remote: Arc<Remote>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let remote = &self.remote;
        let rang = remote.doorbell.ring(MAIN_WOKEN);
        if rang.fresh {
            // Counted like a task's wake: once per time it makes the future runnable.
            remote.main_wakes.fetch_add(1, Relaxed);
            let here = current::with_current_thread(|current| {
                current.is_some_and(|scheduler| Arc::ptr_eq(&scheduler.remote, remote))
            });
            if !here {
                remote.main_remote_wakes.fetch_add(1, Relaxed);
            }
        }
        if rang.parked {
            remote.reactor.notify();
        }
    }
}
