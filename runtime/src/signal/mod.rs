//! Unix signals as futures: Ctrl-C (`SIGINT`), `SIGTERM`, `SIGHUP`, `SIGUSR1`, `SIGUSR2`.
//!
//! A signal handler interrupts whatever the thread was doing, so it may do almost nothing: no
//! lock, no allocation, no waker (a waker may lock or allocate). The classic answer is the
//! *self-pipe trick*, and it is what nbio does. The handler (installed once per signal, through
//! `signal-hook-registry`, which chains with other handlers and keeps `errno`) adds one to that
//! signal's delivery count and writes one byte to the non-blocking pipe of each [`Signal`]
//! listening for it; both are async-signal-safe. Each `Signal` watches its pipe through an
//! [`AsyncFd`], registered with its runtime's reactor like a socket: the byte wakes it, it
//! drains the pipe and compares the count with the last one it saw.
//!
//! One pipe per listener, not one for all: epoll reports a pipe only if it is still readable
//! when the waiting thread collects its events, so with a shared pipe the first runtime to drain
//! it would hide the delivery from the others. Pipes are never closed while the process runs
//! (a dropped `Signal` leaves its pipe for the next one), so the handler never writes to a
//! descriptor number that was closed and reused.
//!
//! Two orders make that lossless (`Delivery`, checked by a loom model): the handler counts
//! *before* it writes, and a `Signal` drains *before* it reads the count. A delivery that comes
//! after the count was read then always leaves a byte that wakes the `Signal` again.
//!
//! Deliveries that come faster than a `Signal` is polled are merged: `recv` says "at least one
//! since the last `recv`". And once a handler is installed for a signal it stays installed for
//! the life of the process: after the first `Signal::new(SignalKind::interrupt())`, Ctrl-C no
//! longer ends the process, even once every `Signal` is dropped; the program decides what it
//! means.
//!
//! ```no_run
//! nbio::block_on(async {
//!     println!("serving; stop with Ctrl-C");
//!     nbio::signal::ctrl_c().await?;
//!     println!("stopping cleanly");
//!     std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering::{AcqRel, Acquire, SeqCst};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};

use rustix::pipe::PipeFlags;

#[cfg(all(test, nbio_loom))]
mod loom_tests;

use crate::io::{AsyncFd, Interest};
use crate::loom::AtomicU64;

/// Signal numbers go up to this (Linux's `_NSIG` is 65; the BSDs' is smaller).
const MAX_SIGNAL: usize = 65;

/// A kind of signal a [`Signal`] can listen for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// `SIGINT`: Ctrl-C in the terminal.
    pub const fn interrupt() -> SignalKind {
        SignalKind(rustix::process::Signal::INT.as_raw())
    }

    /// `SIGTERM`: the polite request to stop (`kill`, systemd, Docker).
    pub const fn terminate() -> SignalKind {
        SignalKind(rustix::process::Signal::TERM.as_raw())
    }

    /// `SIGHUP`: the terminal went away; daemons take it as "reload your configuration".
    pub const fn hangup() -> SignalKind {
        SignalKind(rustix::process::Signal::HUP.as_raw())
    }

    /// `SIGUSR1`, whose meaning the program chooses.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(rustix::process::Signal::USR1.as_raw())
    }

    /// `SIGUSR2`, whose meaning the program chooses.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(rustix::process::Signal::USR2.as_raw())
    }

    /// Any other signal, by number. [`Signal::new`] refuses the ones a handler must not
    /// take over (`SIGKILL`, `SIGSTOP`, `SIGSEGV`, `SIGILL`, `SIGFPE`, `SIGBUS`).
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal's number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }
}

impl fmt::Display for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            kind if kind == SignalKind::interrupt() => "SIGINT",
            kind if kind == SignalKind::terminate() => "SIGTERM",
            kind if kind == SignalKind::hangup() => "SIGHUP",
            kind if kind == SignalKind::user_defined1() => "SIGUSR1",
            kind if kind == SignalKind::user_defined2() => "SIGUSR2",
            _ => return write!(f, "signal {}", self.0),
        };
        f.write_str(name)
    }
}

/// The handshake between a signal handler and the `Signal`s that wait for it: one count of
/// deliveries per signal, and the pipe that wakes the waiters.
pub(crate) struct Delivery {
    count: AtomicU64,
}

impl Delivery {
    pub(crate) fn new() -> Delivery {
        Delivery {
            count: AtomicU64::new(0),
        }
    }

    /// The handler's side: count the delivery, *then* `wake` (write to the pipe). Only an
    /// atomic add and `wake`'s own work: async-signal-safe.
    pub(crate) fn deliver(&self, wake: impl FnOnce()) {
        self.count.fetch_add(1, AcqRel);
        wake();
    }

    /// The count now: what a new `Signal` starts from.
    pub(crate) fn current(&self) -> u64 {
        self.count.load(Acquire)
    }

    /// The waiter's side: `drain` the pipe, *then* read the count. True (and `seen` moved up)
    /// if a delivery came since `seen`; otherwise the pipe was emptied before the count was
    /// read, so a later delivery is bound to leave a byte that wakes the waiter.
    pub(crate) fn receive(&self, seen: &mut u64, drain: impl FnOnce()) -> bool {
        drain();
        let now = self.count.load(Acquire);
        if now == *seen {
            return false;
        }
        *seen = now;
        true
    }
}

/// How many `Signal`s may listen at once, in the whole process.
const MAX_LISTENERS: usize = 1024;

/// What the process shares: per signal its delivery count and whether its handler is
/// installed, and the listeners' pipes.
struct Globals {
    deliveries: Vec<Delivery>,
    /// Which signals have their handler installed.
    installed: Mutex<[bool; MAX_SIGNAL]>,
    /// One pipe per listening `Signal`, filled in order and never closed: a free slot waits
    /// for the next `Signal`, so the handler never writes to a descriptor that was closed (and
    /// whose number may have been reused). Only `claim`, under this lock, fills or takes one.
    slots: Vec<OnceLock<Slot>>,
    claiming: Mutex<()>,
}

/// A listener's pipe.
struct Slot {
    /// The signal number its `Signal` listens for; 0 while the slot is free. The handler
    /// writes only to the pipes of its own signal.
    signum: AtomicI32,
    /// Read end, duplicated for the `Signal`'s `AsyncFd`. Non-blocking, close-on-exec.
    read: OwnedFd,
    /// Write end: the handler's. Non-blocking: a full pipe only drops a byte that would say
    /// nothing new (the count is the truth, and a full pipe already wakes its reader).
    write: OwnedFd,
}

/// The process's signal state, made on first use.
fn globals() -> &'static Globals {
    static GLOBALS: OnceLock<Globals> = OnceLock::new();
    GLOBALS.get_or_init(|| Globals {
        deliveries: (0..MAX_SIGNAL).map(|_| Delivery::new()).collect(),
        installed: Mutex::new([false; MAX_SIGNAL]),
        slots: (0..MAX_LISTENERS).map(|_| OnceLock::new()).collect(),
        claiming: Mutex::new(()),
    })
}

impl Globals {
    /// A pipe for a new listener of `signum`: a free one (drained at the first `recv`), or a
    /// new one.
    fn claim(&'static self, signum: i32) -> io::Result<&'static Slot> {
        let _claiming = self.claiming.lock().unwrap_or_else(PoisonError::into_inner);
        for cell in &self.slots {
            if let Some(slot) = cell.get() {
                if slot.signum.load(SeqCst) == 0 {
                    slot.signum.store(signum, SeqCst);
                    return Ok(slot);
                }
                continue;
            }
            let (read, write) = rustix::pipe::pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC)?;
            let slot = cell.get_or_init(|| Slot {
                signum: AtomicI32::new(signum),
                read,
                write,
            });
            return Ok(slot);
        }
        Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("at most {MAX_LISTENERS} nbio Signals can listen at once in a process"),
        ))
    }

    /// The handler's wake: a byte to the pipe of every listener of `signum`. Lock-free: the
    /// slots are read with atomic loads, and filled in order, so the first empty one ends the
    /// list.
    fn wake_listeners(&self, signum: i32) {
        for cell in &self.slots {
            let Some(slot) = cell.get() else {
                return;
            };
            if slot.signum.load(SeqCst) == signum {
                // A failed write (a full pipe) loses nothing: see `Slot::write`.
                let _ = rustix::io::write(&slot.write, &[1]);
            }
        }
    }
}

/// The index of `kind` among the delivery counts, if it is a signal a handler may catch.
fn index_of(kind: SignalKind) -> io::Result<usize> {
    let signum = kind.0;
    let index = usize::try_from(signum)
        .ok()
        .filter(|&index| index > 0 && index < MAX_SIGNAL)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{kind} is not a signal number this system has"),
            )
        })?;
    if signal_hook_registry::FORBIDDEN.contains(&signum) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{kind} cannot be caught: a handler may not take over SIGKILL, SIGSTOP or a \
                 signal of a fault (SIGSEGV, SIGILL, SIGFPE, SIGBUS)"
            ),
        ));
    }
    Ok(index)
}

/// Installs the handler for signal `index`, once per process.
fn install(globals: &'static Globals, kind: SignalKind, index: usize) -> io::Result<()> {
    let mut installed = globals
        .installed
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if installed[index] {
        return Ok(());
    }
    let signum = kind.0;
    let delivery = &globals.deliveries[index];
    let handler = move || delivery.deliver(|| globals.wake_listeners(signum));
    // SAFETY: the handler is async-signal-safe: an atomic add, atomic loads over slots that
    // live as long as the process (the globals are never dropped, their pipes never closed),
    // and write(2); it takes no lock and allocates nothing. signal-hook-registry saves and
    // restores errno around it.
    unsafe { signal_hook_registry::register(signum, handler) }.map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("could not install a handler for {kind}: {err}"),
        )
    })?;
    installed[index] = true;
    Ok(())
}

/// Listens for one kind of signal, delivered to this process.
///
/// Every `Signal` gets every delivery of its kind, however many there are, in any number of
/// runtimes. Deliveries that come while nobody polls are merged into one `recv`; those before
/// `new` are not seen.
///
/// ```
/// use nbio::signal::{Signal, SignalKind};
/// nbio::block_on(async {
///     let mut reload = Signal::new(SignalKind::user_defined1())?;
///     rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::USR1)?;
///     assert_eq!(reload.recv().await, Some(()));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct Signal {
    kind: SignalKind,
    delivery: &'static Delivery,
    /// This listener's pipe, given back when it is dropped.
    slot: &'static Slot,
    /// A duplicate of the pipe's read end, registered with the runtime's reactor.
    pipe: AsyncFd<OwnedFd>,
    /// The delivery count last reported.
    seen: u64,
}

impl Signal {
    /// Starts listening for `kind`, installing its handler now if this is the first time.
    ///
    /// # Errors
    /// Outside a runtime (the pipe is registered with its reactor); `InvalidInput` for a
    /// signal that cannot be caught; if the handler cannot be installed.
    pub fn new(kind: SignalKind) -> io::Result<Signal> {
        let index = index_of(kind)?;
        let globals = globals();
        let slot = globals.claim(kind.0)?;
        let registered = rustix::io::fcntl_dupfd_cloexec(&slot.read, 0)
            .map_err(io::Error::from)
            .and_then(AsyncFd::new)
            .and_then(|pipe| install(globals, kind, index).map(|()| pipe));
        let pipe = match registered {
            Ok(pipe) => pipe,
            Err(err) => {
                slot.signum.store(0, SeqCst);
                return Err(err);
            }
        };
        let delivery = &globals.deliveries[index];
        Ok(Signal {
            kind,
            delivery,
            slot,
            pipe,
            // Read after the slot was claimed: a delivery counted later writes to our pipe.
            seen: delivery.current(),
        })
    }

    /// The kind this `Signal` listens for.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }

    /// Waits for the next delivery (one or more since the last `recv`). `None` once the
    /// runtime this `Signal` was made in is gone: no more deliveries can be reported.
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The poll form of [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        loop {
            let pipe = &self.pipe;
            if self.delivery.receive(&mut self.seen, || drain(pipe)) {
                return Poll::Ready(Some(()));
            }
            match self.pipe.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(_)) => return Poll::Ready(None),
                Poll::Ready(Ok(())) => {} // a byte came: drain and look again
            }
        }
    }
}

/// Empties the pipe; the last `WouldBlock` clears this `Signal`'s readiness.
fn drain(pipe: &AsyncFd<OwnedFd>) {
    let mut bytes = [0u8; 64];
    loop {
        match pipe.try_io(Interest::READABLE, |fd| {
            Ok(rustix::io::read(fd, &mut bytes)?)
        }) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        // The pipe stays open for the next listener, who drains what is left in it.
        self.slot.signum.store(0, SeqCst);
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}

/// Waits for Ctrl-C (`SIGINT`): the usual way to stop a server cleanly.
///
/// The handler is installed when the future is first polled; a Ctrl-C before that ends the
/// process as usual. For a program that waits for several, keep one
/// `Signal::new(SignalKind::interrupt())` instead.
///
/// ```no_run
/// nbio::block_on(async {
///     let server = nbio::spawn(async { /* accept connections */ });
///     nbio::signal::ctrl_c().await?;
///     server.abort(); // and report what was done so far
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
/// As [`Signal::new`].
pub async fn ctrl_c() -> io::Result<()> {
    let mut signal = Signal::new(SignalKind::interrupt())?;
    signal
        .recv()
        .await
        .ok_or_else(|| io::Error::other("the nbio runtime was dropped while waiting for Ctrl-C"))
}
