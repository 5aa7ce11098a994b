//! Unix domain sockets: `AsyncUnixListener` and `AsyncUnixStream`, mirroring TCP.

use std::fmt;
use std::io;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::Stream;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketType};

use super::accept::{self, Incoming, Listen, Patience};
use super::registered::Registered;
use super::stream_api::{impl_async_read_write, stream_methods};
use super::tcp::nonblocking_socket;
use crate::reactor::Direction;

/// A Unix stream listener whose `accept` waits without blocking the thread.
///
/// ```
/// use nbio::net::{AsyncUnixListener, AsyncUnixStream};
/// let dir = std::env::temp_dir().join(format!("nbio-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("echo.sock");
/// # let _ = std::fs::remove_file(&path);
/// nbio::block_on(async {
///     let listener = AsyncUnixListener::bind(&path)?;
///     let client = AsyncUnixStream::connect(&path).await?;
///     let (server, _) = listener.accept().await?;
///     client.write_all(b"hello").await?;
///     let mut buf = [0u8; 5];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hello");
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// ```
pub struct AsyncUnixListener {
    inner: Registered<UnixListener>,
    /// The back-off of `poll_accept` (see `AsyncTcpListener`).
    patience: Mutex<Patience>,
}

impl Listen for AsyncUnixListener {
    type Socket = UnixListener;
    type Conn = (AsyncUnixStream, SocketAddr);

    fn registered(&self) -> &Registered<UnixListener> {
        &self.inner
    }

    fn accept_once(listener: &UnixListener) -> io::Result<(AsyncUnixStream, SocketAddr)> {
        let (stream, peer) = listener.accept()?;
        Ok((AsyncUnixStream::from_std(stream)?, peer))
    }
}

impl AsyncUnixListener {
    /// Binds to the socket file `path`. Never waits, so not async.
    ///
    /// # Errors
    /// If the file exists or cannot be made; the message names the path.
    #[track_caller]
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<AsyncUnixListener> {
        crate::sim::refuse_real("AsyncUnixListener::bind")?;
        let path = path.as_ref();
        let listener = UnixListener::bind(path).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("could not bind to {}: {err}", path.display()),
            )
        })?;
        AsyncUnixListener::from_std(listener)
    }

    /// Wraps a std listener, switching it to non-blocking mode.
    pub fn from_std(listener: UnixListener) -> io::Result<AsyncUnixListener> {
        listener.set_nonblocking(true)?;
        Ok(AsyncUnixListener {
            inner: Registered::new(listener),
            patience: Mutex::new(Patience::new()),
        })
    }

    /// Waits for a connection. Out of file descriptors, waits for one to be free, as
    /// `AsyncTcpListener::accept` does.
    pub async fn accept(&self) -> io::Result<(AsyncUnixStream, SocketAddr)> {
        accept::accept(self).await
    }

    /// [`accept`](Self::accept) in poll form, as `AsyncTcpListener::poll_accept`: only the
    /// waker of the latest call is sure to be woken.
    pub fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(AsyncUnixStream, SocketAddr)>> {
        let mut patience = self.patience.lock().unwrap_or_else(PoisonError::into_inner);
        patience.poll(cx, |cx| accept::poll_accept_once(self, cx, &mut None))
    }

    /// The connections this listener accepts, as a futures-lite `Stream` that never ends by
    /// itself, as `AsyncTcpListener::incoming`.
    pub fn incoming(&self) -> impl Stream<Item = io::Result<AsyncUnixStream>> + Send + Unpin + '_ {
        futures_lite::StreamExt::map(Incoming::new(self), |accepted| {
            accepted.map(|(stream, _)| stream)
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

impl fmt::Debug for AsyncUnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncUnixListener")
            .field(&self.inner)
            .finish()
    }
}

/// A Unix stream connection whose reads and writes wait without blocking the thread.
pub struct AsyncUnixStream {
    inner: Registered<UnixStream>,
}

impl AsyncUnixStream {
    super::fds::fd_passing!();

    /// Connects to the socket file `path` without blocking the thread. If the listener's
    /// backlog is full, retries every millisecond until there is room, as a blocking connect
    /// would wait.
    ///
    /// # Errors
    /// If nothing listens there; the message names the path.
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<AsyncUnixStream> {
        let path = path.as_ref();
        let named = |err: io::Error| {
            io::Error::new(
                err.kind(),
                format!("could not connect to {}: {err}", path.display()),
            )
        };
        let addr = SocketAddrUnix::new(path).map_err(|errno| named(errno.into()))?;
        let socket = nonblocking_socket(AddressFamily::UNIX, SocketType::STREAM)?;
        let stream = loop {
            match rustix::net::connect(&socket, &addr) {
                Ok(()) => break AsyncUnixStream::wrap(socket),
                Err(Errno::INPROGRESS) => {
                    let stream = AsyncUnixStream::wrap(socket);
                    stream.inner.ready(Direction::Write).await.map_err(named)?;
                    break stream;
                }
                Err(Errno::AGAIN) => crate::time::sleep(Duration::from_millis(1)).await,
                Err(Errno::INTR) => {}
                Err(errno) => return Err(named(errno.into())),
            }
        };
        if let Some(err) = stream.inner.get_ref().take_error()? {
            return Err(named(err));
        }
        Ok(stream)
    }

    fn wrap(socket: std::os::fd::OwnedFd) -> AsyncUnixStream {
        AsyncUnixStream {
            inner: Registered::new(UnixStream::from(socket)),
        }
    }

    /// A connected pair, handy in tests.
    #[track_caller]
    pub fn pair() -> io::Result<(AsyncUnixStream, AsyncUnixStream)> {
        crate::sim::refuse_real("AsyncUnixStream::pair")?;
        let (a, b) = UnixStream::pair()?;
        Ok((AsyncUnixStream::from_std(a)?, AsyncUnixStream::from_std(b)?))
    }

    /// Wraps a connected std stream, switching it to non-blocking mode.
    pub fn from_std(stream: UnixStream) -> io::Result<AsyncUnixStream> {
        stream.set_nonblocking(true)?;
        Ok(AsyncUnixStream {
            inner: Registered::new(stream),
        })
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

stream_methods!(AsyncUnixStream);
impl_async_read_write!(AsyncUnixStream);

impl fmt::Debug for AsyncUnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncUnixStream").field(&self.inner).finish()
    }
}

impl_as_fd!(AsyncUnixListener, AsyncUnixStream);
