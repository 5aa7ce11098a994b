//! What TCP and Unix streams share: reading, writing, and `write_all`, the article's send loop.

use std::io::{self, Read};
use std::mem;
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::task::{Context, Poll};

use super::registered::Registered;
use crate::reactor::Direction;

/// The non-blocking syscalls a stream socket offers to the shared code below.
pub(crate) trait StreamIo: AsFd {
    fn read_now(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn write_now(&self, buf: &[u8]) -> io::Result<usize>;
    fn shutdown_now(&self, how: Shutdown) -> io::Result<()>;
}

macro_rules! stream_io {
    ($ty:ty) => {
        impl StreamIo for $ty {
            fn read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
                (&mut &*self).read(buf)
            }

            fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
                send_without_sigpipe(self, buf)
            }

            fn shutdown_now(&self, how: Shutdown) -> io::Result<()> {
                self.shutdown(how)
            }
        }
    };
}

stream_io!(TcpStream);
stream_io!(UnixStream);

/// Writes with `MSG_NOSIGNAL`: a peer that went away gives `EPIPE`, an error the caller sees,
/// instead of `SIGPIPE`, a signal whose default action ends the process.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn send_without_sigpipe(socket: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    rustix::net::send(socket, buf, rustix::net::SendFlags::NOSIGNAL).map_err(io::Error::from)
}

/// Elsewhere there is no `MSG_NOSIGNAL`; Rust programs ignore `SIGPIPE` by default.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn send_without_sigpipe(socket: impl AsFd, buf: &[u8]) -> io::Result<usize> {
    rustix::io::write(socket, buf).map_err(io::Error::from)
}

impl<T: StreamIo> Registered<T> {
    /// Reads what has arrived. A read that returns less than asked for does *not* clear the
    /// readiness: the peer's FIN may be queued behind the data, and `polling` does not report
    /// half-closes apart from data (no `EPOLLRDHUP`), so no further event would announce it.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(Direction::Read, cx, &mut None, |io| io.read_now(buf))
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_io(Direction::Write, cx, &mut None, |io| io.write_now(buf))
    }

    /// Shuts the write half, as `AsyncWrite::poll_close` wants. A stream that is already
    /// disconnected counts as closed.
    pub(crate) fn poll_close(&self) -> Poll<io::Result<()>> {
        match self.get_ref().shutdown_now(Shutdown::Write) {
            Err(err) if err.kind() == io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
            result => Poll::Ready(result),
        }
    }

    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io(Direction::Read, |io| io.read_now(buf)).await
    }

    pub(crate) async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io(Direction::Write, |io| io.write_now(buf)).await
    }

    /// The article's send loop, line for line:
    ///
    /// ```text
    /// while len(data):
    ///     try:
    ///         sent = sock.send(data)           # write what the kernel takes
    ///         data = data[sent:]               # and go on at once with the rest
    ///     except socket.error, e:
    ///         if e.errno != errno.EAGAIN:
    ///             raise e                      # a real error ends the loop
    ///         yield ('w', sock)                # full: wait until writable
    /// ```
    ///
    /// The `yield ('w', sock)` becomes `.await` on writability: the task is parked with the
    /// reactor and the thread runs other tasks until the socket drains.
    pub(crate) async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        let mut remaining = buf;
        while !remaining.is_empty() {
            match self.try_io(Direction::Write, Some(remaining.len()), |io| {
                io.write_now(remaining)
            }) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!(
                            "the socket took no more bytes with {} left to write",
                            remaining.len()
                        ),
                    ))
                }
                Ok(sent) => remaining = &remaining[sent..],
                // Counted, and readiness cleared, by try_io: wait for the poller to say writable.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    self.ready(Direction::Write).await?
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    /// Reads until `buf` is full; end of stream first is `UnexpectedEof`, as in std.
    pub(crate) async fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        let wanted = buf.len();
        while !buf.is_empty() {
            let read = self.read(buf).await?;
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the peer closed the stream after {} of the {wanted} bytes expected",
                        wanted - buf.len()
                    ),
                ));
            }
            buf = &mut mem::take(&mut buf)[read..];
        }
        Ok(())
    }
}

/// The reading and writing methods every stream type offers, the same for TCP and Unix: the
/// type must hold its socket as `inner: Registered<_>`.
macro_rules! stream_methods {
    ($ty:ty) => {
        impl $ty {
            /// Reads what has arrived into `buf`, waiting if nothing has. `Ok(0)` is end of
            /// stream.
            pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.inner.read(buf).await
            }

            /// Writes what the kernel takes now (at least one byte), waiting if its buffer is
            /// full.
            pub async fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner.write(buf).await
            }

            /// Writes all of `buf`: the article's send loop. Each partial write advances at
            /// once; only `WouldBlock` waits, for writability, without blocking the thread.
            /// Counts each wait in `Stats::would_block`. A peer that goes away gives an error,
            /// never `SIGPIPE`.
            pub async fn write_all(&self, buf: &[u8]) -> std::io::Result<()> {
                self.inner.write_all(buf).await
            }

            /// Reads exactly `buf.len()` bytes; end of stream first is `UnexpectedEof`.
            pub async fn read_exact(&self, buf: &mut [u8]) -> std::io::Result<()> {
                self.inner.read_exact(buf).await
            }

            /// A stream socket has no user-space buffer to flush: completes at once.
            pub async fn flush(&self) -> std::io::Result<()> {
                Ok(())
            }

            /// Shuts down the read half, the write half or both, as std's `shutdown`.
            pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                self.inner.get_ref().shutdown(how)
            }

            /// Waits until the socket may be readable: at once if nothing has shown otherwise
            /// yet (a new socket, or one whose last read did not get `WouldBlock`), else until
            /// the reactor reports new readiness. Like every readiness signal it can be
            /// spurious: the next read may still get `WouldBlock`, and then waits in turn.
            pub async fn readable(&self) -> std::io::Result<()> {
                self.inner.ready(crate::reactor::Direction::Read).await
            }

            /// Waits until the socket may be writable: at once if nothing has shown otherwise
            /// yet, else until the reactor reports room in the send buffer. It can be spurious,
            /// as `readable` can.
            pub async fn writable(&self) -> std::io::Result<()> {
                self.inner.ready(crate::reactor::Direction::Write).await
            }
        }
    };
}

pub(crate) use stream_methods;

/// `futures-io`'s `AsyncRead` and `AsyncWrite` for a stream type and for a shared reference
/// to it, so that `futures_lite::io::copy`, `BufReader` and friends work on both.
macro_rules! impl_async_read_write {
    ($ty:ty) => {
        impl futures_lite::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }
        }

        impl futures_lite::io::AsyncRead for &$ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }
        }

        impl futures_lite::io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_write(cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.inner.poll_close()
            }
        }

        impl futures_lite::io::AsyncWrite for &$ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_write(cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.inner.poll_close()
            }
        }
    };
}

pub(crate) use impl_async_read_write;
