//! `Io`: any futures-io stream as hyper's `Read` and `Write`.
//!
//! hyper 1.x does not use futures-io (nor tokio's traits): it has its own `hyper::rt::Read`,
//! which reads into a buffer that may be uninitialised, and `hyper::rt::Write`, which asks
//! the stream whether it writes vectored. Both are small translations, done here once.

use std::any::Any;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use ::hyper::rt::{Read, ReadBufCursor, Write};
use futures_lite::io::{AsyncRead, AsyncWrite};
use pin_project_lite::pin_project;

use crate::net::{AsyncTcpStream, AsyncUnixStream};

pin_project! {
    /// A futures-io stream (an nbio socket, a TLS stream over one, …) as hyper's
    /// [`Read`](::hyper::rt::Read) and [`Write`](::hyper::rt::Write): what
    /// `serve_connection` and `handshake` take.
    ///
    /// ```
    /// use nbio::hyper::Io;
    /// nbio::block_on(async {
    ///     let listener = nbio::net::AsyncTcpListener::bind("127.0.0.1:0")?;
    ///     let stream = nbio::net::AsyncTcpStream::connect(listener.local_addr()?).await?;
    ///     let io = Io::new(stream);
    ///     assert!(::hyper::rt::Write::is_write_vectored(&io));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    #[derive(Debug)]
    pub struct Io<T> {
        #[pin]
        inner: T,
        // Whether `poll_write_vectored` gathers every buffer into one syscall.
        vectored: bool,
        // For nbio's own streams: a read straight into hyper's uninitialised buffer.
        read_uninit: Option<ReadUninit<T>>,
    }
}

/// A read into uninitialised memory, for the stream types that can (see `Io::new`).
type ReadUninit<T> = fn(&T, &mut Context<'_>, &mut [MaybeUninit<u8>]) -> Poll<io::Result<usize>>;

impl<T: 'static> Io<T> {
    /// Wraps `inner`. hyper asks a stream whether it writes vectored, and futures-io has no
    /// way to say: its `poll_write_vectored` may gather every buffer into one syscall, or be
    /// the trait's default that writes the first buffer only, and a hyper told "vectored" by
    /// a stream of the second kind sends every response in two writes. So `new` says
    /// "vectored" for nbio's own streams, whose `poll_write_vectored` is one `sendmsg`, and
    /// "not vectored" for any other type, which makes hyper copy a response's head and body
    /// into one buffer first. Use [`with_vectored`](Self::with_vectored) to say otherwise.
    ///
    /// nbio's streams also read straight into hyper's buffer; any other stream reads into it
    /// once hyper's unfilled part is zeroed (futures-io reads need initialised memory).
    pub fn new(inner: T) -> Io<T> {
        let probe: &dyn Any = &inner;
        let nbio_stream = probe.is::<AsyncTcpStream>() || probe.is::<AsyncUnixStream>();
        Io {
            inner,
            vectored: nbio_stream,
            read_uninit: nbio_stream.then_some(read_uninit_any::<T> as ReadUninit<T>),
        }
    }
}

impl<T> Io<T> {
    /// Wraps `inner`, saying whether its `poll_write_vectored` really gathers its buffers
    /// (true for nbio's streams; for a TLS stream, whatever the TLS crate documents). For a
    /// stream that borrows (`Io<&AsyncTcpStream>`), which [`new`](Self::new) cannot inspect.
    pub fn with_vectored(inner: T, vectored: bool) -> Io<T> {
        Io {
            inner,
            vectored,
            read_uninit: None,
        }
    }

    /// The wrapped stream.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

/// `read_uninit` of whichever nbio stream `T` is; `Io::new` stores it only when `T` is one.
fn read_uninit_any<T: 'static>(
    stream: &T,
    cx: &mut Context<'_>,
    buf: &mut [MaybeUninit<u8>],
) -> Poll<io::Result<usize>> {
    let stream: &dyn Any = stream;
    if let Some(tcp) = stream.downcast_ref::<AsyncTcpStream>() {
        tcp.poll_read_uninit(cx, buf)
    } else if let Some(unix) = stream.downcast_ref::<AsyncUnixStream>() {
        unix.poll_read_uninit(cx, buf)
    } else {
        unreachable!("Io::new stores read_uninit only for nbio's stream types")
    }
}

impl<T: AsyncRead> Read for Io<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let offered = buf.remaining();
        let read = if let Some(read_uninit) = *this.read_uninit {
            // SAFETY: `as_mut` must not de-initialise bytes; `recv(2)` only ever writes into
            // the buffer it is given.
            let unfilled = unsafe { buf.as_mut() };
            ready!(read_uninit(&this.inner, cx, unfilled))?
        } else {
            let unfilled = buf.initialize_unfilled();
            ready!(this.inner.poll_read(cx, unfilled))?
        };
        if read > offered {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a stream claimed to read {read} bytes into a buffer of {offered}"),
            )));
        }
        // SAFETY: the first `read` bytes of the unfilled part were written by the read (the
        // kernel's, or the stream's into memory `initialize_unfilled` had zeroed), and
        // `read <= offered` was checked above.
        unsafe { buf.advance(read) };
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite> Write for Io<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.vectored
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_close(cx)
    }
}
