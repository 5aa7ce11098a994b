//! What TCP and Unix streams share: reading, writing, and `write_all`, the article's send loop.

use std::io;
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
                receive(self, buf)
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

/// Reads with `recv(2)` straight from rustix. std's `read` goes through libc, whose wrapper
/// of a blocking-capable call adds pthread cancellation bookkeeping to every call once the
/// process has a second thread (nbio's watchdog, a worker): about 40 instructions per read.
fn receive(socket: impl AsFd, buf: &mut [u8]) -> io::Result<usize> {
    match rustix::net::recv(socket, buf, rustix::net::RecvFlags::empty()) {
        Ok((read, _)) => Ok(read),
        Err(errno) => Err(errno.into()),
    }
}

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
        self.poll_io(Direction::Read, cx, &mut None, || self.try_read(buf))
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_io(Direction::Write, cx, &mut None, || self.try_write(buf))
    }

    /// One read attempt; `WouldBlock` clears read readiness.
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_io(Direction::Read, None, |io| io.read_now(buf))
    }

    /// One write attempt; `WouldBlock`, or taking less than all of `buf`, clears write
    /// readiness.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_write_io(buf.len(), |io| io.write_now(buf))
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
        self.attempts(Direction::Read, || self.try_read(buf)).await
    }

    pub(crate) async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.attempts(Direction::Write, || self.try_write(buf))
            .await
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
    /// reactor and the thread runs other tasks until the socket drains. One thing the article's
    /// loop does not know: a `send` that took only part of the data has filled the kernel's
    /// buffer, so the next one would fail with `EAGAIN`. `try_write_io` clears the readiness
    /// on such a short write, and the loop waits for writability at once instead of paying for
    /// that failure first.
    pub(crate) async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        let mut remaining = buf;
        while !remaining.is_empty() {
            if !self.readiness().is_ready(Direction::Write) {
                self.worth_trying(Direction::Write).await?;
            }
            match self.try_write_io(remaining.len(), |io| io.write_now(remaining)) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!(
                            "the socket took no more bytes with {} left to write",
                            remaining.len()
                        ),
                    ))
                }
                // A short write cleared the readiness: the loop's next turn waits.
                Ok(sent) => remaining = &remaining[sent..],
                // Counted, and readiness cleared, by try_io: the next turn waits for writable.
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
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

            /// Waits until the kernel reports the socket readable: data, end of stream or an
            /// error has arrived. A socket nothing has waited on yet is registered with the
            /// reactor first, and waits for the kernel's first word on it; a socket whose peer
            /// is silent does not resolve. Readiness then stays until an operation through nbio
            /// gets `WouldBlock` (a `read`, or a [`try_read`](Self::try_read)), so it can be
            /// stale: the next read may still get `WouldBlock`. Pair it with `try_read`, not
            /// with reads on the std socket, which nbio never sees.
            pub async fn readable(&self) -> std::io::Result<()> {
                self.inner.ready(crate::reactor::Direction::Read).await
            }

            /// Waits until the kernel reports room in the send buffer (or an error), as
            /// [`readable`](Self::readable) waits for data; pair it with
            /// [`try_write`](Self::try_write).
            pub async fn writable(&self) -> std::io::Result<()> {
                self.inner.ready(crate::reactor::Direction::Write).await
            }

            /// One non-blocking read: what has arrived, `Ok(0)` at end of stream, or
            /// `WouldBlock` if nothing has, which also clears the readiness that
            /// [`readable`](Self::readable) waits on. With `readable`, the loop that reads only
            /// when there is something to read:
            ///
            /// ```
            /// # nbio::block_on(async {
            /// # let (reader, writer) = nbio::net::AsyncUnixStream::pair()?;
            /// # writer.write_all(b"hi").await?;
            /// # drop(writer);
            /// let mut buf = [0u8; 1024];
            /// loop {
            ///     reader.readable().await?;
            ///     match reader.try_read(&mut buf) {
            ///         Ok(0) => break, // end of stream
            ///         Ok(n) => println!("got {n} bytes"),
            ///         Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
            ///         Err(err) => return Err(err),
            ///     }
            /// }
            /// # std::io::Result::Ok(())
            /// # })?;
            /// # std::io::Result::Ok(())
            /// ```
            pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.inner.try_read(buf)
            }

            /// One non-blocking write: how much the kernel took, or `WouldBlock` if its buffer
            /// is full. `WouldBlock`, or a write that took less than all of `buf`, clears the
            /// readiness that [`writable`](Self::writable) waits on.
            pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner.try_write(buf)
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
