//! What TCP and Unix streams share: reading, writing (plain and vectored), and `write_all`,
//! the article's send loop. The public methods and the futures-io traits built on them are
//! in `stream_api.rs`.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem;
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::task::{Context, Poll};

use super::inq::{self, Received};
use super::registered::Registered;
use super::IOV_MAX;
use crate::reactor::Direction;

/// The non-blocking syscalls a stream socket offers to the shared code below.
///
/// A read reports whether the kernel said the socket is drained (see `inq.rs`): TCP can on
/// Linux, Unix streams cannot.
pub(crate) trait StreamIo: AsFd {
    fn read_now(&self, buf: &mut [u8]) -> io::Result<Received>;
    fn read_vectored_now(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<Received>;
    fn read_uninit_now(&self, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<Received>;
    fn write_now(&self, buf: &[u8]) -> io::Result<usize>;
    fn write_vectored_now(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    fn shutdown_now(&self, how: Shutdown) -> io::Result<()>;
}

/// The writes and the shutdown, the same for both stream types.
macro_rules! stream_writes {
    () => {
        fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
            send_without_sigpipe(self, buf)
        }

        fn write_vectored_now(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            send_vectored_without_sigpipe(self, &bufs[..bufs.len().min(IOV_MAX)])
        }

        fn shutdown_now(&self, how: Shutdown) -> io::Result<()> {
            self.shutdown(how)
        }
    };
}

/// TCP reads with `recvmsg(2)` and `TCP_INQ`, which say whether the socket is drained.
impl StreamIo for TcpStream {
    fn read_now(&self, buf: &mut [u8]) -> io::Result<Received> {
        inq::receive(self, buf)
    }

    fn read_vectored_now(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<Received> {
        inq::receive_vectored(self, bufs)
    }

    fn read_uninit_now(&self, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<Received> {
        inq::receive_uninit(self, buf)
    }

    stream_writes!();
}

/// Unix stream reads: plain `recv(2)` and `readv(2)`, which cannot say what is left.
impl StreamIo for UnixStream {
    fn read_now(&self, buf: &mut [u8]) -> io::Result<Received> {
        receive(self, buf).map(Received::unknown)
    }

    fn read_vectored_now(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<Received> {
        let count = bufs.len().min(IOV_MAX);
        let read = rustix::io::readv(self, &mut bufs[..count])?;
        Ok(Received::unknown(read))
    }

    fn read_uninit_now(&self, buf: &mut [std::mem::MaybeUninit<u8>]) -> io::Result<Received> {
        // rustix's `recv` takes uninitialised memory: the kernel only writes to it.
        let (_, read) = rustix::net::recv(self, buf, rustix::net::RecvFlags::empty())?;
        Ok(Received::unknown(read))
    }

    stream_writes!();
}

/// Reads with `recv(2)` straight from rustix. std's `read` goes through libc, whose wrapper
/// of a blocking-capable call adds pthread cancellation bookkeeping to every call once the
/// process has a second thread (nbio's watchdog, a worker): about 40 instructions per read.
/// (TCP reads pay that wrapper for `recvmsg`, in `inq.rs`, to save a whole syscall instead.)
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

/// `send_without_sigpipe` for several buffers at once: one `sendmsg(2)` gathers them, so a
/// response's head and body leave in one syscall (and, with `TCP_NODELAY`, one segment)
/// instead of one `send` each. `writev` would do the same, but takes no `MSG_NOSIGNAL`.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn send_vectored_without_sigpipe(socket: impl AsFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    use rustix::net::{SendAncillaryBuffer, SendFlags};
    let mut no_control = SendAncillaryBuffer::default();
    rustix::net::sendmsg(socket, bufs, &mut no_control, SendFlags::NOSIGNAL)
        .map_err(io::Error::from)
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn send_vectored_without_sigpipe(socket: impl AsFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    rustix::io::writev(socket, bufs).map_err(io::Error::from)
}

/// How many bytes `bufs` offer in all.
fn total_len(bufs: &[IoSlice<'_>]) -> usize {
    bufs.iter().map(|buf| buf.len()).sum()
}

impl<T: StreamIo> Registered<T> {
    /// Reads what has arrived. A read that returns less than asked for clears the readiness
    /// only when the kernel proved the socket drained (TCP on Linux, `inq.rs`): otherwise the
    /// peer's FIN may be queued behind the data, and `polling` does not report half-closes
    /// apart from data (no `EPOLLRDHUP`), so no further event would announce it.
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

    /// `poll_read` into several buffers with one `readv(2)`; the same readiness rule.
    pub(crate) fn poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(Direction::Read, cx, &mut None, || {
            self.try_read_vectored(bufs)
        })
    }

    /// `poll_read` into memory that may be uninitialised (hyper's read buffer, `read_buf`'s
    /// spare capacity), which saves zeroing it first; the same readiness rule.
    pub(crate) fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(Direction::Read, cx, &mut None, || {
            self.try_read_io(|io| io.read_uninit_now(buf))
        })
    }

    /// `poll_write` of several buffers with one `sendmsg(2)`.
    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(Direction::Write, cx, &mut None, || {
            self.try_write_vectored(bufs)
        })
    }

    /// Waits for the kernel's word that `dir` is ready, in poll form: `readable()` and
    /// `writable()` for code that implements its own futures. The waker stays filed until
    /// the socket's next event (or until the socket is dropped), as every futures-io poll's.
    pub(crate) fn poll_ready_for(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        self.poll_ready(dir, false, cx, &mut None)
    }

    /// One read attempt; `WouldBlock` clears read readiness, and so does a read the kernel
    /// proved drained the socket (`inq.rs`).
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_read_io(|io| io.read_now(buf))
    }

    /// One read attempt of any form: `try_io`, and a read that drained the socket (nothing
    /// left, not even an end of stream) clears read readiness, as a short write clears write
    /// readiness. The next read then waits for the poller's next event instead of paying a
    /// syscall for its `EAGAIN`.
    fn try_read_io(&self, op: impl FnOnce(&T) -> io::Result<Received>) -> io::Result<usize> {
        let seen = self.readiness();
        let received = self.try_io(Direction::Read, None, op)?;
        if received.drained {
            self.drained(Direction::Read, seen);
        }
        Ok(received.len)
    }

    /// One write attempt; `WouldBlock`, or taking less than all of `buf`, clears write
    /// readiness.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_write_io(buf.len(), |io| io.write_now(buf))
    }

    /// One vectored read attempt; the readiness rule of `try_read`.
    pub(crate) fn try_read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.try_read_io(|io| io.read_vectored_now(bufs))
    }

    /// One vectored write attempt. What it was offered is the total of the buffers the kernel
    /// is handed (the first `IOV_MAX`): taking less than that clears write readiness, as a
    /// short plain write does.
    pub(crate) fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let bufs = &bufs[..bufs.len().min(IOV_MAX)];
        self.try_write_io(total_len(bufs), |io| io.write_vectored_now(bufs))
    }

    /// Shuts down the read half, the write half or both, as std's `shutdown`.
    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.get_ref().shutdown_now(how)
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

    pub(crate) async fn read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.attempts(Direction::Read, || self.try_read_vectored(bufs))
            .await
    }

    pub(crate) async fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.attempts(Direction::Write, || self.try_write_vectored(bufs))
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
