//! A source: one file descriptor the reactor watches, what the reactor knows of its readiness,
//! and who waits on it in each direction.
//!
//! The article keeps `fds = dict(w={}, r={})`: for each direction, which generator waits on
//! which socket. A `Source` is one socket's row of that table, plus what the article's loop
//! never needed: a lock (a socket may be used from several threads), and a *readiness word*
//! that remembers what the poller reported, so that a task can tell "ready, go ahead" from
//! "not ready, wait" without a syscall.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::{AcqRel, Acquire};
use std::sync::PoisonError;
use std::task::Waker;

use super::{Trigger, Woken};
use crate::loom::{AtomicU64, Mutex, MutexGuard};

/// Which way a task waits on a source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Waiting for data (or a connection, or end of stream) to read.
    Read = 0,
    /// Waiting for room to write (or for a connect to finish).
    Write = 1,
}

impl Direction {
    /// Both directions, in index order.
    pub(crate) const BOTH: [Direction; 2] = [Direction::Read, Direction::Write];

    fn ready_bit(self) -> u64 {
        1 << (self as u32)
    }
}

/// The readiness word: bit 0 "may be readable", bit 1 "may be writable", bit 2 "the poller
/// reports on this source" (`KNOWN`), bit 3 "the poller reported a hang-up or an error"
/// (`HUNG_UP`: a reset, or both halves closed; it never goes away), and from bit 4 up a count
/// of the events the poller delivered (the *tick*).
///
/// A bit is set by every event in its direction and cleared by an attempt that got
/// `WouldBlock` (or, for writes, took less than it was offered), but only if no event came
/// since the attempt began (same tick). That condition is what makes the edge-triggered poller
/// safe: an event that arrives between a failed syscall and the clearing is never wiped out by
/// it.
///
/// Until the source is added to the poller, both ready bits are a *guess*: a socket that never
/// had to wait is assumed ready, so that plain reads and writes try the syscall at once and a
/// socket that never waits costs no poller call. The guess is good enough to try a syscall,
/// never to answer `readable()`: that waits until `KNOWN`, set (with both bits cleared) just
/// before the source is added, after which every bit is the kernel's word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Readiness(u64);

const KNOWN: u64 = 1 << 2;
const HUNG_UP: u64 = 1 << 3;
const TICK_ONE: u64 = 1 << 4;
const READY_BOTH: u64 = 0b11;

impl Readiness {
    /// What an unregistered socket is assumed to be: ready both ways, until a syscall says no.
    pub(crate) const UNKNOWN: Readiness = Readiness(READY_BOTH);

    /// Whether `dir` may be ready: the next syscall in that direction is worth trying.
    pub(crate) fn is_ready(self, dir: Direction) -> bool {
        self.0 & dir.ready_bit() != 0
    }

    /// Whether the kernel said `dir` is ready (not merely a new socket's guess).
    pub(crate) fn is_known_ready(self, dir: Direction) -> bool {
        self.is_ready(dir) && self.0 & KNOWN != 0
    }

    fn tick(self) -> u64 {
        self.0 / TICK_ONE
    }
}

/// One registered file descriptor.
pub(crate) struct Source {
    /// The key it is filed under in the reactor and in the poller's events. Keys are never
    /// reused, so an event that was already in flight when the source went away finds nothing.
    pub(crate) key: usize,
    /// The file descriptor. Only named in poller calls while `Waiters::open` holds.
    pub(crate) fd: RawFd,
    readiness: AtomicU64,
    waiters: Mutex<Waiters>,
}

/// What the lock of a source protects.
pub(crate) struct Waiters {
    /// Cleared (under this lock) before the owner closes the fd. Every poller call that names
    /// the fd happens under this lock while `open` is true, so none can reach a closed fd, or
    /// a reused fd number that belongs to someone else.
    pub(crate) open: bool,
    /// Whether the fd has been added to the poller. Registration waits until the first time a
    /// task has to wait: a socket that never blocks costs no poller calls at all.
    pub(crate) added: bool,
    /// Who to wake at the next event, per direction. Usually one task; more when several
    /// share a socket.
    pub(crate) wakers: [Vec<Waker>; 2],
}

impl Waiters {
    /// Files `waker` for the next event in `dir`, unless a waker that wakes the same task is
    /// filed already. True if `dir` had no waiter before.
    fn file(&mut self, dir: Direction, waker: &Waker) -> bool {
        let wakers = &mut self.wakers[dir as usize];
        let first = wakers.is_empty();
        if !wakers.iter().any(|w| w.will_wake(waker)) {
            wakers.push(waker.clone());
        }
        first
    }

    /// Removes the wakers of `dir` that wake the same task as `waker`. True if that left the
    /// direction without waiters.
    pub(crate) fn unfile(&mut self, dir: Direction, waker: &Waker) -> bool {
        let wakers = &mut self.wakers[dir as usize];
        if wakers.is_empty() {
            return false;
        }
        wakers.retain(|filed| !filed.will_wake(waker));
        wakers.is_empty()
    }

    /// Moves the wakers of `dir` into `woken`. True if there were any.
    pub(crate) fn take(&mut self, dir: Direction, fd: RawFd, woken: &mut Vec<Woken>) -> bool {
        let wakers = &mut self.wakers[dir as usize];
        if wakers.is_empty() {
            return false;
        }
        let trigger = Trigger::Io { fd, dir };
        woken.extend(wakers.drain(..).map(|waker| (waker, trigger)));
        true
    }
}

impl Source {
    /// A source for `fd`, assumed ready both ways until a syscall or the poller says otherwise.
    pub(crate) fn new(key: usize, fd: RawFd) -> Source {
        Source {
            key,
            fd,
            readiness: AtomicU64::new(Readiness::UNKNOWN.0),
            waiters: Mutex::new(Waiters {
                open: true,
                added: false,
                wakers: Default::default(),
            }),
        }
    }

    /// What the reactor knows now.
    pub(crate) fn readiness(&self) -> Readiness {
        Readiness(self.readiness.load(Acquire))
    }

    /// An event came: set the ready bits it names (and `HUNG_UP`) and count a tick.
    fn mark_ready(&self, readable: bool, writable: bool, hung_up: bool) {
        let mut bits = if hung_up { HUNG_UP } else { 0 };
        if readable {
            bits |= Direction::Read.ready_bit();
        }
        if writable {
            bits |= Direction::Write.ready_bit();
        }
        let mut current = self.readiness.load(Acquire);
        loop {
            let next = (current | bits).wrapping_add(TICK_ONE);
            match self
                .readiness
                .compare_exchange_weak(current, next, AcqRel, Acquire)
            {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// The source is about to be added to the poller: from now on readiness is the kernel's
    /// word. Drops the guess (both bits) and sets `KNOWN`; the poller reports the socket's
    /// current readiness as the first event after the add. Called under the source's lock.
    pub(crate) fn start_reporting(&self) {
        let mut current = self.readiness.load(Acquire);
        loop {
            let next = (current & !READY_BOTH) | KNOWN;
            match self
                .readiness
                .compare_exchange_weak(current, next, AcqRel, Acquire)
            {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// A syscall in `dir` that began when the word was `seen` got `WouldBlock` (or was a short
    /// write): clear the bit, unless an event came since (then the bit is fresh and the syscall
    /// is worth retrying).
    pub(crate) fn clear_ready(&self, dir: Direction, seen: Readiness) {
        let mut current = self.readiness.load(Acquire);
        while Readiness(current).tick() == seen.tick() && Readiness(current).is_ready(dir) {
            match self.readiness.compare_exchange_weak(
                current,
                current & !dir.ready_bit(),
                AcqRel,
                Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// A read that began when the word was `seen` proved the socket drained without a
    /// `WouldBlock` (`net/inq.rs`: nothing queued, not even a FIN): clear the bit as
    /// `clear_ready` does, unless the poller ever reported a hang-up. A reset that arrived
    /// with the last data came in the same edge as that data, whose event is already counted
    /// in `seen`; the read took the data, and the kernel's count of what is left says nothing
    /// of a reset. The next read must still try, and get the reset's error (or the end of
    /// stream): no further event will announce it.
    pub(crate) fn clear_drained(&self, dir: Direction, seen: Readiness) {
        if seen.0 & HUNG_UP != 0 {
            return;
        }
        let mut current = self.readiness.load(Acquire);
        while Readiness(current).tick() == seen.tick()
            && Readiness(current).is_ready(dir)
            && current & HUNG_UP == 0
        {
            match self.readiness.compare_exchange_weak(
                current,
                current & !dir.ready_bit(),
                AcqRel,
                Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// Step 3 of the protocol, waiting side: under the lock, run `prepare` (the reactor adds
    /// the fd to the poller there, and refuses if the socket is closing), file `waker` for
    /// `dir`; then, after the lock, look at the readiness word again. Returns whether `dir`
    /// had no waiter before (the reactor counts waiters) and whether it is ready now: if it
    /// is, an event came while we filed, and the caller must not wait for a wake that may
    /// already have been handed out.
    pub(crate) fn file_and_look(
        &self,
        dir: Direction,
        waker: &Waker,
        prepare: impl FnOnce(&mut Waiters) -> io::Result<()>,
    ) -> io::Result<(bool, bool)> {
        let mut waiters = self.lock();
        prepare(&mut waiters)?;
        let first = waiters.file(dir, waker);
        drop(waiters);
        Ok((first, self.readiness().is_ready(dir)))
    }

    /// Step 3, dispatching side: an event says `readable`/`writable` (and `hung_up`: the
    /// poller saw a hang-up or an error). Set the readiness *first*, then take the wakers of
    /// those directions into `woken`. Returns how many directions had waiters.
    pub(crate) fn dispatch(
        &self,
        readable: bool,
        writable: bool,
        hung_up: bool,
        woken: &mut Vec<Woken>,
    ) -> usize {
        self.mark_ready(readable, writable, hung_up);
        let mut waiters = self.lock();
        let mut emptied = 0;
        for (dir, ready) in [(Direction::Read, readable), (Direction::Write, writable)] {
            if ready && waiters.take(dir, self.fd, woken) {
                emptied += 1;
            }
        }
        emptied
    }

    /// Locks the waiters. A panic while holding the lock cannot leave them inconsistent (every
    /// update is a single field or push), so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
