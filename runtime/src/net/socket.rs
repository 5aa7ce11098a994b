//! `TcpSocket`: a TCP socket before it is a listener or a connection, for what
//! `AsyncTcpListener::bind` and `AsyncTcpStream::connect` cannot say: `SO_REUSEADDR`,
//! `SO_REUSEPORT`, the listen backlog, binding a client to a local address.
//!
//! The article makes its socket with `socket.socket()` and configures it before `connect`;
//! this is that step. The socket is non-blocking and close-on-exec from the start, so
//! `connect` waits on the reactor like `AsyncTcpStream::connect` does.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::net::{sockopt, AddressFamily, SocketType};

use super::tcp::{connect_socket, family_of, nonblocking_socket};
use super::{AsyncTcpListener, AsyncTcpStream};

/// A TCP socket to configure, then turn into a listener ([`listen`](Self::listen)) or a
/// connection ([`connect`](Self::connect)).
///
/// A listener that must rebind its port while old connections linger in `TIME_WAIT`, with a
/// backlog of its own:
///
/// ```
/// use nbio::net::TcpSocket;
/// let socket = TcpSocket::new_v4()?;
/// socket.set_reuseaddr(true)?;
/// socket.bind("127.0.0.1:0".parse().unwrap())?;
/// let listener = socket.listen(1024)?;
/// assert_ne!(listener.local_addr()?.port(), 0);
/// # std::io::Result::Ok(())
/// ```
///
/// A client that connects from a chosen local address:
///
/// ```
/// use nbio::net::{AsyncTcpListener, TcpSocket};
/// nbio::block_on(async {
///     let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
///     let socket = TcpSocket::new_v4()?;
///     socket.bind("127.0.0.1:0".parse().unwrap())?;
///     let from = socket.local_addr()?;
///     let stream = socket.connect(listener.local_addr()?).await?;
///     assert_eq!(stream.local_addr()?, from);
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct TcpSocket {
    socket: OwnedFd,
    /// Which addresses it can bind and connect to.
    family: AddressFamily,
}

impl TcpSocket {
    /// A new IPv4 TCP socket.
    #[track_caller]
    pub fn new_v4() -> io::Result<TcpSocket> {
        crate::sim::refuse_real("TcpSocket::new_v4")?;
        TcpSocket::new(AddressFamily::INET)
    }

    /// A new IPv6 TCP socket.
    #[track_caller]
    pub fn new_v6() -> io::Result<TcpSocket> {
        crate::sim::refuse_real("TcpSocket::new_v6")?;
        TcpSocket::new(AddressFamily::INET6)
    }

    fn new(family: AddressFamily) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            socket: nonblocking_socket(family, SocketType::STREAM)?,
            family,
        })
    }

    /// Sets `SO_REUSEADDR`: binding succeeds even though connections of an earlier socket on
    /// the same port are still in `TIME_WAIT` (a server restarting at once). It never lets two
    /// listeners share a port; that is [`set_reuseport`](Self::set_reuseport).
    pub fn set_reuseaddr(&self, reuse: bool) -> io::Result<()> {
        Ok(sockopt::set_socket_reuseaddr(&self.socket, reuse)?)
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        Ok(sockopt::socket_reuseaddr(&self.socket)?)
    }

    /// Sets `SO_REUSEPORT`: several sockets of the same user, each with it set, may bind the
    /// same address and port; the kernel spreads incoming connections over their listeners
    /// (one listener per thread, say).
    pub fn set_reuseport(&self, reuse: bool) -> io::Result<()> {
        Ok(sockopt::set_socket_reuseport(&self.socket, reuse)?)
    }

    /// Whether `SO_REUSEPORT` is set.
    pub fn reuseport(&self) -> io::Result<bool> {
        Ok(sockopt::socket_reuseport(&self.socket)?)
    }

    /// Sets `TCP_NODELAY` on the socket (and so on the connection `connect` makes, or on the
    /// connections a listener accepts, on Linux).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        Ok(sockopt::set_tcp_nodelay(&self.socket, nodelay)?)
    }

    super::options::socket_options!();

    /// Binds to `addr`. Never waits.
    ///
    /// # Errors
    /// `InvalidInput` if `addr` is not of the socket's family (an IPv6 address for
    /// [`new_v4`](Self::new_v4)) or the socket is bound already; otherwise the OS error
    /// (`AddrInUse`, `AddrNotAvailable`, `PermissionDenied`, …). The message names the
    /// address.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.check_family(addr, "bind to")?;
        rustix::net::bind(&self.socket, &addr).map_err(|errno| {
            let err = io::Error::from(errno);
            let message = match err.kind() {
                io::ErrorKind::InvalidInput => {
                    format!("could not bind to {addr}: the socket is bound already")
                }
                io::ErrorKind::AddrInUse => format!(
                    "could not bind to {addr}: the address is in use (set_reuseaddr(true) \
                     rebinds a port whose old connections linger in TIME_WAIT)"
                ),
                _ => format!("could not bind to {addr}: {err}"),
            };
            io::Error::new(err.kind(), message)
        })
    }

    /// Starts listening, with room for `backlog` connections that completed their handshake
    /// but were not accepted yet (the kernel caps it at `net.core.somaxconn`). An unbound
    /// socket is bound to a port the system picks. Never waits.
    pub fn listen(self, backlog: u32) -> io::Result<AsyncTcpListener> {
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        rustix::net::listen(&self.socket, backlog).map_err(|errno| {
            let err = io::Error::from(errno);
            io::Error::new(err.kind(), format!("could not listen: {err}"))
        })?;
        AsyncTcpListener::from_std(TcpListener::from(self.socket))
    }

    /// Connects to `addr` without blocking the thread, as `AsyncTcpStream::connect`, with the
    /// options and the local address set on this socket.
    ///
    /// # Errors
    /// `InvalidInput` if `addr` is not of the socket's family; otherwise as
    /// `AsyncTcpStream::connect` (`ConnectionRefused`, …), naming the address.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<AsyncTcpStream> {
        self.check_family(addr, "connect to")?;
        connect_socket(self.socket, addr).await
    }

    /// The address the socket is bound to (`0.0.0.0:0` or `[::]:0` before `bind`).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        let addr = rustix::net::getsockname(&self.socket)?;
        SocketAddr::try_from(addr)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the socket has no IP address"))
    }

    fn check_family(&self, addr: SocketAddr, what: &str) -> io::Result<()> {
        if family_of(addr) == self.family {
            return Ok(());
        }
        let (made, fix) = if self.family == AddressFamily::INET {
            ("an IPv4 socket (TcpSocket::new_v4)", "TcpSocket::new_v6")
        } else {
            ("an IPv6 socket (TcpSocket::new_v6)", "TcpSocket::new_v4")
        };
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{made} cannot {what} {addr}; make the socket with {fix}"),
        ))
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket")
            .field("fd", &self.socket.as_raw_fd())
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}
