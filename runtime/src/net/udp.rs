//! UDP: `AsyncUdpSocket`.

use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::panic::Location;
use std::task::{Context, Poll};

use super::lookup::{self, ToSocketAddrs};

use super::registered::Registered;
use crate::reactor::Direction;
use crate::sim::SimUdp;

/// A UDP socket whose sends and receives wait without blocking the thread.
///
/// ```
/// use nbio::net::AsyncUdpSocket;
/// nbio::block_on(async {
///     let a = AsyncUdpSocket::bind("127.0.0.1:0")?;
///     let b = AsyncUdpSocket::bind("127.0.0.1:0")?;
///     a.send_to(b"ping", b.local_addr()?).await?;
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct AsyncUdpSocket {
    inner: UdpIo,
}

/// A UDP socket's transport: a kernel socket, or (inside a simulated host, see `nbio::sim`) a
/// socket of the simulated network. The real path pays one branch per call.
enum UdpIo {
    Real(Registered<UdpSocket>),
    Sim(SimUdp),
}

impl UdpIo {
    /// The kernel socket.
    ///
    /// # Panics
    /// For a simulated socket, which has none (see `AsFd`).
    fn get_ref(&self) -> &UdpSocket {
        match self {
            UdpIo::Real(registered) => registered.get_ref(),
            UdpIo::Sim(_) => {
                panic!("nbio: a simulated UDP socket (inside nbio::sim) has no socket descriptor")
            }
        }
    }

    fn real(&self) -> Option<&Registered<UdpSocket>> {
        match self {
            UdpIo::Real(registered) => Some(registered),
            UdpIo::Sim(_) => None,
        }
    }
}

impl fmt::Debug for UdpIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UdpIo::Real(registered) => registered.fmt(f),
            UdpIo::Sim(sim) => write!(f, "simulated {}", sim.local_addr()),
        }
    }
}

impl AsyncUdpSocket {
    /// Binds to `addr`. Never waits, so not async.
    pub fn bind<A: std::net::ToSocketAddrs>(addr: A) -> io::Result<AsyncUdpSocket> {
        if let Some(hosted) = crate::sim::current() {
            let addr = addr.to_socket_addrs()?.next().ok_or_else(no_address)?;
            let inner = UdpIo::Sim(SimUdp::bind(&hosted, addr)?);
            return Ok(AsyncUdpSocket { inner });
        }
        AsyncUdpSocket::from_std(UdpSocket::bind(addr)?)
    }

    /// Wraps a std socket, switching it to non-blocking mode.
    #[track_caller]
    pub fn from_std(socket: UdpSocket) -> io::Result<AsyncUdpSocket> {
        crate::sim::refuse_real("AsyncUdpSocket::from_std")?;
        socket.set_nonblocking(true)?;
        Ok(AsyncUdpSocket {
            inner: UdpIo::Real(Registered::new(socket)),
        })
    }

    /// Sets the default peer for `send` and `recv` (and filters what `recv` gets). Never
    /// waits, so not async.
    pub fn connect<A: std::net::ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        match &self.inner {
            UdpIo::Real(registered) => registered.get_ref().connect(addr),
            UdpIo::Sim(sim) => {
                sim.connect(addr.to_socket_addrs()?.next().ok_or_else(no_address)?);
                Ok(())
            }
        }
    }

    /// Sends one datagram to `target` (the first address it resolves to). A host name is
    /// resolved on the blocking pool, as [`lookup_host`](crate::net::lookup_host) does.
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let addrs = lookup::resolve(target.target()?, Location::caller()).await?;
        let target = addrs.into_iter().next().ok_or_else(no_address)?;
        match &self.inner {
            UdpIo::Real(registered) => {
                (registered.io(Direction::Write, |socket| socket.send_to(buf, target))).await
            }
            UdpIo::Sim(sim) => sim.send_to(buf, target),
        }
    }

    /// Receives one datagram and the address it came from.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match &self.inner {
            UdpIo::Real(registered) => {
                (registered.io(Direction::Read, |socket| socket.recv_from(buf))).await
            }
            UdpIo::Sim(sim) => std::future::poll_fn(|cx| sim.poll_recv_from(Some(cx), buf)).await,
        }
    }

    /// Sends one datagram to the connected peer.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.inner {
            UdpIo::Real(registered) => {
                (registered.io(Direction::Write, |socket| socket.send(buf))).await
            }
            UdpIo::Sim(sim) => sim.send_to(buf, sim.peer_addr()?),
        }
    }

    /// Receives one datagram from the connected peer.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.inner {
            UdpIo::Real(registered) => {
                (registered.io(Direction::Read, |socket| socket.recv(buf))).await
            }
            UdpIo::Sim(sim) => {
                let (n, _) = std::future::poll_fn(|cx| sim.poll_recv_from(Some(cx), buf)).await?;
                Ok(n)
            }
        }
    }

    /// Waits until the kernel reports a datagram (or an error) waiting. A socket nothing has
    /// waited on yet is registered with the reactor first and waits for the kernel's first
    /// word on it: with nothing sent to it, it does not resolve. Readiness then stays until an
    /// operation through nbio gets `WouldBlock` (a `recv`, or a
    /// [`try_recv_from`](Self::try_recv_from)), so it can be stale.
    pub async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until the kernel reports room to send, as [`readable`](Self::readable) waits for
    /// a datagram.
    pub async fn writable(&self) -> io::Result<()> {
        match self.inner.real() {
            Some(registered) => registered.ready(Direction::Write).await,
            None => Ok(()),
        }
    }

    /// [`readable`](Self::readable) in poll form, for code that writes its own futures:
    /// `Ready(Ok(()))` once the kernel said a datagram is waiting, `Pending` otherwise with
    /// `cx`'s waker filed until the socket's next event. Pair it with
    /// [`try_recv_from`](Self::try_recv_from).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &self.inner {
            UdpIo::Real(registered) => registered.poll_ready(Direction::Read, false, cx, &mut None),
            UdpIo::Sim(sim) => sim.poll_readable(cx),
        }
    }

    /// [`writable`](Self::writable) in poll form; pair it with
    /// [`try_send_to`](Self::try_send_to).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner.real() {
            Some(registered) => registered.poll_ready(Direction::Write, false, cx, &mut None),
            None => Poll::Ready(Ok(())),
        }
    }

    /// One non-blocking receive: a datagram and who sent it, or `WouldBlock` if none is
    /// waiting, which also clears the readiness that [`readable`](Self::readable) waits on.
    ///
    /// ```
    /// use nbio::net::AsyncUdpSocket;
    /// nbio::block_on(async {
    ///     let a = AsyncUdpSocket::bind("127.0.0.1:0")?;
    ///     let b = AsyncUdpSocket::bind("127.0.0.1:0")?;
    ///     let mut buf = [0u8; 16];
    ///     let nothing = b.try_recv_from(&mut buf).unwrap_err();
    ///     assert_eq!(nothing.kind(), std::io::ErrorKind::WouldBlock);
    ///     a.try_send_to(b"ping", b.local_addr()?)?;
    ///     b.readable().await?;
    ///     let (n, from) = b.try_recv_from(&mut buf)?;
    ///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        match &self.inner {
            UdpIo::Real(registered) => {
                registered.try_io(Direction::Read, None, |socket| socket.recv_from(buf))
            }
            UdpIo::Sim(sim) => match sim.poll_recv_from(None, buf) {
                Poll::Ready(result) => result,
                Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
            },
        }
    }

    /// One non-blocking send of a datagram to `target`, or `WouldBlock` if the kernel has no
    /// room for it, which also clears the readiness that [`writable`](Self::writable) waits on.
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        match &self.inner {
            UdpIo::Real(registered) => {
                registered.try_io(Direction::Write, None, |socket| socket.send_to(buf, target))
            }
            UdpIo::Sim(sim) => sim.send_to(buf, target),
        }
    }

    /// As [`try_recv_from`](Self::try_recv_from), from the connected peer.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.inner {
            UdpIo::Real(registered) => {
                registered.try_io(Direction::Read, None, |socket| socket.recv(buf))
            }
            UdpIo::Sim(_) => self.try_recv_from(buf).map(|(n, _)| n),
        }
    }

    /// As [`try_send_to`](Self::try_send_to), to the connected peer.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        match &self.inner {
            UdpIo::Real(registered) => {
                registered.try_io(Direction::Write, None, |socket| socket.send(buf))
            }
            UdpIo::Sim(sim) => sim.send_to(buf, sim.peer_addr()?),
        }
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            UdpIo::Real(registered) => registered.get_ref().local_addr(),
            UdpIo::Sim(sim) => Ok(sim.local_addr()),
        }
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.inner {
            UdpIo::Real(registered) => registered.get_ref().peer_addr(),
            UdpIo::Sim(sim) => sim.peer_addr(),
        }
    }
}

fn no_address() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "the address resolved to no socket address",
    )
}

impl fmt::Debug for AsyncUdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncUdpSocket").field(&self.inner).finish()
    }
}

impl_as_fd!(AsyncUdpSocket);
