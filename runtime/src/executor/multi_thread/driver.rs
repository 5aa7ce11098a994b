//! Driving the one reactor of a multi-thread runtime: whichever thread has nothing to do
//! waits in it, and wakes the tasks of its events.
//!
//! The current-thread loop waits in its reactor whenever its queue is empty. Here several
//! workers may be idle at once, and the reactor has one wait: the first idle worker to take the
//! `driver` flag blocks in it; the others sleep on their condition variables (and so does the
//! `block_on` thread, which never drives: see `block_on.rs`). A busy worker looks at the reactor without blocking every
//! `event_interval` polls, when nobody waits in it. An unpark of the thread that waits in the
//! reactor is a `Reactor::notify` (see `Parker::unpark`).

use std::cell::RefCell;
use std::mem;
use std::sync::atomic::Ordering::{AcqRel, Release};
use std::time::Instant;

use polling::Events;

use super::idle::Parker;
use super::Shared;
use crate::loom;
use crate::observe::{Cause, Observer};
use crate::reactor::{Trigger, Woken};

/// One thread's seat at the reactor: the buffers its waits use, kept between waits.
pub(crate) struct Seat {
    events: RefCell<Events>,
    woken: RefCell<Vec<Woken>>,
}

impl Seat {
    pub(crate) fn new() -> Seat {
        Seat {
            events: RefCell::new(Events::new()),
            woken: RefCell::default(),
        }
    }

    /// Sleeps on `parker`: in the reactor if nobody else waits there, else on the condition
    /// variable. True if it waited in the reactor (then `wake_collected` has work).
    pub(crate) fn sleep(&self, shared: &Shared, parker: &Parker, observer: &Observer) -> bool {
        if shared.driver.swap(true, AcqRel) {
            parker.park();
            return false;
        }
        parker.park_on_driver(|| self.wait(shared, observer, true));
        shared.driver.store(false, Release);
        true
    }

    /// Busy: a look at the reactor without blocking, unless another thread waits in it.
    pub(crate) fn look(&self, shared: &Shared, observer: &Observer) {
        if shared.driver.swap(true, AcqRel) {
            return;
        }
        self.wait(shared, observer, false);
        shared.driver.store(false, Release);
        self.wake_collected(observer);
    }

    /// Waits for (or looks for) events and due timers; their wakers are kept for
    /// `wake_collected`.
    fn wait(&self, shared: &Shared, observer: &Observer, block: bool) {
        let started = observer.journaling().then(Instant::now);
        let mut woken = self.woken.borrow_mut();
        let result = shared
            .reactor
            .wait(&mut self.events.borrow_mut(), &mut woken, block);
        let events = match result {
            Ok(events) => events,
            // epoll_wait only fails on a bad descriptor or buffer: a bug, not a condition.
            Err(err) => panic!("nbio: the reactor could not wait for events: {err}"),
        };
        if let Some(started) = started {
            if events.is_some() || !woken.is_empty() {
                observer.reactor_waited(started, events.unwrap_or(0), block);
            }
        }
    }

    /// Wakes what the last wait handed out. Called once the thread is awake again, so that the
    /// wakes it makes are announced to the other workers like any other.
    pub(crate) fn wake_collected(&self, observer: &Observer) {
        let mut woken = mem::take(&mut *self.woken.borrow_mut());
        for (waker, trigger) in woken.drain(..) {
            observer.set_waking(Some(match trigger {
                Trigger::Io { fd, dir } => Cause::Io { fd, dir },
                Trigger::Timer => Cause::Timer,
            }));
            // A socket may be awaited by a task of another runtime: its waker is not ours.
            loom::wake_guarded(waker);
        }
        observer.set_waking(None);
        *self.woken.borrow_mut() = woken;
    }
}
