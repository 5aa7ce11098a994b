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
use std::os::fd::{AsFd, AsRawFd};
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll, Waker};

use crate::executor::{current_reactor, record_would_block, spend_budget};
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

    /// The registration, made on first use with the current runtime's reactor.
    fn registration(&self) -> io::Result<&Registration> {
        if let Some(registration) = self.registration.get() {
            return Ok(registration);
        }
        let reactor = current_reactor().ok_or_else(|| {
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
    /// assumed ready both ways.
    pub(crate) fn readiness(&self) -> Readiness {
        self.registration
            .get()
            .map_or(Readiness::UNKNOWN, |registration| {
                registration.source.readiness()
            })
    }

    /// One attempt of the non-blocking syscall `op` in direction `dir`. On `WouldBlock` the
    /// attempt is counted (and journalled, with `remaining` bytes still to go when the caller
    /// knows), and the direction's readiness is cleared unless an event came meanwhile.
    pub(crate) fn try_io<R>(
        &self,
        dir: Direction,
        remaining: Option<usize>,
        op: impl FnOnce(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let seen = self.readiness();
        match op(&self.io) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                let registration = self.registration()?;
                registration.reactor.count_would_block();
                record_would_block(registration.source.fd, dir, remaining);
                registration.source.clear_ready(dir, seen);
                Err(err)
            }
            result => result,
        }
    }

    /// Waits until the reactor says `dir` may be ready; at once if it already does. A waker
    /// filed with the reactor is remembered in `filed`, for `Wait` to take back.
    pub(crate) fn poll_ready(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        filed: &mut Option<Waker>,
    ) -> Poll<io::Result<()>> {
        let registration = self.registration()?;
        registration
            .reactor
            .poll_ready(&registration.source, dir, cx, filed)
    }

    /// Resolves once the reactor says `dir` may be ready.
    pub(crate) async fn ready(&self, dir: Direction) -> io::Result<()> {
        let mut wait = Wait::new(self, dir);
        poll_fn(|cx| self.poll_ready(dir, cx, &mut wait.filed)).await
    }

    /// Runs the non-blocking syscall `op` until it does not report `WouldBlock`, waiting in
    /// `dir` in between: `poll_io` as a future, which takes its waker back if dropped early.
    pub(crate) async fn io<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut wait = Wait::new(self, dir);
        poll_fn(|cx| self.poll_io(dir, cx, &mut wait.filed, &mut op)).await
    }

    /// Waits for the poller's next event in `dir`, ignoring the optimistic "ready" that a new
    /// socket starts with. For a socket just made, whose first event is the answer (a connect
    /// in progress): nothing can have been reported for it yet.
    pub(crate) async fn next_event(&self, dir: Direction) -> io::Result<()> {
        let source = &self.registration()?.source;
        source.clear_ready(dir, source.readiness());
        self.ready(dir).await
    }

    /// Runs the non-blocking syscall `op` until it does not report `WouldBlock`, waiting for
    /// readiness in `dir` between attempts: the heart of every socket operation.
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
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if !self.readiness().is_ready(dir) {
                ready!(self.poll_ready(dir, cx, filed))?;
            }
            if !spend_budget() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            match self.try_io(dir, None, &mut op) {
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
    fn new(registered: &'a Registered<T>, dir: Direction) -> Wait<'a, T> {
        Wait {
            registered,
            dir,
            filed: None,
        }
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
