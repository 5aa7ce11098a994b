//! A child's standard streams: the pipes std made at `spawn`, switched to non-blocking mode and
//! registered with the reactor like sockets.
//!
//! A pipe is simpler than a socket in one way and harder in another. Simpler: a read or a write
//! is plain `read(2)` / `write(2)`, with no flags. Harder: a write to a pipe whose reader is gone
//! raises `SIGPIPE`, and there is no `MSG_NOSIGNAL` for pipes. A Rust program ignores `SIGPIPE`
//! from before `main` (std sets it to `SIG_IGN`), so the write fails with `EPIPE` instead, which
//! [`ChildStdin`] returns as a `BrokenPipe` error; a program whose `main` is not Rust's must
//! ignore `SIGPIPE` itself. (The child gets `SIGPIPE` back at its default: std restores it
//! before `exec`, so `yes | head` ends as it does in a shell.)
//!
//! Readiness follows the sockets' protocol (`net::registered`), with one difference: only a
//! `WouldBlock` clears it. A read that returns less than it asked for proves nothing about a
//! pipe (the writer's close may be queued behind the data, and epoll will not report it again),
//! and a short write is followed by one more attempt rather than a wait.

use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};

use crate::net::registered::Registered;
use crate::reactor::Direction;

/// At most this many buffers go to one `readv` / `writev` (Linux's `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// One end of a pipe to a child, non-blocking, registered with the reactor at its first wait.
struct Pipe {
    registered: Registered<OwnedFd>,
}

impl Pipe {
    /// Takes `fd`, one end of a pipe std made, and switches it to non-blocking mode. The pipe is
    /// this process's alone (the child holds the other end), so the mode changes for no one else.
    fn new(fd: OwnedFd) -> io::Result<Pipe> {
        rustix::io::ioctl_fionbio(&fd, true)?;
        Ok(Pipe {
            registered: Registered::new(fd),
        })
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let registered = &self.registered;
        registered.poll_io(Direction::Read, cx, &mut None, || {
            registered.try_io(Direction::Read, None, |fd| {
                rustix::io::read(fd, &mut *buf).map_err(io::Error::from)
            })
        })
    }

    /// `poll_read` into memory that may be uninitialised (`read_buf`'s spare capacity).
    fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        let registered = &self.registered;
        registered.poll_io(Direction::Read, cx, &mut None, || {
            registered.try_io(Direction::Read, None, |fd| {
                // rustix's `read` takes uninitialised memory: the kernel only writes to it.
                let (filled, _) = rustix::io::read(fd, &mut *buf)?;
                Ok(filled.len())
            })
        })
    }

    fn poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let registered = &self.registered;
        let count = bufs.len().min(IOV_MAX);
        registered.poll_io(Direction::Read, cx, &mut None, || {
            registered.try_io(Direction::Read, None, |fd| {
                rustix::io::readv(fd, &mut bufs[..count]).map_err(io::Error::from)
            })
        })
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let registered = &self.registered;
        registered.poll_io(Direction::Write, cx, &mut None, || {
            registered.try_io(Direction::Write, Some(buf.len()), |fd| {
                rustix::io::write(fd, buf).map_err(io::Error::from)
            })
        })
    }

    fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let registered = &self.registered;
        let bufs = &bufs[..bufs.len().min(IOV_MAX)];
        let offered = bufs.iter().map(|buf| buf.len()).sum();
        registered.poll_io(Direction::Write, cx, &mut None, || {
            registered.try_io(Direction::Write, Some(offered), |fd| {
                rustix::io::writev(fd, bufs).map_err(io::Error::from)
            })
        })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.registered.get_ref().as_fd()
    }

    /// Deregisters the pipe and gives its descriptor back in blocking mode, as another
    /// process (or a blocking reader) expects it.
    fn into_blocking_fd(self) -> io::Result<OwnedFd> {
        let fd = self.registered.into_inner();
        rustix::io::ioctl_fionbio(&fd, false)?;
        Ok(fd)
    }
}

/// The writing end of a child's standard input: [`Child::stdin`](super::Child::stdin) when the
/// command had `stdin(Stdio::piped())`.
///
/// Writes never block the thread: a full pipe makes the task wait for the child to read. Drop
/// it (or [`close`](futures_lite::AsyncWriteExt::close) it) to let the child see the end of
/// its input. A write after the child closed its end (or exited) is a `BrokenPipe` error, not
/// a `SIGPIPE` (see the module doc of [`nbio::process`](super)).
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use nbio::process::{Command, Stdio};
///
/// nbio::block_on(async {
///     let mut child = Command::new("tr")
///         .args(["a-z", "A-Z"])
///         .stdin(Stdio::piped())
///         .stdout(Stdio::piped())
///         .spawn()?;
///     let mut stdin = child.stdin.take().unwrap();
///     stdin.write_all(b"shout\n").await?;
///     stdin.close().await?; // tr sees the end of its input
///     let mut out = String::new();
///     child.stdout.take().unwrap().read_to_string(&mut out).await?;
///     assert_eq!(out, "SHOUT\n");
///     assert!(child.wait().await?.success());
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct ChildStdin {
    /// `None` once closed.
    pipe: Option<Pipe>,
}

/// The reading end of a child's standard output, when the command had
/// `stdout(Stdio::piped())`. Reads never block the thread; the end of the stream (a read of
/// 0 bytes) comes when the child, and every process it passed the pipe on to, closed it.
pub struct ChildStdout {
    pipe: Pipe,
}

/// The reading end of a child's standard error, when the command had
/// `stderr(Stdio::piped())`; as [`ChildStdout`].
pub struct ChildStderr {
    pipe: Pipe,
}

impl ChildStdin {
    pub(crate) fn from_std(stdin: std::process::ChildStdin) -> io::Result<ChildStdin> {
        Ok(ChildStdin {
            pipe: Some(Pipe::new(stdin.into())?),
        })
    }

    fn open(&self) -> io::Result<&Pipe> {
        self.pipe.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "this ChildStdin was closed; the child has seen the end of its input",
            )
        })
    }

    /// Gives the pipe back as a descriptor in blocking mode, for instance to be another
    /// command's `stdout` (`Stdio::from(fd)`), so that two children talk without this process
    /// in between.
    ///
    /// # Errors
    /// `BrokenPipe` if it was closed; otherwise the error of switching the mode back.
    pub fn into_owned_fd(mut self) -> io::Result<OwnedFd> {
        self.open()?;
        self.pipe.take().expect("checked open").into_blocking_fd()
    }
}

macro_rules! reading_end {
    ($name:ident, $std:ty) => {
        impl $name {
            pub(crate) fn from_std(std: $std) -> io::Result<$name> {
                Ok($name {
                    pipe: Pipe::new(std.into())?,
                })
            }

            /// Gives the pipe back as a descriptor in blocking mode, for instance to be another
            /// command's `stdin` (`Stdio::from(fd)`): the shell's `a | b`, with no copy through
            /// this process.
            ///
            /// # Errors
            /// The error of switching the mode back.
            pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
                self.pipe.into_blocking_fd()
            }

            /// Reads what the child wrote into the spare capacity of `buf`, without zeroing it
            /// first: appends at most `buf.capacity() - buf.len()` bytes (reserving 8 KiB first
            /// if that is 0) and returns how many; `Ok(0)` at the end of the stream.
            ///
            /// Cancel safety: a drop before it completes loses nothing. The length of `buf`
            /// grows in the same poll as the `read(2)` that filled the bytes, so a dropped
            /// `read_buf` leaves `buf` as it was and the bytes in the pipe.
            ///
            /// # Errors
            /// The error of `read(2)`, or of the reactor.
            pub async fn read_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
                let pipe = &self.pipe;
                std::future::poll_fn(|cx| {
                    crate::net::read_buf::poll_into_spare(buf, |spare| {
                        pipe.poll_read_uninit(cx, spare)
                    })
                })
                .await
            }
        }

        /// Reads what the child wrote; `Ok(0)` at the end of the stream.
        impl AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.pipe.poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                self.pipe.poll_read_vectored(cx, bufs)
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.pipe.fd()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.pipe.fd().as_raw_fd()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.pipe.fd().as_raw_fd())
                    .finish()
            }
        }
    };
}

reading_end!(ChildStdout, std::process::ChildStdout);
reading_end!(ChildStderr, std::process::ChildStderr);

/// Writes to the child; `poll_flush` has nothing to do (a pipe has no buffer of ours), and
/// `poll_close` closes the pipe, so the child reads the end of its input.
impl AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.open()?.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.open()?.poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.pipe = None;
        Poll::Ready(Ok(()))
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fd = self.pipe.as_ref().map(|pipe| pipe.fd().as_raw_fd());
        f.debug_struct("ChildStdin").field("fd", &fd).finish()
    }
}
