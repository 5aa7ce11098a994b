//! The reactor: the article's `select()` call, grown up.
//!
//! In the article, a task that gets `EAGAIN` yields `('w', sock)`, the loop files it in
//! `fds['w']`, and `select()` later says which sockets are writable so that their tasks can go
//! back into `tasks`. The reactor does the same with three changes:
//!
//! - **epoll instead of select**, through the `polling` crate. The kernel keeps the interest
//!   list, so a wait costs what the ready sockets cost, not what all of them cost. A wait is
//!   one `epoll_wait` on the poller's descriptor (`wait.rs` says why, and when `polling`'s own
//!   wait is made instead).
//! - **Wakers instead of generators.** A source keeps, per direction, the wakers of the tasks
//!   waiting on it; an event wakes them and the executor does the rest.
//! - **Timers.** The wait ends at the earliest timer deadline (a timer descriptor in the
//!   poller fires then), so a sleeping task costs no CPU and no thread, unlike the article's
//!   `time.sleep(0.02)`.
//!
//! # Edge-triggered readiness, and why no wakeup is lost
//!
//! A source is added to the poller once, for both directions, in edge-triggered mode: the
//! poller reports a change (new data, room freed in the send buffer), not a state, and never
//! needs to be told again. What the socket's state *is* lives in the source's readiness word
//! (`source.rs`): a ready bit per direction and a tick that counts events. The protocol:
//!
//! 1. An operation reads the word. If its direction is not ready it waits (step 3) without a
//!    syscall; otherwise it tries the syscall.
//! 2. On `WouldBlock` it clears the direction's bit, but only if the tick has not moved since
//!    it read the word. If an event came in between, the bit stays and the syscall is retried:
//!    the classic lost-wakeup race (readiness arrives between the failed syscall and the
//!    registration of interest) is closed by that one comparison.
//! 3. To wait, it stores its waker under the source's lock, then reads the word again. The
//!    dispatcher sets the bits *before* it takes the wakers under the same lock, so either the
//!    second read sees the new readiness, or the dispatcher finds the waker.
//!
//! A spurious wake only costs the task one retried syscall. This replaced oneshot mode, which
//! re-armed interest with an `epoll_ctl` after every event: measured on the echo workload, that
//! was 208,000 of 820,000 syscalls.
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

use polling::{Event, PollMode, Poller};

mod clock;
#[cfg(all(test, nbio_loom))]
mod loom_tests;
mod source;
mod timers;
mod wait;

use source::Waiters;
pub(crate) use source::{Direction, Readiness, Source};
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
    /// What timers are measured against: real time, or the runtime's virtual clock.
    clock: clock::Clock,
    sources: Mutex<SourceMap>,
    timers: Mutex<Timers>,
    /// What the thread that reads the poller's events keeps; holding its lock is the right to
    /// read them (`wait.rs`).
    events: Mutex<wait::EventReader>,
    /// The timer that ends a wait at the earliest deadline (`None` if the system has none).
    timer: Option<wait::DeadlineTimer>,
    /// How many (source, direction) pairs have a task waiting. When it is zero, a non-blocking
    /// look has no one to wake and skips the syscall; events wait in the poller meanwhile.
    waiting: AtomicUsize,
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
    /// Reads and writes that had to wait for readiness: a `WouldBlock`, or a short write.
    pub(crate) would_block: AtomicU64,
    /// The part of `would_block` that were short writes.
    pub(crate) short_writes: AtomicU64,
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
    /// A reactor on real time.
    pub(crate) fn new() -> io::Result<Reactor> {
        Reactor::with_clock(false)
    }

    /// A reactor on real time, or on a virtual clock (see `clock.rs`).
    pub(crate) fn with_clock(virtual_time: bool) -> io::Result<Reactor> {
        let poller = Poller::new()?;
        Ok(Reactor {
            timer: wait::DeadlineTimer::new(&poller),
            poller,
            clock: clock::Clock::new(virtual_time),
            sources: Mutex::default(),
            timers: Mutex::default(),
            events: Mutex::default(),
            waiting: AtomicUsize::new(0),
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
            let mut waiters = source.lock();
            if waiters.added {
                // SAFETY: `open` is still true and we hold the lock, so the owner has not
                // closed the fd yet (it closes it only after this call returns).
                let fd = unsafe { BorrowedFd::borrow_raw(source.fd) };
                // Failure means the fd is already gone from the poller; nothing to undo.
                let _ = self.poller.delete(fd);
            }
            waiters.open = false;
            self.take_waiters(source, &mut waiters)
        };
        self.lock_sources().by_key.remove(&source.key);
        drop(waiters);
    }

    /// Waits until the readiness word says `dir` may be ready (at once if it already does).
    /// With `trust_guess`, a new socket's guess counts (the caller only wants to know whether a
    /// syscall is worth trying); without, only the kernel's word does (`readable()`), and a
    /// socket not yet added to the poller is added first.
    ///
    /// Stores the waker, then looks at the word again: see step 3 of the protocol above.
    pub(crate) fn poll_ready(
        &self,
        source: &Source,
        dir: Direction,
        trust_guess: bool,
        cx: &mut Context<'_>,
        filed: &mut Option<Waker>,
    ) -> Poll<io::Result<()>> {
        let readiness = source.readiness();
        if readiness.is_known_ready(dir) || (trust_guess && readiness.is_ready(dir)) {
            return Poll::Ready(Ok(()));
        }
        if self.shut_down.load(Acquire) {
            return Poll::Ready(Err(shut_down_error()));
        }
        let outcome = source.file_and_look(dir, cx.waker(), |waiters| {
            if !waiters.open {
                return Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the socket is being closed",
                ));
            }
            if !waiters.added {
                source.start_reporting();
                self.add(source)?;
                waiters.added = true;
            }
            Ok(())
        });
        match outcome {
            Err(err) => Poll::Ready(Err(err)),
            Ok((first, ready_now)) => {
                if first {
                    self.waiting.fetch_add(1, AcqRel);
                }
                if !filed.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *filed = Some(cx.waker().clone());
                }
                // Ready now: an event came while we filed. The waker stays filed; a later wake
                // of it is merely spurious.
                if ready_now {
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Pending
                }
            }
        }
    }

    /// Adds `source` to the poller now, if it is not already: what `poll_ready` does at the
    /// first wait, done up front so that a descriptor the poller refuses fails at once.
    pub(crate) fn register(&self, source: &Source) -> io::Result<()> {
        let mut waiters = source.lock();
        if !waiters.open {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the descriptor is being closed",
            ));
        }
        if !waiters.added {
            source.start_reporting();
            self.add(source)?;
            waiters.added = true;
        }
        Ok(())
    }

    /// Takes back a waker filed for `dir` (the operation that filed it is gone).
    pub(crate) fn unfile(&self, source: &Source, dir: Direction, waker: &Waker) {
        let taken = source.lock().unfile(dir, waker);
        if taken {
            self.waiting.fetch_sub(1, AcqRel);
        }
    }

    /// How many (socket, direction) pairs have a task waiting on them.
    pub(crate) fn waiters(&self) -> usize {
        self.waiting.load(Acquire)
    }

    /// Adds `source` to the poller, both directions, edge-triggered. Called once, with its lock
    /// held and `open` true.
    fn add(&self, source: &Source) -> io::Result<()> {
        // SAFETY: polling requires the fd to be deleted from the poller before it is closed.
        // The owner of every source calls `detach` (which deletes it, as `added` tells it to)
        // before closing the fd.
        unsafe {
            self.poller
                .add_with_mode(source.fd, Event::all(source.key), PollMode::Edge)
        }
    }

    /// Takes every waiter of a source (to drop or to wake).
    fn take_waiters(&self, source: &Source, waiters: &mut Waiters) -> Vec<Woken> {
        let mut taken = Vec::new();
        for dir in Direction::BOTH {
            if waiters.take(dir, source.fd, &mut taken) {
                self.waiting.fetch_sub(1, AcqRel);
            }
        }
        taken
    }

    /// Moves the wakers of every due timer into `woken`.
    fn fire_timers(&self, woken: &mut Vec<Woken>) {
        let mut timers = self.lock_timers();
        if timers.len() == 0 {
            return;
        }
        let fired = timers.fire(self.clock.now(), woken);
        self.counters.timers_fired.fetch_add(fired as u64, Relaxed);
    }

    /// Adds a timer that wakes `waker` at `deadline`; returns its id. If another thread is
    /// blocked in this reactor until a later deadline (or none), its wait is cut short, so that
    /// it can wait again until this one.
    pub(crate) fn insert_timer(&self, deadline: Instant, waker: &Waker) -> u64 {
        let (id, cut_short) = self.lock_timers().insert(deadline, waker);
        if cut_short {
            self.notify();
        }
        id
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

    /// Now, by this reactor's clock.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Whether this reactor runs on a virtual clock.
    pub(crate) fn is_virtual(&self) -> bool {
        self.clock.is_virtual()
    }

    /// On a virtual clock: moves it forward by `by` and collects the wakers of the timers that
    /// fall due, into `woken`. Returns how many fired.
    pub(crate) fn advance_clock(&self, by: Duration, woken: &mut Vec<Woken>) -> usize {
        self.clock.advance(by);
        let before = woken.len();
        self.fire_timers(woken);
        woken.len() - before
    }

    /// On a virtual clock, with nothing else to do: moves it to the earliest deadline and
    /// collects the wakers of what falls due then. False if no timer is pending.
    pub(crate) fn jump_to_next_timer(&self, woken: &mut Vec<Woken>) -> bool {
        let Some(deadline) = self.lock_timers().next_deadline() else {
            return false;
        };
        self.clock.advance_to(deadline);
        self.fire_timers(woken);
        true
    }

    /// Counts an operation that must wait for readiness (`short`: after a short write).
    pub(crate) fn count_wait(&self, short: bool) {
        self.counters.would_block.fetch_add(1, Relaxed);
        if short {
            self.counters.short_writes.fetch_add(1, Relaxed);
        }
    }

    /// Whether any task waits on a socket of this reactor.
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiting.load(Acquire) != 0
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
            let mut waiters = source.lock();
            woken.append(&mut self.take_waiters(&source, &mut waiters));
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

impl Drop for Reactor {
    fn drop(&mut self) {
        if let Some(timer) = &self.timer {
            timer.remove(&self.poller);
        }
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
