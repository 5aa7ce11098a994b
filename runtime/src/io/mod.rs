//! Streams that are not sockets: the process's standard streams ([`stdin`], [`stdout`],
//! [`stderr`]), an in-memory pair ([`duplex`]), the copy loops ([`copy`],
//! [`copy_bidirectional`]), and any descriptor the kernel can report readiness for
//! ([`AsyncFd`]).
//!
//! Every nbio stream (TCP and Unix sockets, a child's pipes, [`Stdin`], [`DuplexStream`]) has a
//! `read_buf(&mut Vec<u8>)` that reads into the vector's spare capacity without zeroing it
//! first, and grows its length only in the poll that completes the read: a `read_buf` dropped
//! in a `select!` loses no bytes and leaves no zeros behind.
//!
//! nbio's sockets are the article's `setblocking(0)` plus `select()` done for you. [`AsyncFd`]
//! is the same machinery, offered for descriptors nbio has no type for: a pipe, an `eventfd`,
//! an `inotify` or `signalfd` descriptor, a tty, a device. It registers the descriptor with the
//! reactor of the current runtime and tells a task when the kernel says it is readable or
//! writable; what to read or write is yours, in a closure given to [`AsyncFd::try_io`].
//!
//! The contract is the sockets' (see `net::registered`): readiness is edge-triggered and
//! remembered in the source's readiness word; [`AsyncFd::readable`] waits for the kernel's word,
//! never a guess; a `WouldBlock` returned by a `try_io` closure clears the readiness it used (and
//! only if no event came meanwhile), so the next `readable()` waits for a new event.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//! use nbio::io::{AsyncFd, Interest};
//!
//! nbio::block_on(async {
//!     let (mut writer, reader) = UnixStream::pair()?;
//!     reader.set_nonblocking(true)?; // try_io's closure must not block
//!     let reader = AsyncFd::new(reader)?;
//!     let sent = std::thread::spawn(move || writer.write_all(b"ping"));
//!     let mut buf = [0u8; 4];
//!     let n = loop {
//!         reader.readable().await?;
//!         match reader.try_io(Interest::READABLE, |mut inner| inner.read(&mut buf)) {
//!             Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
//!             result => break result?,
//!         }
//!     };
//!     assert_eq!(&buf[..n], b"ping");
//!     sent.join().unwrap()
//! })?;
//! # std::io::Result::Ok(())
//! ```

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::task::{Context, Poll};

use crate::context;
use crate::net::registered::Registered;
use crate::reactor::Direction;

mod copy;
mod duplex;
#[cfg(all(test, nbio_loom))]
mod loom_duplex;
mod stdio;

pub use copy::{copy, copy_bidirectional};
pub use duplex::{duplex, DuplexStream};
pub use stdio::{stderr, stdin, stdout, Stderr, Stdin, Stdout};

/// Which readiness an operation waits for and uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest(Direction);

impl Interest {
    /// Data (or end of stream, or an error) to read.
    pub const READABLE: Interest = Interest(Direction::Read);
    /// Room to write.
    pub const WRITABLE: Interest = Interest(Direction::Write);
}

/// A file descriptor registered with the reactor: its readiness as futures.
///
/// `T` is anything that owns or borrows a descriptor (`OwnedFd`, `File`, `UnixStream`, a
/// type of your own): the `AsyncFd` takes it, and gives it back with
/// [`into_inner`](Self::into_inner). The descriptor is deregistered before `T` is dropped (or
/// given back), so no event ever reaches a reused descriptor number.
///
/// The descriptor is not switched to non-blocking mode (for a tty shared with other processes
/// that would change it for them too): put it in non-blocking mode yourself if the closures
/// given to [`try_io`](Self::try_io) could otherwise block.
pub struct AsyncFd<T: AsFd> {
    inner: Registered<T>,
}

impl<T: AsFd> AsyncFd<T> {
    /// Registers `inner`'s descriptor with the reactor of the current runtime.
    ///
    /// ```
    /// # nbio::block_on(async {
    /// let err = nbio::io::AsyncFd::new(std::fs::File::open("/etc/hostname")?).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput); // a regular file
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// Outside a runtime; `InvalidInput` for a descriptor epoll cannot wait on (a regular file
    /// or a directory, which are always "ready": read them with [`nbio::fs`](crate::fs));
    /// otherwise the poller's error.
    pub fn new(inner: T) -> io::Result<AsyncFd<T>> {
        if context::reactor().is_none() {
            return Err(io::Error::other(
                "nbio::io::AsyncFd::new needs an nbio runtime (the descriptor is registered \
                 with its reactor); call it inside nbio::block_on",
            ));
        }
        let registered = Registered::new(inner);
        match registered.register_now() {
            Ok(()) => Ok(AsyncFd { inner: registered }),
            Err(err) if err.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) => {
                let fd = registered.get_ref().as_fd().as_raw_fd();
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "fd {fd} cannot be watched for readiness: epoll refuses it (EPERM), as it \
                         refuses regular files and directories, which never wait; read those \
                         with nbio::fs or spawn_blocking"
                    ),
                ))
            }
            Err(err) => Err(err),
        }
    }

    /// The wrapped descriptor.
    pub fn get_ref(&self) -> &T {
        self.inner.get_ref()
    }

    /// The wrapped descriptor, mutably. Do not replace it or close it: the reactor still has
    /// its number, and would deregister (and ignore the events of) whatever descriptor gets
    /// that number next.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Deregisters the descriptor and gives it back, still open.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }

    /// Waits until the kernel reports the descriptor readable (data, end of stream, or an
    /// error to read). It stays so until a [`try_io`](Self::try_io) for reading returns
    /// `WouldBlock`.
    ///
    /// # Errors
    /// If the runtime it is registered with was dropped.
    pub async fn readable(&self) -> io::Result<()> {
        self.inner.ready(Direction::Read).await
    }

    /// Waits until the kernel reports the descriptor writable. It stays so until a
    /// [`try_io`](Self::try_io) for writing returns `WouldBlock`.
    ///
    /// # Errors
    /// If the runtime it is registered with was dropped.
    pub async fn writable(&self) -> io::Result<()> {
        self.inner.ready(Direction::Write).await
    }

    /// The poll form of [`readable`](Self::readable), for hand-written futures and traits. The
    /// waker stays filed with the reactor until the next event.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_ready(Direction::Read, false, cx, &mut None)
    }

    /// The poll form of [`writable`](Self::writable).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner
            .poll_ready(Direction::Write, false, cx, &mut None)
    }

    /// Runs `f`, one non-blocking attempt at an operation in the direction of `interest`. If it
    /// returns `WouldBlock`, that readiness is cleared (unless an event came while `f` ran), so
    /// that the next `readable()`/`writable()` waits for the kernel to say so again.
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn try_io<R>(
        &self,
        interest: Interest,
        f: impl FnOnce(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        self.inner.try_io(interest.0, None, f)
    }

    /// Repeats `f` until it does not return `WouldBlock`, waiting for readiness in the
    /// direction of `interest` before each attempt (and `Interrupted` retries too): `readable()`
    /// and `try_io` in a loop.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// # nbio::block_on(async {
    /// let (mut writer, reader) = std::os::unix::net::UnixStream::pair()?;
    /// reader.set_nonblocking(true)?;
    /// let reader = nbio::io::AsyncFd::new(reader)?;
    /// writer.write_all(b"hi")?;
    /// let mut buf = [0u8; 8];
    /// let n = reader.async_io(nbio::io::Interest::READABLE, |mut r| r.read(&mut buf)).await?;
    /// assert_eq!(&buf[..n], b"hi");
    /// # std::io::Result::Ok(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Errors
    /// The first error of `f` other than `WouldBlock` and `Interrupted`, or the reactor's.
    pub async fn async_io<R>(
        &self,
        interest: Interest,
        mut f: impl FnMut(&T) -> io::Result<R>,
    ) -> io::Result<R> {
        let dir = interest.0;
        loop {
            self.inner.ready(dir).await?;
            match self.try_io(interest, &mut f) {
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                result => return result,
            }
        }
    }
}

impl<T: AsFd> AsFd for AsyncFd<T> {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}

impl<T: AsFd> AsRawFd for AsyncFd<T> {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl<T: AsFd + fmt::Debug> fmt::Debug for AsyncFd<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncFd")
            .field(self.inner.get_ref())
            .finish()
    }
}
