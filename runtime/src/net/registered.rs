//! A std socket in non-blocking mode, plus its registration with a reactor.
//!
//! This is the article's `sock.setblocking(0)` followed by its `try: ... except socket.error`
//! pattern, done once for every socket type: try the syscall; on `EAGAIN` (`WouldBlock`) ask
//! the reactor to wake the task when the socket is ready, and return `Pending`; try again when
//! woken.
//!
//! Registration is lazy. A socket is filed with the reactor of the runtime that first has to
//! wait on it, at that moment; one that never gets `WouldBlock` never costs a poller call.
//! From then on it belongs to that runtime's reactor.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::mem::ManuallyDrop;
use std::os::fd::{AsFd, AsRawFd};
use std::ptr;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll, Waker};

use crate::context;
use crate::observe::StallReason;
use crate::reactor::{Direction, Reactor, Readiness, Source};

/// A non-blocking socket and, once it had to wait, its reactor registration.
pub(crate) struct Registered<T: AsFd> {
    io: T,
    registration: OnceLock<Registration>,
}

struct Registration {
    reactor: Arc<Reactor>,
    source: Arc<Source>,
}

impl<T: AsFd> Registered<T> {
    /// Wraps `io`, which the caller has already put in non-blocking mode.
    pub(crate) fn new(io: T) -> Registered<T> {
        Registered {
            io,
            registration: OnceLock::new(),
        }
    }

    /// The std socket, for the calls that never wait (addresses, options, shutdown).
    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    /// The wrapped descriptor, mutably (for `AsyncFd::get_mut`: the caller must not replace
    /// it, or the registration would name a descriptor that is closed).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        &mut self.io
    }

    /// Deregisters and gives the descriptor back, open.
    pub(crate) fn into_inner(self) -> T {
        let this = ManuallyDrop::new(self);
        if let Some(registration) = this.registration.get() {
            registration.reactor.detach(&registration.source);
        }
        // SAFETY: `this` is never used again and, being `ManuallyDrop`, never dropped: each
        // field is moved out exactly once, here.
        let (io, registration) = unsafe { (ptr::read(&this.io), ptr::read(&this.registration)) };
        drop(registration);
        io
    }

    /// Registers with the current runtime's reactor now, and adds the descriptor to the
    /// poller at once instead of at the first wait: a descriptor the poller refuses (a regular
    /// file) fails here, and readiness is the kernel's word from the start.
    pub(crate) fn register_now(&self) -> io::Result<()> {
        let registration = self.registration()?;
        registration.reactor.register(&registration.source)
    }

    /// The registration, made on first use with the current runtime's reactor.
    fn registration(&self) -> io::Result<&Registration> {
        if let Some(registration) = self.registration.get() {
            return Ok(registration);
        }
        let reactor = context::reactor().ok_or_else(|| {
            io::Error::other(
                "an nbio socket had to wait, but no nbio runtime is running on this thread; \
                 await socket operations inside nbio::block_on",
            )
        })?;
        Ok(self.registration.get_or_init(|| Registration {
            source: reactor.attach(self.io.as_fd().as_raw_fd()),
            reactor,
        }))
    }

    /// What the reactor knows of the socket's readiness; a socket that never had to wait is
    /// assumed ready both ways (a guess, see `Readiness`).
    pub(crate) fn readiness(&self) -> Readiness {
        self.registration
            .get()
            .map_or(Readiness::UNKNOWN, |registration| {
                registration.source.readiness()
            })
    }

    /// One attempt of the non-blocking syscall `op` in direction `dir`: the heart of `try_read`
    /// and of every socket operation.
    ///
    /// On `WouldBlock` the attempt is counted (and journalled, with `remaining` bytes still to
    /// go when the caller knows), and the direction's readiness is cleared unless an event came
    /// meanwhile. Outside a runtime a `WouldBlock` is returned as it is: there is no reactor to
    /// remember it.
    pub(crate) fn try_io<R>(
        &self,
        dir: Direction,
        remaining: Option<usize>,
        op: impl FnOnce(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let seen = self.readiness();
        match op(&self.io) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                if let Ok(registration) = self.registration() {
                    registration.reactor.count_wait(false);
                    let why = StallReason::WouldBlock;
                    context::record_stall(registration.source.fd, dir, remaining, why);
                    registration.source.clear_ready(dir, seen);
                }
                Err(err)
            }
            result => result,
        }
    }

    /// One attempt of a write of `offered` bytes: `try_io`, and a write that took less than it
    /// was offered clears write readiness the same way a `WouldBlock` does. The kernel's buffer
    /// is full, and TCP reports writable again when room frees: trying again at once would only
    /// earn an `EAGAIN`.
    pub(crate) fn try_write_io(
        &self,
        offered: usize,
        op: impl FnOnce(&T) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let seen = self.readiness();
        let written = self.try_io(Direction::Write, Some(offered), op)?;
        if written < offered {
            if let Ok(registration) = self.registration() {
                registration.reactor.count_wait(true);
                let (fd, why) = (
                    registration.source.fd,
                    StallReason::ShortWrite { took: written },
                );
                context::record_stall(fd, Direction::Write, Some(offered - written), why);
                registration.source.clear_ready(Direction::Write, seen);
            }
        }
        Ok(written)
    }

    /// The syscall in `dir` that began when the word was `seen` proved the socket has nothing
    /// more in that direction, without a `WouldBlock`: clear the readiness (unless an event
    /// came since), so that the next attempt waits for the poller. A socket that never had to
    /// wait has no registration and keeps its guess; its first `WouldBlock` registers it.
    pub(crate) fn drained(&self, dir: Direction, seen: Readiness) {
        if let Some(registration) = self.registration.get() {
            registration.source.clear_drained(dir, seen);
        }
    }

    /// Waits until the reactor says `dir` may be ready; at once if it already does. With
    /// `trust_guess`, a new socket's "ready" counts (see `Reactor::poll_ready`). A waker filed
    /// with the reactor is remembered in `filed`, for `Wait` to take back.
    pub(crate) fn poll_ready(
        &self,
        dir: Direction,
        trust_guess: bool,
        cx: &mut Context<'_>,
        filed: &mut Option<Waker>,
    ) -> Poll<io::Result<()>> {
        let registration = self.registration()?;
        let poll =
            registration
                .reactor
                .poll_ready(&registration.source, dir, trust_guess, cx, filed);
        if poll.is_pending() {
            context::waiting_on(context::WaitOn::Socket {
                fd: registration.source.fd,
                write: dir == Direction::Write,
            });
        }
        poll
    }

    /// Resolves once the kernel says `dir` is ready: `readable()` and `writable()`. A socket
    /// that nothing has waited on yet is added to the poller first, and its first event is the
    /// answer; until then a new socket's guess does not count.
    pub(crate) async fn ready(&self, dir: Direction) -> io::Result<()> {
        let mut wait = Wait::new(self, dir);
        poll_fn(|cx| self.poll_ready(dir, false, cx, &mut wait.filed)).await
    }

    /// Resolves once a syscall in `dir` is worth trying (a new socket's guess counts).
    pub(crate) async fn worth_trying(&self, dir: Direction) -> io::Result<()> {
        let mut wait = Wait::new(self, dir);
        poll_fn(|cx| self.poll_ready(dir, true, cx, &mut wait.filed)).await
    }

    /// Runs the non-blocking syscall `op` until it does not report `WouldBlock`, waiting in
    /// `dir` in between: `poll_io` as a future, which takes its waker back if dropped early.
    pub(crate) async fn io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        self.attempts(dir, || self.try_io(dir, None, &mut op)).await
    }

    /// Repeats `attempt` until it does not report `WouldBlock`, waiting in `dir` in between:
    /// `poll_io` as a future, which takes its waker back if dropped early.
    pub(crate) async fn attempts<R>(
        &self,
        dir: Direction,
        mut attempt: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        let mut wait = Wait::new(self, dir);
        poll_fn(|cx| self.poll_io(dir, cx, &mut wait.filed, &mut attempt)).await
    }

    /// Repeats `attempt` (one `try_io` or `try_write_io`) until it does not report
    /// `WouldBlock`, waiting for readiness in `dir` between attempts: the heart of every socket
    /// operation.
    ///
    /// An operation about to be tried on a ready socket first spends a unit of the task's
    /// budget; with the budget gone, the task yields (wakes itself, returns `Pending`) so that
    /// a socket that is always ready cannot keep the thread from everything else.
    ///
    /// A waker filed with the reactor is remembered in `filed` (see `Wait`).
    pub(crate) fn poll_io<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        filed: &mut Option<Waker>,
        mut attempt: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if !self.readiness().is_ready(dir) {
                ready!(self.poll_ready(dir, true, cx, filed))?;
            }
            if !context::spend_budget() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match attempt() {
                // Readiness is now cleared (or an event just came): the loop waits or retries.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }
}

/// The waker an operation filed with the reactor, taken back when the operation's future is
/// dropped: after it completed, or abandoned early (by a `timeout`, a race of two futures, a
/// dropped task). Otherwise the waker would stay filed until the socket's next event, keeping
/// its task's allocation alive and counting as a waiter that makes the reactor look.
pub(crate) struct Wait<'a, T: AsFd> {
    registered: &'a Registered<T>,
    dir: Direction,
    filed: Option<Waker>,
}

impl<'a, T: AsFd> Wait<'a, T> {
    /// A wait on `registered` in `dir` that has filed nothing yet. Operations kept between
    /// polls (an `Incoming` stream of connections) hold one for as long as they live.
    pub(crate) fn new(registered: &'a Registered<T>, dir: Direction) -> Wait<'a, T> {
        Wait {
            registered,
            dir,
            filed: None,
        }
    }

    /// Where `poll_io` and `poll_ready` remember the waker they filed.
    pub(crate) fn filed(&mut self) -> &mut Option<Waker> {
        &mut self.filed
    }
}

impl<T: AsFd> Drop for Wait<'_, T> {
    fn drop(&mut self) {
        if let (Some(waker), Some(registration)) = (&self.filed, self.registered.registration.get())
        {
            registration
                .reactor
                .unfile(&registration.source, self.dir, waker);
        }
    }
}

impl<T: AsFd> Drop for Registered<T> {
    fn drop(&mut self) {
        // Deregister before `io` (a field, dropped after this) closes the fd.
        if let Some(registration) = self.registration.get() {
            registration.reactor.detach(&registration.source);
        }
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for Registered<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.io.fmt(f)
    }
}
