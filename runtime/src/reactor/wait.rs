//! One wait in the reactor: the article's `select()` call, and what it costs.
//!
//! `polling`'s own wait makes five system calls: it arms its timer descriptor for the timeout
//! (`timerfd_settime` and an `epoll_ctl`), calls `epoll_wait`, then drains and re-arms its
//! notification descriptor (a `read` and an `epoll_ctl`), whether or not anything was notified
//! and whether or not the timeout changed. Most waits need none of that: a look between tasks
//! has a zero timeout, a loop with no timer pending has none, and a server's pending timers are
//! mostly far-off timeouts that stay the earliest for many waits in a row. So the reactor
//! reads the poller's events itself, with one `epoll_wait` on the poller's own descriptor, and
//! keeps a timer descriptor of its own in the poller:
//!
//! - **The timer** ([`DeadlineTimer`]) fires at the earliest deadline, to the nanosecond (the
//!   kernel's timer slack, which delays a `ppoll`, an `epoll_wait` timeout or a
//!   `thread::sleep` by 50 µs or more, does not apply to a timer descriptor). It is armed only
//!   when the earliest deadline changes: one `timerfd_settime` for a `sleep`, none for a wait
//!   whose deadline was already armed.
//! - **A notification** from another thread comes as an event under the key `polling` reserves
//!   for itself (`usize::MAX`: `Poller::add` refuses it). `polling` arms its notification
//!   descriptor for one event at a time and sends no second notification before its wait has
//!   drained the first, so when the reactor sees that key it makes a `polling` wait with a zero
//!   timeout, which drains and re-arms it (and collects anything else ready). A notification is
//!   never lost: it either ends an `epoll_wait` of the reactor's, which hands it to `polling`,
//!   or is still pending for the next one.
//!
//! Only one thread reads the poller's events at a time (the reactor's `events` lock, taken
//! with `try_lock`, as `polling` guards its own wait): a thread that finds it taken looks no
//! further, so a look can never take a notification meant for the thread blocked in the wait.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::TryLockError;
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};
use rustix::buffer::spare_capacity;
use rustix::event::{epoll, Timespec};
use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags};

use super::{Reactor, Woken};

/// The key `polling` keeps for its own descriptors (its notification and its timer):
/// `Poller::add` refuses it, so no source of ours has it.
const POLLER_KEY: u64 = usize::MAX as u64;

/// The key of the reactor's timer descriptor. Source keys count up from zero and never reach
/// it.
const TIMER_KEY: usize = usize::MAX - 1;

/// How many events one `epoll_wait` takes (the rest wait for the next).
const BATCH: usize = 1024;

/// The longest timeout of one `epoll_wait` (only without a timer descriptor): the kernel takes
/// it in milliseconds, in an `i32`. A longer wait ends early and is made again.
const LONGEST: Duration = Duration::from_secs(24 * 60 * 60);

/// What the thread that reads the poller's events keeps between waits (the reactor's lock on
/// it is the right to read them).
#[derive(Default)]
pub(super) struct EventReader {
    /// The poller's events, as the kernel reports them.
    buffer: Vec<epoll::Event>,
    /// The deadline the timer descriptor is armed for, until it fires.
    armed: Option<Instant>,
}

// SAFETY: an `epoll::Event` is not `Send` only because its data may be read as a pointer. The
// data of every event here is a key (an integer) put there by `Poller::add`, never read as a
// pointer, so the buffer may move between threads like any vector of integers.
unsafe impl Send for EventReader {}

/// A timer descriptor in the poller, that ends a wait at the earliest deadline.
pub(super) struct DeadlineTimer {
    fd: OwnedFd,
}

impl DeadlineTimer {
    /// A timer descriptor on the monotonic clock (the clock `Instant` reads), added to
    /// `poller`. `None` if the system refuses one: waits then end by `epoll_wait`'s timeout,
    /// to the millisecond.
    pub(super) fn new(poller: &Poller) -> Option<DeadlineTimer> {
        let flags = TimerfdFlags::CLOEXEC | TimerfdFlags::NONBLOCK;
        let fd = rustix::time::timerfd_create(TimerfdClockId::Monotonic, flags).ok()?;
        // SAFETY: the descriptor is deleted from the poller before it is closed: by
        // `DeadlineTimer::remove`, which the reactor's `Drop` calls, or just below.
        let added = unsafe {
            poller.add_with_mode(fd.as_raw_fd(), Event::readable(TIMER_KEY), PollMode::Edge)
        };
        added.ok().map(|()| DeadlineTimer { fd })
    }

    /// Arms the timer to fire `after` from now (a zero `after` would disarm it: the caller
    /// never asks for that).
    fn arm(&self, after: Duration) -> io::Result<()> {
        let zero = Timespec::default();
        let value = Itimerspec {
            it_interval: zero,
            it_value: Timespec {
                tv_sec: after.as_secs().try_into().unwrap_or(i64::MAX),
                tv_nsec: after.subsec_nanos().into(),
            },
        };
        rustix::time::timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &value)?;
        Ok(())
    }

    /// Deletes the descriptor from `poller` (before it is closed).
    pub(super) fn remove(&self, poller: &Poller) {
        // Failure means it is already gone from the poller; nothing to undo.
        let _ = poller.delete(self.fd.as_fd());
    }
}

/// One readiness event, decoded.
struct Readied {
    key: usize,
    readable: bool,
    writable: bool,
    /// A hang-up or an error: see `Source::clear_drained`.
    hung_up: bool,
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
            Ok(mut reader) => self.wait_with(&mut reader, events, woken, block),
            Err(TryLockError::Poisoned(poisoned)) => {
                // Every wait refills the buffer and `armed` is set only after the timer is:
                // a panic cannot leave them inconsistent.
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
        reader: &mut EventReader,
        events: &mut Events,
        woken: &mut Vec<Woken>,
        block: bool,
    ) -> io::Result<Option<usize>> {
        if !block {
            if self.waiting.load(Acquire) == 0 {
                return Ok(None);
            }
            return self
                .epoll_wait(reader, events, Some(Duration::ZERO), woken)
                .map(Some);
        }
        let delivered = match self.timeout(reader) {
            Ok(timeout) => self.epoll_wait(reader, events, timeout, woken),
            Err(err) => Err(err),
        };
        self.lock_timers().blocked_until = None;
        delivered.map(Some)
    }

    /// The timeout of a blocking wait's `epoll_wait`, arming the timer for the earliest
    /// deadline if it is not armed for it already; tells the timers until when the wait may
    /// block.
    fn timeout(&self, reader: &mut EventReader) -> io::Result<Option<Duration>> {
        let mut timers = self.lock_timers();
        // On a virtual clock a blocking wait waits for events only: the loop moves the clock
        // to the next deadline itself, when nothing else can happen.
        let deadline = timers.next_deadline().filter(|_| !self.clock.is_virtual());
        timers.blocked_until = Some(deadline);
        drop(timers);
        let Some(deadline) = deadline else {
            return Ok(None);
        };
        let after = deadline.saturating_duration_since(self.clock.now());
        match &self.timer {
            _ if after.is_zero() => Ok(Some(Duration::ZERO)),
            Some(timer) => {
                if reader.armed != Some(deadline) {
                    timer.arm(after)?;
                    reader.armed = Some(deadline);
                }
                Ok(None)
            }
            None => Ok(Some(after.min(LONGEST))),
        }
    }

    /// One `epoll_wait` on the poller's descriptor; if it brought `polling`'s own event (a
    /// notification), a zero-timeout `polling` wait after it, to drain and re-arm it.
    fn epoll_wait(
        &self,
        reader: &mut EventReader,
        events: &mut Events,
        timeout: Option<Duration>,
        woken: &mut Vec<Woken>,
    ) -> io::Result<usize> {
        let buffer = &mut reader.buffer;
        buffer.clear();
        if buffer.capacity() < BATCH {
            buffer.reserve_exact(BATCH);
        }
        let timeout = timeout.map(|t| Timespec {
            tv_sec: t.as_secs() as i64,
            tv_nsec: t.subsec_nanos().into(),
        });
        match epoll::wait(&self.poller, spare_capacity(buffer), timeout.as_ref()) {
            Ok(_) => {}
            // A signal ended the wait: it found nothing, and the loop comes back.
            Err(rustix::io::Errno::INTR) => return Ok(0),
            Err(err) => return Err(err.into()),
        }
        self.counters.waits.fetch_add(1, Relaxed);
        let (mut polling_has_work, mut timer_fired) = (false, false);
        let readied = buffer.iter().filter_map(|event| {
            let (flags, key) = (event.flags, event.data.u64());
            match key {
                POLLER_KEY => polling_has_work = true,
                _ if key == TIMER_KEY as u64 => timer_fired = true,
                _ => return Some(decode(key as usize, flags)),
            }
            None
        });
        let mut delivered = self.dispatch(readied, woken);
        if timer_fired {
            reader.armed = None;
        }
        if polling_has_work {
            delivered += self.polling_wait(reader, events, woken)?;
        }
        Ok(delivered)
    }

    /// `polling`'s own wait, with a zero timeout: drains and re-arms its notification.
    fn polling_wait(
        &self,
        reader: &mut EventReader,
        events: &mut Events,
        woken: &mut Vec<Woken>,
    ) -> io::Result<usize> {
        events.clear();
        self.poller.wait(events, Some(Duration::ZERO))?;
        let mut timer_fired = false;
        let readied = events.iter().filter_map(|event| {
            if event.key == TIMER_KEY {
                timer_fired = true;
                return None;
            }
            Some(Readied {
                key: event.key,
                readable: event.readable,
                writable: event.writable,
                hung_up: event.is_interrupt() || event.is_err() == Some(true),
            })
        });
        let delivered = self.dispatch(readied, woken);
        if timer_fired {
            reader.armed = None;
        }
        Ok(delivered)
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

    #[test]
    fn the_timer_stays_armed_for_its_deadline_and_is_spent_when_it_fires() {
        let reactor = Reactor::new().expect("a reactor");
        assert!(reactor.timer.is_some(), "Linux has timer descriptors");
        let (mut events, mut woken) = (Events::new(), Vec::new());
        // A far timer, and notifications that end the waits early: the timer is armed for
        // its deadline by the first wait and still is after the second.
        let far = Instant::now() + Duration::from_secs(10);
        reactor.insert_timer(far, &nobody());
        for _ in 0..2 {
            reactor.notify();
            reactor.wait(&mut events, &mut woken, true).expect("a wait");
            assert_eq!(reactor.events.lock().unwrap().armed, Some(far));
        }
        let near = Instant::now() + Duration::from_millis(20);
        reactor.insert_timer(near, &nobody());
        while woken.is_empty() {
            reactor.wait(&mut events, &mut woken, true).expect("a wait");
            assert!(
                woken.is_empty() || Instant::now() >= near,
                "a timer fired early"
            );
        }
        assert_eq!(woken[0].1, Trigger::Timer);
        let armed = reactor.events.lock().unwrap().armed;
        assert_ne!(
            armed,
            Some(near),
            "a timer that fired is not armed any more"
        );
    }

    #[test]
    fn an_earlier_timer_rearms_and_a_due_one_does_not_wait() {
        let reactor = Reactor::new().expect("a reactor");
        let (mut events, mut woken) = (Events::new(), Vec::new());
        let far = Instant::now() + Duration::from_secs(10);
        reactor.insert_timer(far, &nobody());
        reactor.notify();
        reactor.wait(&mut events, &mut woken, true).expect("a wait");
        assert_eq!(reactor.events.lock().unwrap().armed, Some(far));
        let near = Instant::now() + Duration::from_millis(5);
        reactor.insert_timer(near, &nobody());
        let started = Instant::now();
        while woken.is_empty() {
            reactor.wait(&mut events, &mut woken, true).expect("a wait");
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the earlier deadline re-armed it"
        );
        assert_eq!(woken.len(), 1, "only the near timer fired");
        // A deadline already past: the wait only looks.
        reactor.insert_timer(Instant::now(), &nobody());
        reactor.wait(&mut events, &mut woken, true).expect("a wait");
        assert_eq!(woken.len(), 2);
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
