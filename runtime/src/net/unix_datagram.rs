//! Unix datagram sockets: `AsyncUnixDatagram`, the Unix twin of `AsyncUdpSocket`.
//!
//! A datagram socket keeps message boundaries: each `send` is one `recv` on the other side,
//! never merged with the next, never split. Unlike UDP on a network, a Unix datagram is not
//! lost or reordered, and a sender whose receiver's queue is full waits (on the reactor here)
//! instead of having its datagram dropped.

use std::fmt;
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::task::{Context, Poll};

use super::registered::Registered;
use crate::reactor::Direction;

/// A Unix datagram socket whose sends and receives wait without blocking the thread.
///
/// Two sockets bound to paths, exchanging datagrams with addresses:
///
/// ```
/// use nbio::net::AsyncUnixDatagram;
/// let dir = std::env::temp_dir().join(format!("nbio-doc-dgram-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// # let _ = std::fs::remove_file(dir.join("a.sock"));
/// # let _ = std::fs::remove_file(dir.join("b.sock"));
/// nbio::block_on(async {
///     let a = AsyncUnixDatagram::bind(dir.join("a.sock"))?;
///     let b = AsyncUnixDatagram::bind(dir.join("b.sock"))?;
///     a.send_to(b"ping", dir.join("b.sock")).await?;
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!(&buf[..n], b"ping");
///     assert_eq!(from.as_pathname(), Some(dir.join("a.sock").as_path()));
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// ```
///
/// A connected pair, as a parent and a child process might share:
///
/// ```
/// use nbio::net::AsyncUnixDatagram;
/// nbio::block_on(async {
///     let (a, b) = AsyncUnixDatagram::pair()?;
///     a.send(b"one").await?;
///     a.send(b"two").await?;
///     let mut buf = [0u8; 16];
///     let n = b.recv(&mut buf).await?;
///     assert_eq!(&buf[..n], b"one"); // boundaries kept: "one", then "two"
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct AsyncUnixDatagram {
    inner: Registered<UnixDatagram>,
}

/// Adds the path to an error, keeping its kind.
fn naming<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> io::Error + 'a {
    move |err| {
        io::Error::new(
            err.kind(),
            format!("could not {what} {}: {err}", path.display()),
        )
    }
}

impl AsyncUnixDatagram {
    /// Binds to the socket file `path`. Never waits, so not async.
    ///
    /// # Errors
    /// If the file exists (`AddrInUse`; remove it first) or cannot be made; the message names
    /// the path.
    #[track_caller]
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<AsyncUnixDatagram> {
        crate::sim::refuse_real("AsyncUnixDatagram::bind")?;
        let path = path.as_ref();
        let socket = UnixDatagram::bind(path).map_err(naming("bind to", path))?;
        AsyncUnixDatagram::from_std(socket)
    }

    /// A socket bound to no path: it can send (with [`send_to`](Self::send_to), or after
    /// [`connect`](Self::connect)), and receive only replies to a peer it connected to, since
    /// no one can address it.
    #[track_caller]
    pub fn unbound() -> io::Result<AsyncUnixDatagram> {
        crate::sim::refuse_real("AsyncUnixDatagram::unbound")?;
        AsyncUnixDatagram::from_std(UnixDatagram::unbound()?)
    }

    /// Two sockets connected to each other, bound to no path.
    #[track_caller]
    pub fn pair() -> io::Result<(AsyncUnixDatagram, AsyncUnixDatagram)> {
        crate::sim::refuse_real("AsyncUnixDatagram::pair")?;
        let (a, b) = UnixDatagram::pair()?;
        Ok((
            AsyncUnixDatagram::from_std(a)?,
            AsyncUnixDatagram::from_std(b)?,
        ))
    }

    /// Wraps a std socket, switching it to non-blocking mode.
    pub fn from_std(socket: UnixDatagram) -> io::Result<AsyncUnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(AsyncUnixDatagram {
            inner: Registered::new(socket),
        })
    }

    /// Sets the default peer for `send` and `recv`, and from then on receives only from it.
    /// Never waits, so not async.
    ///
    /// # Errors
    /// If no socket is bound at `path` (`NotFound`, or `ConnectionRefused` for a file that is
    /// no socket's any more); the message names the path.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        let path = path.as_ref();
        self.inner
            .get_ref()
            .connect(path)
            .map_err(naming("connect to", path))
    }

    /// Sends one datagram to the socket bound at `path`, waiting while its queue is full.
    ///
    /// Cancel safety: dropping this future before it completes has sent nothing; the
    /// datagram goes whole or not at all.
    ///
    /// # Errors
    /// As [`connect`](Self::connect) if no socket is bound at `path`, naming it.
    pub async fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.inner
            .io(Direction::Write, |socket| socket.send_to(buf, path))
            .await
            .map_err(naming("send to", path))
    }

    /// Receives one datagram and the address it came from (unnamed if the sender is bound to
    /// no path). A datagram longer than `buf` is cut to fit; the rest is lost.
    ///
    /// Cancel safety: dropping this future before it completes loses no datagram: one is taken
    /// from the queue only by the call that returns it.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner
            .io(Direction::Read, |socket| socket.recv_from(buf))
            .await
    }

    /// Sends one datagram to the connected peer, waiting while its queue is full.
    ///
    /// Cancel safety: as [`send_to`](Self::send_to), a dropped send has sent nothing.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .io(Direction::Write, |socket| socket.send(buf))
            .await
    }

    /// Receives one datagram from the connected peer, cut to fit `buf`.
    ///
    /// Cancel safety: as [`recv_from`](Self::recv_from), a dropped receive loses no datagram.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .io(Direction::Read, |socket| socket.recv(buf))
            .await
    }

    /// Waits until the kernel reports a datagram (or an error) waiting. Readiness stays until
    /// an operation through nbio gets `WouldBlock`, so it can be stale: follow it with
    /// [`try_recv_from`](Self::try_recv_from) and be ready for `WouldBlock`.
    ///
    /// Cancel safety: nothing is lost by dropping it; it only waits.
    pub async fn readable(&self) -> io::Result<()> {
        self.inner.ready(Direction::Read).await
    }

    /// Waits until the kernel reports room to send, as [`readable`](Self::readable) waits for
    /// a datagram.
    ///
    /// Cancel safety: nothing is lost by dropping it; it only waits.
    pub async fn writable(&self) -> io::Result<()> {
        self.inner.ready(Direction::Write).await
    }

    /// [`readable`](Self::readable) in poll form: `Pending` with `cx`'s waker filed until the
    /// socket's next event. Pair it with [`try_recv_from`](Self::try_recv_from).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.poll_ready(Direction::Read, false, cx, &mut None)
    }

    /// [`writable`](Self::writable) in poll form; pair it with
    /// [`try_send_to`](Self::try_send_to).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner
            .poll_ready(Direction::Write, false, cx, &mut None)
    }

    /// One non-blocking receive: a datagram and who sent it, or `WouldBlock` if none is
    /// waiting, which also clears the readiness that [`readable`](Self::readable) waits on.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner
            .try_io(Direction::Read, None, |socket| socket.recv_from(buf))
    }

    /// One non-blocking send to the socket bound at `path`, or `WouldBlock` if its queue is
    /// full, which also clears the readiness that [`writable`](Self::writable) waits on.
    pub fn try_send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.inner
            .try_io(Direction::Write, None, |socket| socket.send_to(buf, path))
            .map_err(|err| match err.kind() {
                io::ErrorKind::WouldBlock => err,
                _ => naming("send to", path)(err),
            })
    }

    /// As [`try_recv_from`](Self::try_recv_from), from the connected peer.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .try_io(Direction::Read, None, |socket| socket.recv(buf))
    }

    /// As [`try_send_to`](Self::try_send_to), to the connected peer.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner
            .try_io(Direction::Write, None, |socket| socket.send(buf))
    }

    /// The address the socket is bound to (unnamed if it is bound to no path).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The connected peer's address (`NotConnected` if there is none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    super::fds::fd_passing!();
}

impl fmt::Debug for AsyncUnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncUnixDatagram")
            .field(&self.inner)
            .finish()
    }
}

impl_as_fd!(AsyncUnixDatagram);
