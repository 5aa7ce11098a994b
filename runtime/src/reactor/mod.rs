//! The reactor: the article's `select()` call, grown up.
//!
//! In the article, a task that gets `EAGAIN` yields `('w', sock)`, the loop files it in
//! `fds['w']`, and `select()` later says which sockets are writable so that their tasks can go
//! back into `tasks`. The reactor does the same with three changes:
//!
//! - **epoll instead of select**, through the `polling` crate. The kernel keeps the interest
//!   list, so a wait costs what the ready sockets cost, not what all of them cost.
//! - **Wakers instead of generators.** A source keeps, per direction, the wakers of the tasks
//!   waiting on it; an event wakes them and the executor does the rest.
//! - **Timers.** The wait ends at the earliest timer deadline, so a sleeping task costs no CPU
//!   and no thread, unlike the article's `time.sleep(0.02)`.
//!
//! # Oneshot interest, and why no wakeup is lost
//!
//! Sources are registered in oneshot mode: after one event the poller stops reporting the fd
//! until interest is registered again. A direction is *armed* while its interest is registered
//! and has not fired. The protocol, all under the source's lock:
//!
//! 1. A task's syscall fails with `WouldBlock`. It stores its waker, and if the direction is
//!    not armed it arms it with `epoll_ctl`. The kernel checks readiness *when interest is
//!    registered*, so if the socket became ready between the failed syscall and now, the event
//!    is reported at once. That is the whole answer to the classic lost-wakeup race.
//! 2. If the direction was already armed, its event has not been handed out yet: the
//!    dispatcher disarms a direction under the same lock before it takes the wakers, so the
//!    waker just stored is taken with the others.
//! 3. When an event arrives, the dispatcher disarms the directions it names, counts a *tick*
//!    for each, takes their wakers, and re-arms any other direction that still has waiters
//!    (oneshot disabled the whole fd).
//!
//! A spurious wake only costs the task one retried syscall and a new registration.
//!
//! # File descriptor lifecycle
//!
//! Every poller call that names an fd is made under the source's lock while `open` is true;
//! the owner clears `open` and deletes the fd from the poller under that lock before it closes
//! the fd. So no call reaches a closed fd, nor a reused fd number that now belongs to someone
//! else. Keys are never reused either: an event already on its way for a dropped source finds
//! no source under its key and is ignored.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::mem;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};

mod source;
mod timers;

use source::SourceState;
pub(crate) use source::{Direction, Source};
use timers::Timers;

/// What made the reactor hand out a waker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// `fd` became ready in direction `dir`.
    Io { fd: RawFd, dir: Direction },
    /// A timer reached its deadline.
    Timer,
}

/// A waker the reactor hands out, with what triggered it.
pub(crate) type Woken = (Waker, Trigger);

/// One runtime's poller, its registered sources and its timers. Shared (in an `Arc`) by the
/// runtime, by every socket registered with it and by every pending timer, so that any of them
/// can be dropped on any thread.
pub(crate) struct Reactor {
    poller: Poller,
    sources: Mutex<SourceMap>,
    timers: Mutex<Timers>,
    /// How many directions are armed across all sources. When it is zero, a non-blocking check
    /// has nothing to learn from the poller and skips the syscall.
    armed: AtomicUsize,
    /// Set when the runtime is dropped: waiting on a socket of a dead runtime is an error.
    shut_down: AtomicBool,
    /// Exact counts for `Stats`.
    pub(crate) counters: ReactorCounters,
}

/// What the reactor counts.
#[derive(Default)]
pub(crate) struct ReactorCounters {
    /// Calls into the poller's wait, blocking or not.
    pub(crate) waits: AtomicU64,
    /// Readiness events delivered by the poller.
    pub(crate) io_events: AtomicU64,
    /// Reads and writes that hit `WouldBlock` and had to wait.
    pub(crate) would_block: AtomicU64,
    /// Timers that reached their deadline.
    pub(crate) timers_fired: AtomicU64,
}

/// Sources by key.
#[derive(Default)]
struct SourceMap {
    by_key: HashMap<usize, Arc<Source>, BuildHasherDefault<KeyHasher>>,
    next_key: usize,
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            poller: Poller::new()?,
            sources: Mutex::default(),
            timers: Mutex::default(),
            armed: AtomicUsize::new(0),
            shut_down: AtomicBool::new(false),
            counters: ReactorCounters::default(),
        })
    }

    /// Interrupts the current (or the next) wait, from any thread.
    pub(crate) fn notify(&self) {
        // The only failure is a full eventfd counter, which still means "notified".
        let _ = self.poller.notify();
    }

    /// Files `fd` under a fresh key. The fd reaches the poller only when a task first waits.
    pub(crate) fn attach(&self, fd: RawFd) -> Arc<Source> {
        let mut map = self.lock_sources();
        let key = map.next_key;
        map.next_key += 1;
        let source = Arc::new(Source::new(key, fd));
        map.by_key.insert(key, Arc::clone(&source));
        source
    }

    /// Forgets `source`: deletes its fd from the poller and drops its waiters. The owner calls
    /// this before closing the fd.
    pub(crate) fn detach(&self, source: &Source) {
        let waiters = {
            let mut state = source.lock();
            if state.added {
                // SAFETY: `open` is still true and we hold the lock, so the owner has not
                // closed the fd yet (it closes it only after this call returns).
                let fd = unsafe { BorrowedFd::borrow_raw(source.fd) };
                // Failure means the fd is already gone from the poller; nothing to undo.
                let _ = self.poller.delete(fd);
            }
            state.open = false;
            self.disarm_all(source, &mut state)
        };
        self.lock_sources().by_key.remove(&source.key);
        drop(waiters);
    }

    /// Waits until `source` is ready in direction `dir`.
    ///
    /// With `seen == None` this registers the task and returns `Pending` (the caller's syscall
    /// just failed with `WouldBlock`). With `seen == Some(tick)`, from an earlier call, it
    /// returns `Ready` once an event has come since then, and re-registers otherwise, so a
    /// spurious wake is told apart from readiness.
    pub(crate) fn poll_ready(
        &self,
        source: &Source,
        dir: Direction,
        cx: &mut Context<'_>,
        seen: &mut Option<u64>,
    ) -> Poll<io::Result<()>> {
        if self.shut_down.load(Acquire) {
            return Poll::Ready(Err(shut_down_error()));
        }
        let mut state = source.lock();
        if !state.open {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the socket is being closed",
            )));
        }
        let direction = &mut state.directions[dir as usize];
        if let Some(tick) = *seen {
            if direction.tick != tick {
                *seen = None;
                return Poll::Ready(Ok(()));
            }
        }
        direction.add_waker(cx.waker());
        *seen = Some(direction.tick);
        if !direction.armed {
            direction.armed = true;
            if let Err(err) = self.register_interest(source, &mut state) {
                let direction = &mut state.directions[dir as usize];
                direction.armed = false;
                direction.wakers.retain(|w| !w.will_wake(cx.waker()));
                *seen = None;
                return Poll::Ready(Err(err));
            }
            self.armed.fetch_add(1, Release);
        }
        Poll::Pending
    }

    /// Tells the poller which directions of `source` are armed. Called with its lock held.
    fn register_interest(&self, source: &Source, state: &mut SourceState) -> io::Result<()> {
        debug_assert!(state.open, "poller call on a source that is being closed");
        let interest = Event::new(
            source.key,
            state.directions[Direction::Read as usize].armed,
            state.directions[Direction::Write as usize].armed,
        );
        if state.added {
            // SAFETY: `open` holds under the lock we hold, so the fd is open.
            let fd = unsafe { BorrowedFd::borrow_raw(source.fd) };
            self.poller.modify(fd, interest)
        } else {
            // SAFETY: polling requires the fd to be deleted from the poller before it is
            // closed. The owner of every source calls `detach` (which deletes it) before
            // closing the fd, and `added` tells `detach` that there is something to delete.
            unsafe { self.poller.add(source.fd, interest)? };
            state.added = true;
            Ok(())
        }
    }

    /// Disarms every direction of a source and takes its waiters (to drop or to wake).
    fn disarm_all(&self, source: &Source, state: &mut SourceState) -> Vec<Woken> {
        let mut waiters = Vec::new();
        for dir in Direction::BOTH {
            let direction = &mut state.directions[dir as usize];
            if mem::take(&mut direction.armed) {
                self.armed.fetch_sub(1, AcqRel);
            }
            let trigger = Trigger::Io { fd: source.fd, dir };
            waiters.extend(direction.wakers.drain(..).map(|waker| (waker, trigger)));
        }
        waiters
    }

    /// Waits for readiness events and due timers, and collects the wakers to wake in `woken`.
    ///
    /// With `block`, waits until an event, a notification or the earliest timer deadline;
    /// without, only looks. The caller wakes `woken` once it holds no borrow the wakes need.
    /// Returns how many events the poller gave, or `None` if it was not asked (a look with
    /// nothing armed has nothing to learn from it).
    pub(crate) fn wait(
        &self,
        events: &mut Events,
        woken: &mut Vec<Woken>,
        block: bool,
    ) -> io::Result<Option<usize>> {
        let timeout = if block {
            self.lock_timers()
                .next_deadline()
                .map(|deadline| deadline.saturating_duration_since(Instant::now()))
        } else {
            Some(Duration::ZERO)
        };
        let mut delivered = None;
        if block || self.armed.load(Acquire) != 0 {
            events.clear();
            delivered = Some(self.poller.wait(events, timeout)?);
            self.counters.waits.fetch_add(1, Relaxed);
            self.dispatch(events, woken);
        }
        self.fire_timers(woken);
        Ok(delivered)
    }

    /// Hands out the events of one wait: for each ready direction, disarm it, count a tick,
    /// and take its wakers; then re-arm what oneshot switched off but is still waited on.
    fn dispatch(&self, events: &Events, woken: &mut Vec<Woken>) {
        if events.is_empty() {
            return;
        }
        self.counters
            .io_events
            .fetch_add(events.len() as u64, Relaxed);
        let sources = self.lock_sources();
        for event in events.iter() {
            let Some(source) = sources.by_key.get(&event.key) else {
                continue; // The source was dropped after the event was queued.
            };
            let mut state = source.lock();
            if !state.open {
                continue;
            }
            for dir in Direction::BOTH {
                let ready = match dir {
                    Direction::Read => event.readable,
                    Direction::Write => event.writable,
                };
                let direction = &mut state.directions[dir as usize];
                if ready && direction.armed {
                    direction.armed = false;
                    direction.tick += 1;
                    let trigger = Trigger::Io { fd: source.fd, dir };
                    woken.extend(direction.wakers.drain(..).map(|waker| (waker, trigger)));
                    self.armed.fetch_sub(1, AcqRel);
                }
            }
            let still_waited_on = state.directions.iter().any(|d| d.armed);
            if still_waited_on && self.register_interest(source, &mut state).is_err() {
                // Cannot re-arm: wake the remaining waiters, whose retried syscall will
                // report what is wrong with the socket.
                woken.append(&mut self.disarm_all(source, &mut state));
            }
        }
    }

    /// Moves the wakers of every due timer into `woken`.
    fn fire_timers(&self, woken: &mut Vec<Woken>) {
        let mut timers = self.lock_timers();
        if timers.len() == 0 {
            return;
        }
        let fired = timers.fire(Instant::now(), woken);
        self.counters.timers_fired.fetch_add(fired as u64, Relaxed);
    }

    /// Adds a timer that wakes `waker` at `deadline`; returns its id.
    pub(crate) fn insert_timer(&self, deadline: Instant, waker: &Waker) -> u64 {
        self.lock_timers().insert(deadline, waker)
    }

    /// Points a pending timer at a new waker; false if it already fired.
    pub(crate) fn update_timer(&self, deadline: Instant, id: u64, waker: &Waker) -> bool {
        self.lock_timers().update(deadline, id, waker)
    }

    /// Cancels a timer (a no-op if it already fired).
    pub(crate) fn remove_timer(&self, deadline: Instant, id: u64) {
        let waker = self.lock_timers().remove(deadline, id);
        drop(waker); // outside the lock
    }

    /// How many timers are pending.
    pub(crate) fn pending_timers(&self) -> usize {
        self.lock_timers().len()
    }

    /// Adds a `WouldBlock` to the counters.
    pub(crate) fn count_would_block(&self) {
        self.counters.would_block.fetch_add(1, Relaxed);
    }

    /// Whether any task waits on a socket of this reactor.
    pub(crate) fn has_waiters(&self) -> bool {
        self.armed.load(Acquire) != 0
    }

    /// The runtime is being dropped: drop every timer and wake every task still waiting on a
    /// socket (tasks of other runtimes, by now), so that their next attempt reports the error
    /// instead of waiting forever.
    pub(crate) fn shutdown(&self) {
        self.shut_down.store(true, Release);
        let timers = mem::take(&mut *self.lock_timers());
        drop(timers);
        let sources: Vec<Arc<Source>> = self.lock_sources().by_key.values().cloned().collect();
        let mut woken = Vec::new();
        for source in sources {
            let mut state = source.lock();
            woken.append(&mut self.disarm_all(&source, &mut state));
        }
        woken.into_iter().for_each(|(waker, _)| waker.wake());
    }

    fn lock_sources(&self) -> MutexGuard<'_, SourceMap> {
        // Every update of the map is a single insert or remove: poisoning cannot break it.
        self.sources.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_timers(&self) -> MutexGuard<'_, Timers> {
        // As above: each timer operation is a single map update.
        self.timers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The error for using a socket after the runtime it is registered with was dropped.
fn shut_down_error() -> io::Error {
    io::Error::other(
        "the nbio runtime this socket was registered with has been dropped; \
         use a socket only while the runtime that first waited on it is alive",
    )
}

/// A hasher for source keys, which are consecutive integers: one multiplication spreads them
/// over the table (SipHash would be wasted work on keys nobody chooses adversarially).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, key: usize) {
        self.0 = (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
