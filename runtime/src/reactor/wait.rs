//! One wait in the reactor: the article's `select()` call, and what it costs.
//!
//! `polling`'s own wait makes five system calls: it arms its timer descriptor for the timeout
//! (`timerfd_settime` and an `epoll_ctl`), calls `epoll_wait`, then drains and re-arms its
//! notification descriptor (a `read` and an `epoll_ctl`), whether or not anything was notified
//! and whether or not the timeout needed a timer. Most waits need neither: a look between
//! tasks has a zero timeout, a loop with no timer pending has none, and a wait that a socket
//! ends never reaches its timeout. So the reactor reads the poller's events itself, with one
//! `epoll_wait` on the poller's own descriptor, and hands the wait to `polling` only when
//! `polling` has something of its own to do:
//!
//! - **A notification or polling's timer fired.** Both come as events under the key `polling`
//!   reserves for itself (`usize::MAX`: it refuses to register anything under it). The
//!   notification descriptor is armed for one event at a time, and `polling` sends no second
//!   notification before its wait has drained the first, so the reactor then makes a
//!   `polling` wait with a zero timeout, which drains it, re-arms it and collects anything else
//!   ready. A notification is therefore never lost: it either ends an `epoll_wait` of the
//!   reactor's, which hands it to `polling`, or is still pending for the next one.
//! - **The earliest deadline is near.** The kernel ends an `epoll_wait` timeout on a whole
//!   millisecond, rounded up, and lets it run late by its timer slack (50 µs, or 0.1% of the
//!   timeout if that is more); `polling`'s timer descriptor fires at the exact nanosecond. A wait
//!   whose deadline is within [`NEAR`] is made by `polling`, with its timer: a `sleep(1 ms)` is
//!   as precise as before. A wait for a farther deadline ends, by the kernel's timeout, early
//!   enough that no rounding and no slack can make it late ([`early_end`]); the next wait,
//!   now near, is the precise one. A server whose pending timers are far-off timeouts pays one
//!   `epoll_wait` per wait, as if it had none.
//!
//! Only one thread reads the poller's events at a time (`Reactor::events`, taken with
//! `try_lock`, as `polling` guards its own wait): a thread that finds it taken looks no
//! further, so a look can never take a notification meant for the thread blocked in the wait.

use std::io;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::TryLockError;
use std::time::Duration;

use polling::Events;
use rustix::buffer::spare_capacity;
use rustix::event::{epoll, Timespec};

use super::{Reactor, Woken};

/// The key `polling` keeps for its own descriptors (its notification and its timer):
/// `Poller::add` refuses it, so no source of ours has it.
const POLLER_KEY: u64 = usize::MAX as u64;

/// How many events one `epoll_wait` takes (the rest wait for the next).
const BATCH: usize = 1024;

/// The longest timeout of one `epoll_wait` of the reactor's.
const LONGEST: Duration = Duration::from_secs(24 * 60 * 60);

/// A deadline at most this far away is waited for with `polling`'s exact timer.
pub(super) const NEAR: Duration = Duration::from_millis(4);

/// The poller's events, as the kernel reports them (the reactor's lock on them is the right
/// to read them).
#[derive(Default)]
pub(super) struct RawEvents(Vec<epoll::Event>);

// SAFETY: an `epoll::Event` is not `Send` only because its data may be read as a pointer. The
// data of every event here is a key (an integer) put there by `Poller::add`, never read as a
// pointer, so the buffer may move between threads like any vector of integers.
unsafe impl Send for RawEvents {}

/// One readiness event, decoded.
struct Readied {
    key: usize,
    readable: bool,
    writable: bool,
    /// A hang-up or an error: see `Source::clear_drained`.
    hung_up: bool,
}

/// How a wait is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// Only look: a zero timeout, and only if a task waits on a socket.
    Look,
    /// One `epoll_wait` of the reactor's, until an event or the timeout (`None`: no timeout).
    Epoll(Option<Duration>),
    /// `polling`'s wait, with its exact timer for a deadline this far away.
    Exact(Duration),
}

/// The timeout of an `epoll_wait` that must end before a deadline `until` away, late as the
/// kernel may be: its milliseconds are rounded up (up to 1 ms) and its slack is at most 0.1%
/// of the timeout, or 0.5% for a thread with a positive nice value (both below `until / 128`),
/// or 50 µs. `None` if `until` is too near for that: wait with the exact timer instead.
pub(super) fn early_end(until: Duration) -> Option<Duration> {
    if until <= NEAR {
        return None;
    }
    let margin = Duration::from_millis(2) + until / 128;
    until.checked_sub(margin).filter(|early| !early.is_zero())
}

impl Plan {
    /// How to wait until `until` from now (`None`: until an event).
    fn blocking(until: Option<Duration>) -> Plan {
        match until {
            None => Plan::Epoll(None),
            Some(until) if until.is_zero() => Plan::Epoll(Some(Duration::ZERO)),
            Some(until) => early_end(until).map_or(Plan::Exact(until), |t| Plan::Epoll(Some(t))),
        }
    }
}

impl Reactor {
    /// Waits for readiness events and due timers, and collects the wakers to wake in `woken`.
    ///
    /// With `block`, waits until an event, a notification or the earliest timer deadline;
    /// without, only looks. The caller wakes `woken` once it holds no borrow the wakes need.
    /// Returns how many socket events the wait gave, or `None` if the poller was not asked (a
    /// look while no task waits on a socket has no one to wake; events wait in the poller
    /// meanwhile), or another thread was already waiting in it.
    pub(crate) fn wait(
        &self,
        events: &mut Events,
        woken: &mut Vec<Woken>,
        block: bool,
    ) -> io::Result<Option<usize>> {
        let delivered = match self.events.try_lock() {
            Ok(mut raw) => self.wait_with(&mut raw, events, woken, block),
            Err(TryLockError::Poisoned(poisoned)) => {
                // The buffer is refilled by every wait: a panic cannot leave it inconsistent.
                self.wait_with(&mut poisoned.into_inner(), events, woken, block)
            }
            Err(TryLockError::WouldBlock) => Ok(None),
        };
        self.fire_timers(woken);
        delivered
    }

    /// `wait`, by the thread that holds the right to read the poller's events.
    fn wait_with(
        &self,
        raw: &mut RawEvents,
        events: &mut Events,
        woken: &mut Vec<Woken>,
        block: bool,
    ) -> io::Result<Option<usize>> {
        let plan = if block {
            self.plan_blocking()
        } else {
            Plan::Look
        };
        let delivered = match plan {
            Plan::Look if self.waiting.load(Acquire) == 0 => {
                return Ok(None);
            }
            Plan::Look => self.epoll_wait(raw, events, Some(Duration::ZERO), woken),
            Plan::Epoll(timeout) => self.epoll_wait(raw, events, timeout, woken),
            Plan::Exact(until) => self.polling_wait(events, Some(until), woken),
        };
        if block {
            self.lock_timers().blocked_until = None;
        }
        delivered.map(Some)
    }

    /// Decides how a blocking wait waits, and tells the timers until when it may block.
    fn plan_blocking(&self) -> Plan {
        let mut timers = self.lock_timers();
        // On a virtual clock a blocking wait waits for events only: the loop moves the clock
        // to the next deadline itself, when nothing else can happen.
        let deadline = timers.next_deadline().filter(|_| !self.clock.is_virtual());
        timers.blocked_until = Some(deadline);
        Plan::blocking(
            deadline.map(|deadline| deadline.saturating_duration_since(self.clock.now())),
        )
    }

    /// One `epoll_wait` on the poller's descriptor; if it brought `polling`'s own event (a
    /// notification, its timer), a zero-timeout `polling` wait after it, to re-arm them.
    fn epoll_wait(
        &self,
        raw: &mut RawEvents,
        events: &mut Events,
        timeout: Option<Duration>,
        woken: &mut Vec<Woken>,
    ) -> io::Result<usize> {
        let raw = &mut raw.0;
        raw.clear();
        if raw.capacity() < BATCH {
            raw.reserve_exact(BATCH);
        }
        // A wait longer than a day ends early and is made again: the kernel's `epoll_wait`
        // takes its timeout in milliseconds, in an `i32`.
        let timeout = timeout.map(|t| {
            let t = t.min(LONGEST);
            Timespec {
                tv_sec: t.as_secs() as i64,
                tv_nsec: t.subsec_nanos().into(),
            }
        });
        match epoll::wait(&self.poller, spare_capacity(raw), timeout.as_ref()) {
            Ok(_) => {}
            // A signal ended the wait: it found nothing, and the loop comes back.
            Err(rustix::io::Errno::INTR) => return Ok(0),
            Err(err) => return Err(err.into()),
        }
        self.counters.waits.fetch_add(1, Relaxed);
        let mut polling_has_work = false;
        let readied = raw.iter().filter_map(|event| {
            let (flags, data) = (event.flags, event.data);
            if data.u64() == POLLER_KEY {
                polling_has_work = true;
                return None;
            }
            Some(decode(data.u64() as usize, flags))
        });
        let mut delivered = self.dispatch(readied, woken);
        if polling_has_work {
            delivered += self.polling_wait(events, Some(Duration::ZERO), woken)?;
        }
        Ok(delivered)
    }

    /// `polling`'s own wait (which also drains and re-arms its notification).
    fn polling_wait(
        &self,
        events: &mut Events,
        timeout: Option<Duration>,
        woken: &mut Vec<Woken>,
    ) -> io::Result<usize> {
        events.clear();
        self.poller.wait(events, timeout)?;
        self.counters.waits.fetch_add(1, Relaxed);
        let readied = events.iter().map(|event| Readied {
            key: event.key,
            readable: event.readable,
            writable: event.writable,
            hung_up: event.is_interrupt() || event.is_err() == Some(true),
        });
        Ok(self.dispatch(readied, woken))
    }

    /// Hands out the events of one wait: mark each source ready in the directions named, then
    /// take those directions' wakers. Returns how many events there were.
    fn dispatch(&self, readied: impl Iterator<Item = Readied>, woken: &mut Vec<Woken>) -> usize {
        let mut sources = None;
        let mut count = 0;
        for event in readied {
            count += 1;
            let sources = sources.get_or_insert_with(|| self.lock_sources());
            let Some(source) = sources.by_key.get(&event.key) else {
                continue; // The source was dropped after the event was queued.
            };
            // Readiness first, wakers second: see step 3 of the protocol. A hang-up or an
            // error is remembered: a read that drained the socket must not clear readiness
            // after one (`Source::clear_drained`).
            let emptied = source.dispatch(event.readable, event.writable, event.hung_up, woken);
            self.waiting.fetch_sub(emptied, AcqRel);
        }
        if count != 0 {
            self.counters.io_events.fetch_add(count as u64, Relaxed);
        }
        count
    }
}

/// Reads an event as `polling` would: its readable and writable flags, and a hang-up.
fn decode(key: usize, flags: epoll::EventFlags) -> Readied {
    use epoll::EventFlags as Flags;
    Readied {
        key,
        readable: flags.intersects(Flags::IN | Flags::HUP | Flags::ERR | Flags::PRI),
        writable: flags.intersects(Flags::OUT | Flags::HUP | Flags::ERR),
        hung_up: flags.intersects(Flags::HUP | Flags::ERR),
    }
}

#[cfg(all(test, not(nbio_loom)))]
mod tests {
    use std::os::fd::AsRawFd;
    use std::sync::Arc;
    use std::task::{Wake, Waker};
    use std::time::Instant;

    use super::*;
    use crate::reactor::{Direction, Trigger};

    struct Nobody;

    impl Wake for Nobody {
        fn wake(self: Arc<Self>) {}
    }

    fn nobody() -> Waker {
        Waker::from(Arc::new(Nobody))
    }

    /// The latest an `epoll_wait` with timeout `timeout` can end: rounded up to a millisecond,
    /// plus the kernel's largest slack.
    fn latest_end(timeout: Duration) -> Duration {
        let millis = Duration::from_millis(timeout.as_nanos().div_ceil(1_000_000) as u64);
        millis + (millis / 200).max(Duration::from_micros(50))
    }

    #[test]
    fn an_early_epoll_wait_ends_before_its_deadline_however_late_the_kernel_is() {
        assert_eq!(
            early_end(NEAR),
            None,
            "a near deadline gets the exact timer"
        );
        assert_eq!(early_end(Duration::from_micros(300)), None);
        let mut until = NEAR + Duration::from_nanos(1);
        while until < Duration::from_secs(30 * 24 * 60 * 60) {
            let early = early_end(until).expect("a far deadline is waited for by epoll_wait");
            assert!(
                latest_end(early) < until,
                "{early:?} may end after {until:?}"
            );
            until = until * 3 / 2;
        }
        // A far deadline is reached in a few early waits, then one exact wait.
        let (mut until, mut early_waits) = (Duration::from_secs(24 * 60 * 60), 0);
        while let Some(early) = early_end(until) {
            until -= early;
            early_waits += 1;
        }
        assert!(early_waits <= 6, "{early_waits} early waits for a day");
    }

    #[test]
    fn a_blocking_wait_plans_by_its_deadline() {
        assert_eq!(Plan::blocking(None), Plan::Epoll(None));
        assert_eq!(
            Plan::blocking(Some(Duration::ZERO)),
            Plan::Epoll(Some(Duration::ZERO))
        );
        let near = Duration::from_millis(1);
        assert_eq!(Plan::blocking(Some(near)), Plan::Exact(near));
        assert!(matches!(
            Plan::blocking(Some(Duration::from_secs(30))),
            Plan::Epoll(Some(t)) if t < Duration::from_secs(30)
        ));
    }

    #[test]
    fn polling_refuses_the_key_the_reactor_reads_as_its_own() {
        let poller = polling::Poller::new().expect("a poller");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        // SAFETY: the listener outlives the poller; the add is refused, so nothing is left
        // registered (and if it were, it is deleted before the listener is closed).
        let added = unsafe {
            poller.add(
                listener.as_raw_fd(),
                polling::Event::readable(POLLER_KEY as usize),
            )
        };
        if added.is_ok() {
            let _ = poller.delete(&listener);
        }
        assert_eq!(
            added.map_err(|err| err.kind()),
            Err(io::ErrorKind::InvalidInput),
            "polling must keep usize::MAX for itself: wait.rs reads that key as polling's own"
        );
    }

    #[test]
    fn every_notification_ends_a_blocking_wait() {
        let reactor = Reactor::new().expect("a reactor");
        // A far timer, so that a lost notification shows as a wait that lasts seconds
        // instead of a test that hangs.
        reactor.insert_timer(Instant::now() + Duration::from_secs(10), &nobody());
        let (mut events, mut woken) = (Events::new(), Vec::new());
        for round in 0..3 {
            reactor.notify();
            let started = Instant::now();
            reactor.wait(&mut events, &mut woken, true).expect("a wait");
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "notification {round} did not end the wait: polling's notifier was not re-armed"
            );
        }
        // And from another thread, while the wait is blocked.
        std::thread::scope(|scope| {
            let reactor = &reactor;
            scope.spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                reactor.notify();
            });
            let started = Instant::now();
            reactor.wait(&mut events, &mut woken, true).expect("a wait");
            assert!(started.elapsed() < Duration::from_secs(5));
        });
        assert!(woken.is_empty(), "the far timer has not fired");
    }

    #[test]
    fn a_far_timer_fires_on_time_never_before_its_deadline() {
        let reactor = Reactor::new().expect("a reactor");
        let deadline = Instant::now() + Duration::from_millis(30);
        reactor.insert_timer(deadline, &nobody());
        let (mut events, mut woken) = (Events::new(), Vec::new());
        // The first wait is an early `epoll_wait` (`Plan::blocking`), which ends before the
        // deadline unless this thread is kept off the CPU; the timer fires in a later one.
        while woken.is_empty() {
            reactor.wait(&mut events, &mut woken, true).expect("a wait");
            assert!(
                woken.is_empty() || Instant::now() >= deadline,
                "a timer fired early"
            );
        }
        assert_eq!(woken[0].1, Trigger::Timer);
    }

    #[test]
    fn a_wait_takes_socket_events_straight_from_the_poller() {
        let reactor = Reactor::new().expect("a reactor");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let source = reactor.attach(listener.as_raw_fd());
        reactor.register(&source).expect("register");
        let (mut events, mut woken) = (Events::new(), Vec::new());
        assert_eq!(
            reactor.wait(&mut events, &mut woken, false).unwrap(),
            None,
            "nobody waits on a socket: a look does not ask"
        );
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        reactor.insert_timer(Instant::now() + Duration::from_secs(10), &nobody());
        let delivered = reactor.wait(&mut events, &mut woken, true).expect("a wait");
        assert_eq!(delivered, Some(1), "the connection is one event");
        assert!(source.readiness().is_known_ready(Direction::Read));
        assert_eq!(reactor.counters.io_events.load(Relaxed), 1);
        reactor.detach(&source);
    }

    #[test]
    fn a_thread_never_takes_the_events_of_the_thread_that_waits() {
        let reactor = Reactor::new().expect("a reactor");
        reactor.notify();
        let (mut events, mut woken) = (Events::new(), Vec::new());
        {
            let _waiting = reactor.events.lock().expect("the events");
            let delivered = reactor.wait(&mut events, &mut woken, true).expect("a wait");
            assert_eq!(
                delivered, None,
                "another thread waits: this one does not ask"
            );
        }
        let mut fds = [rustix::event::PollFd::new(
            &reactor.poller,
            rustix::event::PollFlags::IN,
        )];
        let pending = rustix::event::poll(&mut fds, Some(&Timespec::default())).expect("poll");
        assert_eq!(
            pending, 1,
            "the notification is left to the thread that waits"
        );
    }
}
