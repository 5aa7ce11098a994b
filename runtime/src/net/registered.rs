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
use std::task::{ready, Context, Poll};

use crate::executor::{current_reactor, record_would_block};
use crate::reactor::{Direction, Reactor, Source};

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

    /// Counts (and journals) a `WouldBlock` that is about to be waited on in `dir`, with
    /// `remaining` bytes still to go when the caller knows.
    pub(crate) fn note_would_block(
        &self,
        dir: Direction,
        remaining: Option<usize>,
    ) -> io::Result<()> {
        let registration = self.registration()?;
        registration.reactor.count_would_block();
        record_would_block(registration.source.fd, dir, remaining);
        Ok(())
    }

    /// Waits for readiness in `dir`; see `Reactor::poll_ready` for `seen`.
    pub(crate) fn poll_ready(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        seen: &mut Option<u64>,
    ) -> Poll<io::Result<()>> {
        let registration = self.registration()?;
        registration
            .reactor
            .poll_ready(&registration.source, dir, cx, seen)
    }

    /// Resolves once the reactor reports the socket ready in `dir`.
    pub(crate) async fn ready(&self, dir: Direction) -> io::Result<()> {
        let mut seen = None;
        poll_fn(|cx| self.poll_ready(dir, cx, &mut seen)).await
    }

    /// Runs the non-blocking syscall `op` until it does not report `WouldBlock`, waiting for
    /// readiness in `dir` between attempts: the heart of every socket operation.
    pub(crate) fn poll_io<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            match op(&self.io) {
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.note_would_block(dir, None)?;
                    // Registers the waker and returns Pending (or an error): the retry happens
                    // when the task is polled again after the reactor wakes it.
                    ready!(self.poll_ready(dir, cx, &mut None))?;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
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
