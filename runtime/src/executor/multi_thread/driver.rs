//! Driving the one reactor of a multi-thread runtime: whichever thread has nothing to do
//! waits in it, and wakes the tasks of its events.
//!
//! The current-thread loop waits in its reactor whenever its queue is empty. Here several
//! workers may be idle at once, and the reactor has one wait: the first idle worker to take the
//! `driver` flag blocks in it; the others sleep on their condition variables (and so does the
//! `block_on` thread, which never drives: see `block_on.rs`). A busy worker looks at the reactor without blocking every
//! `event_interval` polls, when nobody waits in it. An unpark of the thread that waits in the
//! reactor is a `Reactor::notify` (see `Parker::unpark`).

use std::sync::atomic::Ordering::{AcqRel, Release};

use super::idle::Parker;
use super::Shared;
use crate::executor::seat::Seat;
use crate::observe::Observer;

/// One worker's way to the reactor: its seat (the buffers of its waits), taken only while no
/// other thread of the runtime waits there.
pub(crate) struct Driver {
    seat: Seat,
}

impl Driver {
    pub(crate) fn new() -> Driver {
        Driver { seat: Seat::new() }
    }

    /// Sleeps on `parker`: in the reactor if nobody else waits there, else on the condition
    /// variable. True if it waited in the reactor (then `wake_collected` has work).
    pub(crate) fn sleep(&self, shared: &Shared, parker: &Parker, observer: &Observer) -> bool {
        if shared.driver.swap(true, AcqRel) {
            parker.park();
            return false;
        }
        parker.park_on_driver(|| self.seat.wait(&shared.reactor, observer, true));
        shared.driver.store(false, Release);
        true
    }

    /// Busy: a look at the reactor without blocking, unless another thread waits in it.
    pub(crate) fn look(&self, shared: &Shared, observer: &Observer) {
        if shared.driver.swap(true, AcqRel) {
            return;
        }
        self.seat.wait(&shared.reactor, observer, false);
        shared.driver.store(false, Release);
        self.seat.wake_collected(observer);
    }

    /// Wakes what the last wait handed out. Called once the thread is awake again, so that the
    /// wakes it makes are announced to the other workers like any other.
    pub(crate) fn wake_collected(&self, observer: &Observer) {
        self.seat.wake_collected(observer);
    }
}
