//! A source: one file descriptor the reactor watches, and who waits on it in each direction.
//!
//! The article keeps `fds = dict(w={}, r={})`: for each direction, which generator waits on
//! which socket. A `Source` is one socket's row of that table, plus what the article's loop
//! never needed: a lock (a socket may be used from several threads), a record of which
//! directions are registered with the poller right now, and a count of readiness events per
//! direction so that a `readable()` future can tell a real event from a spurious wake.

use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

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
}

/// One registered file descriptor.
pub(crate) struct Source {
    /// The key it is filed under in the reactor and in the poller's events. Keys are never
    /// reused, so an event that was already in flight when the source went away finds nothing.
    pub(crate) key: usize,
    /// The file descriptor. Only named in poller calls while `SourceState::open` holds.
    pub(crate) fd: RawFd,
    state: Mutex<SourceState>,
}

/// What the lock of a source protects.
pub(crate) struct SourceState {
    /// Cleared (under this lock) before the owner closes the fd. Every poller call that names
    /// the fd happens under this lock while `open` is true, so none can reach a closed fd, or
    /// a reused fd number that belongs to someone else.
    pub(crate) open: bool,
    /// Whether the fd has been added to the poller. Registration waits until the first time a
    /// task has to wait: a socket that never blocks costs no poller calls at all.
    pub(crate) added: bool,
    /// Read and write, indexed by `Direction`.
    pub(crate) directions: [DirectionState; 2],
}

/// One direction of one source.
#[derive(Default)]
pub(crate) struct DirectionState {
    /// Interest in this direction is registered with the poller and has not fired yet.
    pub(crate) armed: bool,
    /// How many readiness events this direction has had. A waiter remembers the value it saw
    /// when it went to sleep; a different value later means an event came.
    pub(crate) tick: u64,
    /// Who to wake at the next event. Usually one task; more when several share a socket.
    pub(crate) wakers: Vec<Waker>,
}

impl DirectionState {
    /// Adds `waker` unless a waker that wakes the same task is already here.
    pub(crate) fn add_waker(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }
}

impl Source {
    pub(crate) fn new(key: usize, fd: RawFd) -> Source {
        Source {
            key,
            fd,
            state: Mutex::new(SourceState {
                open: true,
                added: false,
                directions: Default::default(),
            }),
        }
    }

    /// Locks the source's state. A panic while holding the lock cannot leave it inconsistent
    /// (every update is a single field), so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, SourceState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
