//! The injector: how other threads reach the current-thread runtime.
//!
//! The run queue of the current-thread loop is its thread's alone, without a lock. A wake from
//! another thread (or a spawn through a `Handle`) cannot touch it; it goes here instead, a queue
//! under a lock, and rings the doorbell (`doorbell.rs`), which notifies the reactor if the loop
//! sleeps in it. At its next turn the loop moves everything over.

use std::collections::VecDeque;
use std::mem;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::doorbell::{Doorbell, INJECTED};
use crate::reactor::Reactor;
use crate::task::raw::TaskRef;

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

/// The queue, and whether the runtime still takes anything.
pub(crate) struct Injector {
    inner: Mutex<Inner>,
}

struct Inner {
    queue: VecDeque<Injected>,
    /// The runtime is gone: what comes is dropped instead of queued.
    closed: bool,
}

impl Injector {
    pub(crate) fn new() -> Injector {
        Injector {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                closed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A push or a drain cannot be left half done by a panic: poisoning is harmless.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `injected`, rings the doorbell and notifies the reactor if the loop sleeps.
    /// False if the runtime is gone (a spawned task is then shut down here).
    pub(crate) fn push(&self, injected: Injected, doorbell: &Doorbell, reactor: &Reactor) -> bool {
        let mut inner = self.lock();
        if inner.closed {
            drop(inner);
            if let Injected::Spawned { registered, .. } = injected {
                registered.shutdown();
            }
            return false;
        }
        inner.queue.push_back(injected);
        // Under the lock: the loop takes the queue under it too, so no push slips between.
        let rang = doorbell.ring(INJECTED);
        drop(inner);
        if rang.parked {
            reactor.notify();
        }
        true
    }

    /// Takes everything queued (the loop, at its turn).
    pub(crate) fn take(&self, doorbell: &Doorbell) -> VecDeque<Injected> {
        // Under the lock: a push after this drain rings again.
        let mut inner = self.lock();
        doorbell.take(INJECTED);
        mem::take(&mut inner.queue)
    }

    /// Refuses what comes from now on and returns what was queued.
    pub(crate) fn close(&self) -> VecDeque<Injected> {
        let mut inner = self.lock();
        inner.closed = true;
        mem::take(&mut inner.queue)
    }
}
