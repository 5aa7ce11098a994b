//! Descriptor passing (`SCM_RIGHTS`) on Unix sockets: `send_with_fds` and `recv_with_fds` on
//! `AsyncUnixStream` and `AsyncUnixDatagram`, written once by [`fd_passing!`].
//!
//! The kernel duplicates each descriptor sent into the receiving process, as `dup` would
//! across processes: the sender keeps its own, and the two share the open file (its offset,
//! its flags). The receiver's copies are close-on-exec (`MSG_CMSG_CLOEXEC`), so a child it
//! spawns does not inherit them by accident.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// The most descriptors one message carries: Linux's `SCM_MAX_FD`. More are refused by the
/// kernel with `EINVAL`; here, before the call, with `InvalidInput`.
pub(super) const MAX_FDS: usize = 253;

/// One non-blocking `sendmsg` of `buf` with `fds` attached.
pub(super) fn try_send(
    socket: BorrowedFd<'_>,
    buf: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "cannot send {} descriptors in one message: the kernel takes at most {MAX_FDS}; \
                 send them in several",
                fds.len()
            ),
        ));
    }
    if buf.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "descriptors travel with data: give at least one byte to send with them",
        ));
    }
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        // The buffer was sized for exactly this message, so it fits.
        let pushed = control.push(SendAncillaryMessage::ScmRights(fds));
        debug_assert!(pushed, "the control buffer is sized for the descriptors");
    }
    let sent = rustix::net::sendmsg(
        socket,
        &[IoSlice::new(buf)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(sent)
}

/// One non-blocking `recvmsg` into `buf`, with whatever descriptors came with it.
pub(super) fn try_recv(
    socket: BorrowedFd<'_>,
    buf: &mut [u8],
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    Ok((msg.bytes, fds))
}

/// `send_with_fds` and `recv_with_fds`, written into the `impl` of a Unix socket type whose
/// `inner` is a `Registered` socket.
macro_rules! fd_passing {
    () => {
        /// Sends `buf` with the descriptors `fds` attached (`SCM_RIGHTS`), waiting while the
        /// socket has no room. The receiver gets its own copies of the descriptors (see
        /// [`recv_with_fds`](Self::recv_with_fds)); `fds` stay open here. At most 253
        /// descriptors go in one message (Linux's `SCM_MAX_FD`). On a stream, the descriptors
        /// ride with the first byte sent, and the count returned may be less than `buf.len()`,
        /// as with `write`.
        ///
        /// Handing a pipe's write end to the other side, which writes into it:
        ///
        /// ```
        /// use std::io::{Read, Write};
        /// use std::os::fd::AsFd;
        /// nbio::block_on(async {
        ///     let (a, b) = nbio::net::AsyncUnixStream::pair()?;
        ///     let (mut reader, writer) = std::io::pipe()?;
        ///     a.send_with_fds(b"take this", &[writer.as_fd()]).await?;
        ///     drop(writer);
        ///     let mut buf = [0u8; 16];
        ///     let (n, fds) = b.recv_with_fds(&mut buf).await?;
        ///     assert_eq!(&buf[..n], b"take this");
        ///     let mut end = std::io::PipeWriter::from(fds.into_iter().next().unwrap());
        ///     end.write_all(b"hi")?;
        ///     drop(end);
        ///     let mut got = String::new();
        ///     reader.read_to_string(&mut got)?;
        ///     assert_eq!(got, "hi");
        ///     std::io::Result::Ok(())
        /// })?;
        /// # std::io::Result::Ok(())
        /// ```
        ///
        /// Cancel safety: dropping this future before it completes has sent nothing, neither
        /// bytes nor descriptors.
        ///
        /// # Errors
        /// `InvalidInput` if `buf` is empty (descriptors travel with data) or `fds` holds more
        /// than 253; otherwise the kernel's error.
        pub async fn send_with_fds(
            &self,
            buf: &[u8],
            fds: &[std::os::fd::BorrowedFd<'_>],
        ) -> std::io::Result<usize> {
            self.inner
                .io(crate::reactor::Direction::Write, |socket| {
                    super::fds::try_send(std::os::fd::AsFd::as_fd(socket), buf, fds)
                })
                .await
        }

        /// Receives into `buf`, with the descriptors that came with those bytes, each
        /// close-on-exec and owned by the caller (dropping one closes it). The receive buffer
        /// holds the descriptors of one message (253 at most); a stream receive does not
        /// run on past a send that carried descriptors. Plain reads (`read`, `recv`)
        /// of bytes that carried descriptors discard those descriptors: read them with this.
        ///
        /// Cancel safety: dropping this future before it completes loses nothing: bytes and
        /// descriptors stay queued for the next receive.
        pub async fn recv_with_fds(
            &self,
            buf: &mut [u8],
        ) -> std::io::Result<(usize, Vec<std::os::fd::OwnedFd>)> {
            self.inner
                .io(crate::reactor::Direction::Read, |socket| {
                    super::fds::try_recv(std::os::fd::AsFd::as_fd(socket), buf)
                })
                .await
        }
    };
}

pub(super) use fd_passing;
