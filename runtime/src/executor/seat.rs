//! A seat at the reactor: asking it for events and due timers, and waking their tasks.
//!
//! This is the article's `select()` call and the loop over its result, in one place for every
//! loop that drives a reactor: the current-thread loop, and whichever worker of the
//! multi-thread runtime waits in it. The buffers the poller fills are kept between waits, so a
//! look at the reactor allocates nothing.
//!
//! The wakers are collected first and called after (`wake_collected`): a worker calls them
//! once it is awake again, so that the wakes it makes are announced to the other workers like
//! any other.

use std::cell::RefCell;
use std::mem;
use std::time::Instant;

use polling::Events;

use crate::loom;
use crate::observe::{Cause, Observer};
use crate::reactor::{Reactor, Trigger, Woken};

/// One thread's buffers for its waits in a reactor.
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

    /// Waits in `reactor` (or, unless `block`, only looks) for events and due timers; their
    /// wakers are kept for `wake_collected`.
    pub(crate) fn wait(&self, reactor: &Reactor, observer: &Observer, block: bool) {
        let started = observer.journaling().then(Instant::now);
        let mut woken = self.woken.borrow_mut();
        let result = reactor.wait(&mut self.events.borrow_mut(), &mut woken, block);
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

    /// One look of a loop at `reactor` (blocking in it if `block`): waits, wakes what it
    /// collected, and tells the observer the loop looked.
    pub(crate) fn poll(&self, reactor: &Reactor, observer: &Observer, block: bool) {
        self.wait(reactor, observer, block);
        self.wake_collected(observer);
        observer.looked(block);
    }

    /// Moves a virtual clock to the next timer's deadline, collecting what falls due. False if
    /// no timer is pending.
    pub(crate) fn jump_to_next_timer(&self, reactor: &Reactor) -> bool {
        reactor.jump_to_next_timer(&mut self.woken.borrow_mut())
    }

    /// Wakes what the last wait (or jump) collected.
    pub(crate) fn wake_collected(&self, observer: &Observer) {
        let mut woken = mem::take(&mut *self.woken.borrow_mut());
        for (waker, trigger) in woken.drain(..) {
            observer.set_waking(Some(match trigger {
                Trigger::Io { fd, dir } => Cause::Io { fd, dir },
                Trigger::Timer => Cause::Timer,
            }));
            // A socket may be awaited by a task of another runtime, or by a future under a
            // hand-written executor: its waker is not ours to trust.
            loom::wake_guarded(waker);
        }
        observer.set_waking(None);
        *self.woken.borrow_mut() = woken;
    }
}
