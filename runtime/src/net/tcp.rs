//! TCP: `AsyncTcpListener` and `AsyncTcpStream`.
//!
//! The article's client, in nbio:
//!
//! ```
//! use nbio::net::{AsyncTcpListener, AsyncTcpStream};
//!
//! nbio::block_on(async {
//!     let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     let server = nbio::spawn(async move {
//!         let (conn, _) = listener.accept().await?;
//!         let mut data = Vec::new();
//!         let mut buf = [0u8; 1024]; // the article's conn.recv(1024)
//!         loop {
//!             let n = conn.read(&mut buf).await?;
//!             if n == 0 {
//!                 return std::io::Result::Ok(data);
//!             }
//!             data.extend_from_slice(&buf[..n]);
//!         }
//!     });
//!     let sock = AsyncTcpStream::connect(addr).await?;
//!     let data = b"foobar\n".repeat(1024);
//!     sock.write_all(&data).await?; // never blocks the thread
//!     sock.shutdown(std::net::Shutdown::Write)?;
//!     assert_eq!(server.await.unwrap()?, data);
//!     std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::panic::Location;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_lite::Stream;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketType};

use super::accept::{self, Incoming, Listen, Patience};
use super::inq;
use super::lookup::{self, ToSocketAddrs};
use super::registered::Registered;
use super::stream_api::{impl_async_read_write, stream_methods};
use super::tcp_io::TcpIo;
use crate::reactor::Direction;
use crate::sim::{Hosted, SimListener, SimStream};

/// A TCP listener whose `accept` waits without blocking the thread.
pub struct AsyncTcpListener {
    inner: ListenerIo,
    /// The back-off of `poll_accept` when the process is out of descriptors, kept between
    /// its calls (`accept` and `incoming` keep their own).
    patience: Mutex<Patience>,
}

impl Listen for AsyncTcpListener {
    type Socket = TcpListener;
    type Conn = (AsyncTcpStream, SocketAddr);

    fn registered(&self) -> &Registered<TcpListener> {
        match &self.inner {
            ListenerIo::Real(registered) => registered,
            ListenerIo::Sim(_) => unreachable!("a simulated listener accepts through sim"),
        }
    }

    fn accept_once(listener: &TcpListener) -> io::Result<(AsyncTcpStream, SocketAddr)> {
        let (stream, peer) = loop {
            match accept_nonblocking(listener) {
                // A connection reset before it was accepted (the BSDs): take the next one.
                Err(err) if err.kind() == io::ErrorKind::ConnectionAborted => continue,
                result => break result?,
            }
        };
        // Non-blocking from the accept itself. TCP_INQ is set on each connection: one set on
        // the listener would be inherited only by connections whose handshake came after it.
        inq::enable(&stream);
        Ok((AsyncTcpStream::wrap(stream), peer))
    }
}

/// `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`: the connection needs no second syscall
/// to become non-blocking (std's `accept` returns a blocking one).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn accept_nonblocking(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    use rustix::net::SocketFlags;
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let (socket, peer) = rustix::net::acceptfrom_with(listener, flags)?;
    let peer = peer
        .and_then(|peer| SocketAddr::try_from(peer).ok())
        .ok_or_else(|| io::Error::other("accept gave a connection without an IP address"))?;
    Ok((TcpStream::from(socket), peer))
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn accept_nonblocking(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    let (stream, peer) = listener.accept()?;
    stream.set_nonblocking(true)?;
    Ok((stream, peer))
}

impl AsyncTcpListener {
    /// Binds to `addr` (trying each address it resolves to), with `SO_REUSEADDR` as std sets it
    /// and room for [`DEFAULT_BACKLOG`](Self::DEFAULT_BACKLOG) connections waiting to be
    /// accepted. Binding never waits, so this is not async; it may be called outside a runtime.
    /// For other socket options or another backlog, see [`TcpSocket`](super::TcpSocket).
    ///
    /// ```
    /// let listener = nbio::net::AsyncTcpListener::bind("127.0.0.1:0")?;
    /// assert_ne!(listener.local_addr()?.port(), 0);
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    /// If no address could be bound; the message names the address.
    pub fn bind<A: std::net::ToSocketAddrs>(addr: A) -> io::Result<AsyncTcpListener> {
        if let Some(hosted) = crate::sim::current() {
            return bind_simulated(&hosted, addr);
        }
        let mut last_err = None;
        for addr in addr.to_socket_addrs()? {
            let bound = (|| {
                let socket = match addr {
                    SocketAddr::V4(_) => super::TcpSocket::new_v4()?,
                    SocketAddr::V6(_) => super::TcpSocket::new_v6()?,
                };
                socket.set_reuseaddr(true)?;
                socket.bind(addr)?;
                socket.listen(Self::DEFAULT_BACKLOG)
            })();
            match bound {
                Ok(listener) => return Ok(listener),
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err.unwrap_or_else(no_address))
    }

    /// The listen backlog of [`bind`](Self::bind): how many connections that finished their
    /// handshake may wait for `accept`. std's `TcpListener::bind` asks for 128, which a burst
    /// of connections overflows: the kernel then drops handshakes, and clients see their
    /// connections stall or reset (500 connections at once did, in this project's tests).
    /// 1,024 (capped by `net.core.somaxconn`) is what tokio asks for too.
    pub const DEFAULT_BACKLOG: u32 = 1024;

    /// Wraps a std listener, switching it to non-blocking mode.
    #[track_caller]
    pub fn from_std(listener: TcpListener) -> io::Result<AsyncTcpListener> {
        crate::sim::refuse_real("AsyncTcpListener::from_std")?;
        listener.set_nonblocking(true)?;
        Ok(AsyncTcpListener {
            inner: ListenerIo::Real(Registered::new(listener)),
            patience: Mutex::new(Patience::new()),
        })
    }

    /// Waits for a connection. Where the system reports a connection that the client reset
    /// before it was accepted as `ECONNABORTED` (the BSDs, macOS), it is skipped, not returned
    /// as an error; Linux hands such a connection over, and its first read reports the reset.
    /// If the process is out of file descriptors, waits (backing off up to 100 ms between
    /// attempts) until one is free instead of failing, so an accept loop never spins.
    pub async fn accept(&self) -> io::Result<(AsyncTcpStream, SocketAddr)> {
        match &self.inner {
            ListenerIo::Real(_) => accept::accept(self).await,
            ListenerIo::Sim(sim) => std::future::poll_fn(|cx| accept_simulated(sim, cx)).await,
        }
    }

    /// [`accept`](Self::accept) in poll form, for code that writes its own futures (a server
    /// library's accept loop). `Ready` with a connection or an error; `Pending` with `cx`'s
    /// waker filed until the listener's next event. As with every poll form, only the waker
    /// of the latest call is sure to be woken: one task should poll a listener this way.
    ///
    /// ```
    /// use nbio::net::{AsyncTcpListener, AsyncTcpStream};
    /// nbio::block_on(async {
    ///     let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
    ///     let client = AsyncTcpStream::connect(listener.local_addr()?).await?;
    ///     let (conn, peer) = std::future::poll_fn(|cx| listener.poll_accept(cx)).await?;
    ///     assert_eq!(peer, client.local_addr()?);
    ///     assert_eq!(conn.peer_addr()?, client.local_addr()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(AsyncTcpStream, SocketAddr)>> {
        if let ListenerIo::Sim(sim) = &self.inner {
            return accept_simulated(sim, cx);
        }
        let mut patience = self.patience.lock().unwrap_or_else(PoisonError::into_inner);
        patience.poll(cx, |cx| accept::poll_accept_once(self, cx, &mut None))
    }

    /// The connections this listener accepts, as a futures-lite [`Stream`] that never ends by
    /// itself: each item is a connection, or an accept error (running out of descriptors is
    /// not one: it waits, as [`accept`](Self::accept) does). Dropping the stream takes back
    /// the waker it filed.
    ///
    /// ```
    /// use futures_lite::StreamExt;
    /// use nbio::net::{AsyncTcpListener, AsyncTcpStream};
    /// nbio::block_on(async {
    ///     let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
    ///     let addr = listener.local_addr()?;
    ///     nbio::spawn(async move { AsyncTcpStream::connect(addr).await?.write_all(b"hi").await });
    ///     let mut incoming = listener.incoming();
    ///     let conn = incoming.next().await.expect("the stream never ends")?;
    ///     let mut buf = [0u8; 2];
    ///     conn.read_exact(&mut buf).await?;
    ///     assert_eq!(&buf, b"hi");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn incoming(&self) -> impl Stream<Item = io::Result<AsyncTcpStream>> + Send + Unpin + '_ {
        let mut real = match &self.inner {
            ListenerIo::Real(_) => Some(Incoming::new(self)),
            ListenerIo::Sim(_) => None,
        };
        futures_lite::stream::poll_fn(move |cx| {
            let accepted = match real.as_mut() {
                Some(incoming) => futures_lite::StreamExt::poll_next(incoming, cx),
                None => self.poll_accept(cx).map(Some),
            };
            accepted.map(|accepted| accepted.map(|accepted| accepted.map(|(stream, _)| stream)))
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            ListenerIo::Real(registered) => registered.get_ref().local_addr(),
            ListenerIo::Sim(sim) => Ok(sim.local_addr()),
        }
    }
}

/// A listener's transport: a kernel socket, or a listener of the simulated network.
enum ListenerIo {
    Real(Registered<TcpListener>),
    Sim(SimListener),
}

impl ListenerIo {
    /// The kernel socket (for `AsFd`).
    ///
    /// # Panics
    /// For a simulated listener, which has none.
    fn get_ref(&self) -> &TcpListener {
        match self {
            ListenerIo::Real(registered) => registered.get_ref(),
            ListenerIo::Sim(_) => {
                panic!("nbio: a simulated TCP listener (inside nbio::sim) has no socket descriptor")
            }
        }
    }
}

impl fmt::Debug for ListenerIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenerIo::Real(registered) => registered.fmt(f),
            ListenerIo::Sim(sim) => write!(f, "simulated {}", sim.local_addr()),
        }
    }
}

/// `bind` inside a simulated host: the first address that binds on the simulated network.
fn bind_simulated<A: std::net::ToSocketAddrs>(
    hosted: &Hosted,
    addr: A,
) -> io::Result<AsyncTcpListener> {
    let mut last_err = None;
    for addr in addr.to_socket_addrs()? {
        match SimListener::bind(hosted, addr) {
            Ok(sim) => {
                return Ok(AsyncTcpListener {
                    inner: ListenerIo::Sim(sim),
                    patience: Mutex::new(Patience::new()),
                })
            }
            Err(err) => last_err = Some(err),
        }
    }
    Err(last_err.unwrap_or_else(no_address))
}

/// `poll_accept` of a simulated listener.
fn accept_simulated(
    sim: &SimListener,
    cx: &mut Context<'_>,
) -> Poll<io::Result<(AsyncTcpStream, SocketAddr)>> {
    sim.poll_accept(cx).map(|accepted| {
        accepted.map(|(stream, peer)| {
            let stream = AsyncTcpStream {
                inner: TcpIo::Sim(stream),
            };
            (stream, peer)
        })
    })
}

impl fmt::Debug for AsyncTcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncTcpListener")
            .field(&self.inner)
            .finish()
    }
}

/// A TCP connection whose reads and writes wait without blocking the thread.
///
/// Every method takes `&self`, as std's `&TcpStream` does; `AsyncRead` and `AsyncWrite` are
/// implemented for both `AsyncTcpStream` and `&AsyncTcpStream`.
pub struct AsyncTcpStream {
    inner: TcpIo,
}

impl AsyncTcpStream {
    /// Connects to `addr`, trying each address it resolves to in turn, without blocking the
    /// thread while the handshake runs. A host name (`"example.org:80"`) is resolved on the
    /// blocking pool, as [`lookup_host`](crate::net::lookup_host) does; an IP literal or a
    /// `SocketAddr` needs no lookup.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let listener = nbio::net::AsyncTcpListener::bind("127.0.0.1:0")?;
    ///     let addr = listener.local_addr()?;
    ///     let stream = nbio::net::AsyncTcpStream::connect(addr).await?;
    ///     assert_eq!(stream.peer_addr()?, addr);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    /// If every address fails; the error keeps the OS error's kind (`ConnectionRefused`, …)
    /// and its message names the address, as in "connection refused by 127.0.0.1:5678".
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<AsyncTcpStream> {
        let addrs = lookup::resolve(addr.target()?, Location::caller()).await?;
        let simulated = crate::sim::current();
        let mut last_err = None;
        for addr in addrs {
            let connected = match &simulated {
                None => connect_to(addr).await,
                Some(hosted) => SimStream::connect(hosted, addr)
                    .await
                    .map(|sim| AsyncTcpStream {
                        inner: TcpIo::Sim(sim),
                    }),
            };
            match connected {
                Ok(stream) => return Ok(stream),
                Err(err) => last_err = Some(err),
            }
        }
        Err(last_err.unwrap_or_else(no_address))
    }

    /// Wraps a connected std stream, switching it to non-blocking mode (and turning on
    /// `TCP_INQ`, see `net/inq.rs`).
    #[track_caller]
    pub fn from_std(stream: TcpStream) -> io::Result<AsyncTcpStream> {
        crate::sim::refuse_real("AsyncTcpStream::from_std")?;
        stream.set_nonblocking(true)?;
        inq::enable(&stream);
        Ok(AsyncTcpStream::wrap(stream))
    }

    /// Wraps a stream that is non-blocking already.
    fn wrap(stream: TcpStream) -> AsyncTcpStream {
        AsyncTcpStream {
            inner: TcpIo::Real(Registered::new(stream)),
        }
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            TcpIo::Real(registered) => registered.get_ref().peer_addr(),
            TcpIo::Sim(sim) => Ok(sim.peer_addr()),
        }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            TcpIo::Real(registered) => registered.get_ref().local_addr(),
            TcpIo::Sim(sim) => Ok(sim.local_addr()),
        }
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm). A simulated stream sends each write
    /// at once: it takes the setting and ignores it.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        match &self.inner {
            TcpIo::Real(registered) => registered.get_ref().set_nodelay(nodelay),
            TcpIo::Sim(_) => Ok(()),
        }
    }

    /// Whether `TCP_NODELAY` is set (always, on a simulated stream).
    pub fn nodelay(&self) -> io::Result<bool> {
        match &self.inner {
            TcpIo::Real(registered) => registered.get_ref().nodelay(),
            TcpIo::Sim(_) => Ok(true),
        }
    }

    super::options::socket_options!();
}

stream_methods!(AsyncTcpStream);
impl_async_read_write!(AsyncTcpStream);

impl fmt::Debug for AsyncTcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncTcpStream").field(&self.inner).finish()
    }
}

/// One non-blocking connect: start the handshake, wait for writability, read the outcome.
async fn connect_to(addr: SocketAddr) -> io::Result<AsyncTcpStream> {
    let socket = nonblocking_socket(family_of(addr), SocketType::STREAM)?;
    connect_socket(socket, addr).await
}

/// The address family a socket for `addr` needs.
pub(crate) fn family_of(addr: SocketAddr) -> AddressFamily {
    if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    }
}

/// Connects `socket` (non-blocking, of `addr`'s family) to `addr`: start the handshake, wait
/// for writability, read the outcome. `TcpSocket::connect` shares it.
pub(crate) async fn connect_socket(
    socket: OwnedFd,
    addr: SocketAddr,
) -> io::Result<AsyncTcpStream> {
    match rustix::net::connect(&socket, &addr) {
        Ok(()) | Err(Errno::INPROGRESS) | Err(Errno::INTR) => {}
        Err(errno) => return Err(connect_error(errno.into(), addr)),
    }
    let stream = AsyncTcpStream::wrap(TcpStream::from(socket));
    // Waiting registers the new socket; its first event is the handshake's outcome.
    stream
        .inner
        .ready(Direction::Write)
        .await
        .map_err(|err| connect_error(err, addr))?;
    if let Some(err) = stream.inner.get_ref().take_error()? {
        return Err(connect_error(err, addr));
    }
    Ok(stream)
}

/// A new socket, non-blocking and close-on-exec from the start.
pub(crate) fn nonblocking_socket(family: AddressFamily, kind: SocketType) -> io::Result<OwnedFd> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    {
        use rustix::net::SocketFlags;
        Ok(rustix::net::socket_with(
            family,
            kind,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    {
        let socket = rustix::net::socket(family, kind, None)?;
        rustix::io::ioctl_fionbio(&socket, true)?;
        rustix::io::fcntl_setfd(&socket, rustix::io::FdFlags::CLOEXEC)?;
        Ok(socket)
    }
}

/// Names the address in a connect error, keeping the kind a caller matches on.
fn connect_error(err: io::Error, addr: SocketAddr) -> io::Error {
    let message = match err.kind() {
        io::ErrorKind::ConnectionRefused => format!("connection refused by {addr}"),
        io::ErrorKind::TimedOut => format!("connecting to {addr} timed out"),
        _ => format!("could not connect to {addr}: {err}"),
    };
    io::Error::new(err.kind(), message)
}

fn no_address() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "the address resolved to no socket address",
    )
}

impl_as_fd!(AsyncTcpListener, AsyncTcpStream);
