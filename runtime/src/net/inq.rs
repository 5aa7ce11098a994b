//! TCP reads that say whether the socket is drained: `TCP_INQ`.
//!
//! A read that returns less than it asked for has *probably* emptied the socket, and a
//! request/response protocol (HTTP keep-alive: read a request, write the answer, read again)
//! would like to wait for the next readiness event instead of paying a `recv` that fails
//! with `EAGAIN`. Probably is not enough: the peer's FIN may have arrived together with the
//! data, in the same edge-triggered event. The next `recv` would return 0 (end of stream),
//! but no further event will ever announce it, so a reader that stopped trying would wait
//! forever. tokio knows because mio registers `EPOLLRDHUP`; `polling` does not.
//!
//! Linux (4.18 and later) can say it itself: with the socket option `TCP_INQ` on, every
//! `recvmsg` carries a control message with how much is still queued, and a FIN counts as
//! something queued ("continue reading" is how the kernel puts it). So a read whose control
//! message says 0 has proved the socket drained, data and end of stream alike, and the
//! caller may clear its read readiness: whatever arrives next wakes the poller again.
//!
//! The option is set on every connection nbio makes or accepts: one `setsockopt` per
//! connection, paid for by the `accept4(SOCK_NONBLOCK)` that saves the `ioctl` std's
//! `accept` needs. (Accepted connections inherit it from their listener, but only those
//! whose handshake completed after it was set.) Where it cannot be set, or on other systems, reads carry no such
//! message and nothing is ever cleared on a short read: the old behaviour, one `EAGAIN`
//! more per request.

use std::io::{self, IoSliceMut};
use std::os::fd::AsFd;

/// What one read got.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Received {
    /// Bytes read; 0 is end of stream.
    pub(crate) len: usize,
    /// The kernel said nothing more is queued: no data and no end of stream. Only ever true
    /// for a read of at least one byte.
    pub(crate) drained: bool,
}

impl Received {
    /// A read that says nothing about what is left.
    pub(crate) fn unknown(len: usize) -> Received {
        Received {
            len,
            drained: false,
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux {
    use std::io;
    use std::mem;
    use std::os::fd::{AsFd, AsRawFd};

    use super::Received;

    /// Turns `TCP_INQ` on; false if the kernel does not know it.
    pub(crate) fn enable(socket: impl AsFd) -> bool {
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from `on`, which outlives the
        // call, on a descriptor the caller's borrow keeps open.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_fd().as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INQ,
                (&on as *const libc::c_int).cast(),
                mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        rc == 0
    }

    /// One `recvmsg(2)` into the buffers `iov` describes, and what `TCP_INQ`'s control
    /// message says is left. Through libc, not rustix: rustix's `recvmsg` takes only
    /// initialised buffers (hyper's are not) and keeps control messages it does not know to
    /// itself.
    ///
    /// # Safety
    /// Each `iovec` must describe memory that is valid for writes of `iov_len` bytes
    /// (initialised or not) for the duration of the call.
    pub(crate) unsafe fn receive(
        socket: impl AsFd,
        iov: &mut [libc::iovec],
    ) -> io::Result<Received> {
        // Room for one control message carrying an int, aligned as cmsghdr wants.
        let mut control = [0u64; 4];
        // SAFETY: msghdr is plain data, for which all zeroes is a valid (empty) value.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len() as _;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&control) as _;
        // SAFETY: `msg` points at `iov` (valid for writes, by this function's contract) and
        // at `control`, both alive for the call; the descriptor is open for the borrow.
        let read = unsafe { libc::recvmsg(socket.as_fd().as_raw_fd(), &mut msg, 0) };
        if read < 0 {
            return Err(io::Error::last_os_error());
        }
        let len = read as usize;
        // SAFETY: `msg` was filled by a successful recvmsg, so CMSG_FIRSTHDR is null or
        // points at a complete header inside `control`, whose data an int fits (checked by
        // its length) and is read unaligned.
        let left = unsafe {
            let header = libc::CMSG_FIRSTHDR(&msg);
            if header.is_null()
                || (*header).cmsg_level != libc::IPPROTO_TCP
                || (*header).cmsg_type != libc::TCP_CM_INQ
                || ((*header).cmsg_len as usize)
                    < libc::CMSG_LEN(mem::size_of::<libc::c_int>() as u32) as usize
            {
                None
            } else {
                Some(
                    libc::CMSG_DATA(header)
                        .cast::<libc::c_int>()
                        .read_unaligned(),
                )
            }
        };
        Ok(Received {
            len,
            drained: len > 0 && left == Some(0),
        })
    }
}

/// Turns on the report of what is left after each read, where the system has it.
pub(crate) fn enable(socket: impl AsFd) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        linux::enable(socket)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = socket;
        false
    }
}

/// Reads into `buf` and says whether the socket is drained.
pub(crate) fn receive(socket: impl AsFd, buf: &mut [u8]) -> io::Result<Received> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut iov = [libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        }];
        // SAFETY: `iov` describes `buf`, writable for the call.
        unsafe { linux::receive(socket, &mut iov) }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let (read, _) = rustix::net::recv(socket, buf, rustix::net::RecvFlags::empty())?;
        Ok(Received::unknown(read))
    }
}

/// Reads into `bufs` (at most `IOV_MAX` of them) and says whether the socket is drained.
pub(crate) fn receive_vectored(
    socket: impl AsFd,
    bufs: &mut [IoSliceMut<'_>],
) -> io::Result<Received> {
    let count = bufs.len().min(super::IOV_MAX);
    let bufs = &mut bufs[..count];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: std guarantees `IoSliceMut` is ABI-compatible with `iovec` on Unix, and
        // each one describes a writable slice borrowed for the call.
        unsafe {
            let iov = std::slice::from_raw_parts_mut(bufs.as_mut_ptr().cast(), bufs.len());
            linux::receive(socket, iov)
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        Ok(Received::unknown(rustix::io::readv(socket, bufs)?))
    }
}

/// Reads into memory that may be uninitialised (hyper's read buffer, `read_buf`'s spare
/// capacity).
pub(crate) fn receive_uninit(
    socket: impl AsFd,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<Received> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let mut iov = [libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        }];
        // SAFETY: `iov` describes `buf`, writable (if uninitialised) for the call; the
        // kernel only writes into it.
        unsafe { linux::receive(socket, &mut iov) }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let (_, read) = rustix::net::recv(socket, buf, rustix::net::RecvFlags::empty())?;
        Ok(Received::unknown(read))
    }
}
