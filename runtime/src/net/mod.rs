//! Sockets: TCP, UDP and Unix, each a std socket in non-blocking mode plus a reactor
//! registration.
//!
//! The article makes one socket non-blocking with `sock.setblocking(0)` and then has to handle
//! `EAGAIN` by hand at every `send`. Every operation here does that for you: it tries the
//! syscall, and on `WouldBlock` parks the task with the reactor until the socket is ready,
//! leaving the thread free for other tasks.
//!
//! Every type is `Send` and `Sync`, so a task holding one can be started with `spawn`, and a
//! socket may be used from several tasks or threads at once (through `&` or an `Arc`). It
//! registers with the reactor of the runtime that first has to wait on it; from then on its
//! readiness comes from that reactor, so a task on another runtime or thread can use it too,
//! as long as that runtime is alive and being driven (its `block_on` running). Once that
//! runtime is dropped, waiting on the socket is an error, never a hang.
//!
//! The common TCP options have methods (`set_keepalive`, `set_linger`, `set_ttl`, the buffer
//! sizes, on `AsyncTcpStream` and `TcpSocket`), and Unix sockets pass descriptors
//! (`send_with_fds`, `recv_with_fds`). Every type also implements `AsFd` and `AsRawFd`, for the
//! options nbio has no method for:
//!
//! ```
//! use std::time::Duration;
//! nbio::block_on(async {
//!     let listener = nbio::net::AsyncTcpListener::bind("127.0.0.1:0")?;
//!     let stream = nbio::net::AsyncTcpStream::connect(listener.local_addr()?).await?;
//!     stream.set_keepalive(Some(Duration::from_secs(60)))?;
//!     // Probe every 10 seconds once keepalive starts (TCP_KEEPINTVL has no method).
//!     rustix::net::sockopt::set_tcp_keepintvl(&stream, Duration::from_secs(10))?;
//!     assert_eq!(rustix::net::sockopt::tcp_keepintvl(&stream)?, Duration::from_secs(10));
//!     std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```

/// `AsFd` and `AsRawFd` for the socket types, so that options nbio has no method for
/// (`TCP_KEEPINTVL`, `IP_TOS`) can be set with `rustix`, `socket2` or `libc`. Leave the
/// descriptor open and in non-blocking mode: the reactor relies on both.
macro_rules! impl_as_fd {
    ($($ty:ty),*) => {$(
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.inner.get_ref().as_fd()
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.inner.get_ref().as_raw_fd()
            }
        }
    )*};
}

/// The most buffers one `readv`/`recvmsg`/`sendmsg` takes (Linux's and the BSDs' `IOV_MAX`);
/// more fail with `EMSGSIZE`/`EINVAL`. A vectored call hands the kernel the first `IOV_MAX`
/// buffers and reports how much of them it took, as std's `write_vectored` does.
///
/// It is the kernel's limit, not a stream's, and two files cut their buffer lists at it:
/// `stream.rs` its writes and Unix reads, `inq.rs` its TCP reads. So it lives here, in the
/// module both belong to, and the two depend on each other one way only: `stream.rs` reads
/// through `inq.rs`, and `inq.rs` knows nothing of streams.
const IOV_MAX: usize = 1024;

mod accept;
mod fds;
mod inq;
mod lookup;
mod options;
pub(crate) mod read_buf;
pub(crate) mod registered;
mod socket;
mod stream;
mod stream_api;
mod tcp;
mod tcp_io;
mod udp;
mod unix;
mod unix_datagram;

pub use lookup::{lookup_host, ToSocketAddrs};
pub use socket::TcpSocket;
pub use tcp::{AsyncTcpListener, AsyncTcpStream};
pub use udp::AsyncUdpSocket;
pub use unix::{AsyncUnixListener, AsyncUnixStream};
pub use unix_datagram::AsyncUnixDatagram;
