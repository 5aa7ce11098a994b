//! Sleeping workers, and the two handshakes that keep work from waiting while a worker sleeps.
//!
//! A worker with nothing to do must sleep in the kernel (an idle runtime uses no CPU), and a
//! worker that makes work another could take (a spawn, a wake behind a busy queue, a task
//! injected from outside) must wake a sleeper, but only when that helps: waking a worker for
//! every wake is what makes other runtimes' two threads slower than one on a ping-pong (the
//! woken worker finds nothing, sleeps, and is woken again). Two rules keep that in check:
//!
//! - At most one worker *searches* at a time: a worker woken to look for work counts as
//!   searching until it finds some (or sleeps again), and while one searches nobody wakes
//!   another; the searcher will find the new work too.
//! - The executor decides *whether* to announce a push (`worker.rs`); this module only makes
//!   sure that an announced push is never missed by a worker on its way to sleep.
//!
//! # The sleep handshake
//!
//! A worker going to sleep registers as a sleeper (`Idle::sleep`), then looks for work once more,
//! then parks. A worker announcing work first publishes it (a queue push), then looks for a
//! sleeper to wake (`Idle::worker_to_wake`). Each side writes one thing and then reads what the
//! other wrote, so each puts a `SeqCst` fence between its write and its read: then at least one
//! of them sees the other's write. Either the announcer sees the sleeper and wakes it, or the
//! sleeper's last look sees the work. (With plain acquire/release both could read the old
//! value, and the work would wait until something else woke a worker.)
//!
//! # Parking
//!
//! `Parker` is one worker's bed: a flag word changed only by read-modify-writes, so that an
//! `unpark` that comes before the `park` is not lost (the park returns at once). A worker parks
//! either on a condition variable or, if it is the one driving the reactor, in the reactor's
//! wait; `unpark` ends whichever it is in.

use std::sync::atomic::Ordering::{AcqRel, Acquire, SeqCst};
use std::sync::PoisonError;
use std::time::Duration;

use crate::loom::{fence, AtomicUsize, Condvar, Mutex};

/// One sleeper, in the low half of `Idle::state`.
const ONE_SLEEPING: usize = 1;
/// One searcher, in the high half.
const ONE_SEARCHING: usize = 1 << 32;
const SLEEPING_MASK: usize = ONE_SEARCHING - 1;

/// Who sleeps, who searches.
pub(crate) struct Idle {
    /// Sleepers in the low 32 bits, searchers in the high 32.
    state: AtomicUsize,
    /// Which workers sleep, to pick one to wake. Only touched on the way to sleep and to wake.
    sleepers: Mutex<Vec<usize>>,
}

impl Idle {
    pub(crate) fn new(workers: usize) -> Idle {
        Idle {
            state: AtomicUsize::new(0),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
        }
    }

    fn sleepers(&self) -> crate::loom::MutexGuard<'_, Vec<usize>> {
        // A push or a removal cannot be left half done: poisoning is harmless.
        self.sleepers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The announcing side of the sleep handshake, after the work was published: which worker
    /// to wake, if one sleeps and none is already searching. The chosen worker counts as
    /// searching from now on; the caller unparks it.
    pub(crate) fn worker_to_wake(&self) -> Option<usize> {
        fence(SeqCst);
        let state = self.state.load(SeqCst);
        if state & SLEEPING_MASK == 0 || state >= ONE_SEARCHING {
            return None;
        }
        let mut sleepers = self.sleepers();
        let chosen = sleepers.pop()?;
        self.state.fetch_add(ONE_SEARCHING - ONE_SLEEPING, AcqRel);
        Some(chosen)
    }

    /// The sleeping side: `worker` registers as a sleeper; the caller then looks for work
    /// once more before it parks (and calls `unsleep` if it found some).
    pub(crate) fn sleep(&self, worker: usize) {
        let mut sleepers = self.sleepers();
        sleepers.push(worker);
        self.state.fetch_add(ONE_SLEEPING, SeqCst);
        drop(sleepers);
        fence(SeqCst);
    }

    /// `worker` found work after registering, or woke without being chosen: it leaves the
    /// sleepers, if it is still one. True if it was (nobody chose it meanwhile).
    pub(crate) fn unsleep(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers();
        match sleepers.iter().position(|&w| w == worker) {
            Some(at) => {
                sleepers.swap_remove(at);
                self.state.fetch_sub(ONE_SLEEPING, AcqRel);
                true
            }
            None => false,
        }
    }

    /// A worker that was woken to search stops searching (it found work, or gives up).
    pub(crate) fn stop_searching(&self) {
        let before = self.state.fetch_sub(ONE_SEARCHING, AcqRel);
        debug_assert!(before >= ONE_SEARCHING, "a worker stopped searching twice");
    }

    /// How many workers sleep now (a snapshot).
    pub(crate) fn sleeping(&self) -> usize {
        self.state.load(Acquire) & SLEEPING_MASK
    }

    /// Whether a worker is searching now (a snapshot).
    pub(crate) fn searching(&self) -> bool {
        self.state.load(Acquire) >= ONE_SEARCHING
    }
}

/// An unpark is pending: the next park returns at once.
const NOTIFIED: usize = 1;
/// Parked on the condition variable.
const ON_CONDVAR: usize = 1 << 1;
/// Parked in the reactor's wait (the worker is the driver).
const ON_DRIVER: usize = 1 << 2;

/// One worker's bed.
pub(crate) struct Parker {
    state: AtomicUsize,
    lock: Mutex<()>,
    wakeup: Condvar,
}

/// What `Parker::unpark` found: the caller ends a reactor wait itself (it owns the reactor).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unparked {
    /// Nothing more to do: the worker was awake, or was woken on its condition variable.
    Done,
    /// The worker waits in the reactor: the caller must notify the reactor.
    NotifyDriver,
}

impl Parker {
    pub(crate) fn new() -> Parker {
        Parker {
            state: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wakeup: Condvar::new(),
        }
    }

    /// Wakes the worker, or makes its next park return at once.
    pub(crate) fn unpark(&self) -> Unparked {
        let before = self.state.fetch_or(NOTIFIED, AcqRel);
        if before & ON_DRIVER != 0 {
            Unparked::NotifyDriver
        } else {
            if before & ON_CONDVAR != 0 {
                // Through the lock: once we hold it, the worker is inside `wait` (which let go
                // of it), or has seen NOTIFIED and will not wait. The notification goes after
                // we let go, so that the worker it wakes does not find the lock still held
                // and sleep on it again (two more futex calls per wake).
                drop(self.lock.lock().unwrap_or_else(PoisonError::into_inner));
                self.wakeup.notify_one();
            }
            Unparked::Done
        }
    }

    /// Sleeps on the condition variable until `unpark`. Returns at once if an unpark came
    /// since the last park.
    pub(crate) fn park(&self) {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let before = self.state.fetch_or(ON_CONDVAR, AcqRel);
        if before & NOTIFIED == 0 {
            while self.state.load(Acquire) & NOTIFIED == 0 {
                guard = self
                    .wakeup
                    .wait(guard)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        self.state.fetch_and(!(NOTIFIED | ON_CONDVAR), AcqRel);
    }

    /// As `park`, but for at most `timeout`.
    pub(crate) fn park_timeout(&self, timeout: Duration) {
        let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let before = self.state.fetch_or(ON_CONDVAR, AcqRel);
        if before & NOTIFIED == 0 {
            // One wait: a wake-up early or late only costs the caller another look.
            let _ = self.wakeup.wait_timeout(guard, timeout);
        }
        self.state.fetch_and(!(NOTIFIED | ON_CONDVAR), AcqRel);
    }

    /// Parks in the reactor: `wait` blocks in it (the reactor's `notify` ends it). Skips the
    /// wait if an unpark came since the last park.
    pub(crate) fn park_on_driver(&self, wait: impl FnOnce()) {
        let before = self.state.fetch_or(ON_DRIVER, AcqRel);
        if before & NOTIFIED == 0 {
            wait();
        }
        self.state.fetch_and(!(NOTIFIED | ON_DRIVER), AcqRel);
    }
}
