//! The run queue of the current-thread loop: the tasks that were woken, in the order they
//! became ready.
//!
//! The article's loop keeps `tasks`, every generator, and runs each in turn. nbio's keeps only
//! the woken ones: a task waiting on a socket or a timer is not here, and costs nothing until
//! its waker puts it back. The queue is the loop thread's alone, so it needs no lock; other
//! threads go through the injection queue (`remote.rs`).
//!
//! With a seed (`Builder::seed`) the next task is drawn among all the ready ones instead of
//! taken from the front, so that a test can replay, or vary, the order of polls
//! (`executor/seed.rs`).

use std::cell::{RefCell, RefMut};
use std::collections::VecDeque;

use crate::executor::seed::Rng;
use crate::task::raw::TaskRef;

/// The queue's capacity kept when it empties (8 KiB of entries); a burst beyond it does not pin
/// its memory for the rest of the runtime's life.
const KEPT: usize = 1024;

/// The woken tasks, and how the next one is chosen.
pub(crate) struct RunQueue {
    tasks: RefCell<VecDeque<TaskRef>>,
    /// With a seed, picks each next task among the ready ones.
    rng: Option<Rng>,
}

impl RunQueue {
    pub(crate) fn new(seed: Option<u64>) -> RunQueue {
        RunQueue {
            tasks: RefCell::default(),
            rng: seed.map(Rng::new),
        }
    }

    /// Queues a task at the back.
    #[inline]
    pub(crate) fn push(&self, task: TaskRef) {
        self.tasks.borrow_mut().push_back(task);
    }

    /// The next task to poll: the oldest, or with a seed one drawn among all.
    #[inline]
    pub(crate) fn pop(&self) -> Option<TaskRef> {
        let mut tasks = self.tasks.borrow_mut();
        match &self.rng {
            None => tasks.pop_front(),
            Some(rng) => rng.pick(&mut tasks),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tasks.borrow().is_empty()
    }

    /// The queue itself, to move a batch in.
    pub(crate) fn borrow_mut(&self) -> RefMut<'_, VecDeque<TaskRef>> {
        self.tasks.borrow_mut()
    }

    /// Gives back what a burst of spawns or wakes made the queue grow to, once the burst is
    /// over: when the queue is down to a quarter of its capacity, to twice what it holds (and
    /// never below `KEPT`). The loop asks after each turn, not only when it parks: a runtime
    /// that always has a task to run (one that yields, or waits on a busy socket) would
    /// otherwise keep a burst's memory for the rest of its life.
    #[inline]
    pub(crate) fn shrink(&self) {
        let mut tasks = self.tasks.borrow_mut();
        let capacity = tasks.capacity();
        if capacity > KEPT && tasks.len() <= capacity / 4 {
            let keep = (2 * tasks.len()).max(KEPT);
            tasks.shrink_to(keep);
        }
    }

    /// Lets go of every queued task (the runtime shuts down).
    pub(crate) fn clear(&self) {
        let queued = std::mem::take(&mut *self.tasks.borrow_mut());
        drop(queued);
    }

    /// The seed of the order, if there is one.
    pub(crate) fn seed(&self) -> Option<u64> {
        self.rng.as_ref().map(Rng::seed)
    }

    /// The seeded generator, if there is one: `select!` draws its first branch from it too.
    pub(crate) fn rng(&self) -> Option<&Rng> {
        self.rng.as_ref()
    }
}
