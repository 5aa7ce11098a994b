//! The public face of every stream type, the same for TCP and Unix: the async methods
//! (`read`, `write`, `write_all`, their vectored forms, readiness), the `poll_*` forms that
//! libraries build their own futures on, and futures-io's `AsyncRead` and `AsyncWrite`
//! (vectored ones included, which really reach `readv`/`sendmsg`, not futures-io's default of
//! writing the first buffer only).

/// The reading and writing methods every stream type offers, the same for TCP and Unix: the
/// type must hold its socket as `inner: Registered<_>`.
macro_rules! stream_methods {
    ($ty:ty) => {
        impl $ty {
            /// Reads what has arrived into `buf`, waiting if nothing has. `Ok(0)` is end of
            /// stream.
            ///
            /// Cancel safety: dropping this future before it completes loses nothing: bytes
            /// leave the socket only in the poll that returns them.
            pub async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.inner.read(buf).await
            }

            /// Reads what has arrived into the spare capacity of `buf`, without zeroing it
            /// first, waiting if nothing has: appends at most `buf.capacity() - buf.len()`
            /// bytes (reserving 8 KiB first if that is 0) and returns how many; `Ok(0)` is end
            /// of stream. Reserve more beforehand to read more at once.
            ///
            /// Cancel safety: a drop before it completes loses nothing. The length of `buf`
            /// grows in the same poll as the `recv` that filled the bytes, so a dropped
            /// `read_buf` leaves `buf` as it was (its capacity may have grown) and the bytes in
            /// the socket, for the next read.
            pub async fn read_buf(&self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
                std::future::poll_fn(|cx| {
                    crate::net::read_buf::poll_into_spare(buf, |spare| {
                        self.poll_read_uninit(cx, spare)
                    })
                })
                .await
            }

            /// Writes what the kernel takes now (at least one byte), waiting if its buffer is
            /// full.
            ///
            /// Cancel safety: dropping this future before it completes has written nothing:
            /// bytes enter the socket only in the poll that returns their count.
            pub async fn write(&self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner.write(buf).await
            }

            /// Writes all of `buf`: the article's send loop. Each partial write advances at
            /// once; only `WouldBlock` waits, for writability, without blocking the thread.
            /// Counts each wait in `Stats::would_block`. A peer that goes away gives an error,
            /// never `SIGPIPE`.
            ///
            /// Cancel safety: dropping this future before it completes may have written a
            /// prefix of `buf`, and says not how much: the peer may get part of a message.
            /// Use `write` in a loop where a drop must be accounted for.
            pub async fn write_all(&self, buf: &[u8]) -> std::io::Result<()> {
                self.inner.write_all(buf).await
            }

            /// Writes what the kernel takes now of `bufs`, in order, with one `sendmsg(2)` (at
            /// least one byte, waiting if its buffer is full): how a protocol sends a header
            /// and a body it keeps apart without copying them together or paying a syscall
            /// each. Returns how many bytes were taken, which may end inside any buffer. At
            /// most the first 1,024 buffers are handed over per call. Taking less than was
            /// offered clears write readiness, as a short [`write`](Self::write) does.
            ///
            /// ```
            /// use std::io::IoSlice;
            /// # nbio::block_on(async {
            /// # let (a, b) = nbio::net::AsyncUnixStream::pair()?;
            /// let written = a.write_vectored(&[IoSlice::new(b"head "), IoSlice::new(b"body")]).await?;
            /// assert_eq!(written, 9);
            /// let mut buf = [0u8; 9];
            /// b.read_exact(&mut buf).await?;
            /// assert_eq!(&buf, b"head body");
            /// # std::io::Result::Ok(())
            /// # })?;
            /// # std::io::Result::Ok(())
            /// ```
            pub async fn write_vectored(
                &self,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::io::Result<usize> {
                self.inner.write_vectored(bufs).await
            }

            /// Reads what has arrived into `bufs`, filling them in order, with one `readv(2)`,
            /// waiting if nothing has. `Ok(0)` is end of stream (or no room in `bufs`).
            ///
            /// ```
            /// use std::io::IoSliceMut;
            /// # nbio::block_on(async {
            /// # let (a, b) = nbio::net::AsyncUnixStream::pair()?;
            /// a.write_all(b"headbody").await?;
            /// let (mut head, mut body) = ([0u8; 4], [0u8; 4]);
            /// let read = b
            ///     .read_vectored(&mut [IoSliceMut::new(&mut head), IoSliceMut::new(&mut body)])
            ///     .await?;
            /// assert_eq!((read, &head, &body), (8, b"head", b"body"));
            /// # std::io::Result::Ok(())
            /// # })?;
            /// # std::io::Result::Ok(())
            /// ```
            pub async fn read_vectored(
                &self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                self.inner.read_vectored(bufs).await
            }

            /// Reads exactly `buf.len()` bytes; end of stream first is `UnexpectedEof`.
            ///
            /// Cancel safety: dropping this future before it completes loses the bytes it had
            /// read into `buf` so far: they have left the socket, and the next read starts
            /// after them. Use `read` where a drop must lose nothing.
            pub async fn read_exact(&self, buf: &mut [u8]) -> std::io::Result<()> {
                self.inner.read_exact(buf).await
            }

            /// A stream socket has no user-space buffer to flush: completes at once.
            pub async fn flush(&self) -> std::io::Result<()> {
                Ok(())
            }

            /// Shuts down the read half, the write half or both, as std's `shutdown`.
            pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                self.inner.shutdown(how)
            }

            /// Waits until the kernel reports the socket readable: data, end of stream or an
            /// error has arrived. A socket nothing has waited on yet is registered with the
            /// reactor first, and waits for the kernel's first word on it; a socket whose peer
            /// is silent does not resolve. Readiness then stays until an operation through nbio
            /// gets `WouldBlock` (a `read`, or a [`try_read`](Self::try_read)), so it can be
            /// stale: the next read may still get `WouldBlock`. Pair it with `try_read`, not
            /// with reads on the std socket, which nbio never sees.
            pub async fn readable(&self) -> std::io::Result<()> {
                self.inner.ready(crate::reactor::Direction::Read).await
            }

            /// Waits until the kernel reports room in the send buffer (or an error), as
            /// [`readable`](Self::readable) waits for data; pair it with
            /// [`try_write`](Self::try_write).
            pub async fn writable(&self) -> std::io::Result<()> {
                self.inner.ready(crate::reactor::Direction::Write).await
            }

            /// [`readable`](Self::readable) in poll form, for code that writes its own
            /// futures (a protocol library's state machine). `Ready(Ok(()))` once the kernel
            /// said the socket is readable; `Pending` otherwise, with `cx`'s waker filed until
            /// the socket's next event. Pair it with [`try_read`](Self::try_read), whose
            /// `WouldBlock` clears the readiness again.
            ///
            /// ```
            /// use std::task::Poll;
            /// # nbio::block_on(async {
            /// # let (a, b) = nbio::net::AsyncUnixStream::pair()?;
            /// let mut buf = [0u8; 16];
            /// a.write_all(b"ping").await?;
            /// let n = std::future::poll_fn(|cx| loop {
            ///     match b.poll_read_ready(cx) {
            ///         Poll::Ready(Ok(())) => {}
            ///         Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
            ///         Poll::Pending => return Poll::Pending,
            ///     }
            ///     match b.try_read(&mut buf) {
            ///         Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
            ///         result => return Poll::Ready(result),
            ///     }
            /// })
            /// .await?;
            /// assert_eq!(&buf[..n], b"ping");
            /// # std::io::Result::Ok(())
            /// # })?;
            /// # std::io::Result::Ok(())
            /// ```
            pub fn poll_read_ready(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.inner
                    .poll_ready_for(crate::reactor::Direction::Read, cx)
            }

            /// [`writable`](Self::writable) in poll form; see
            /// [`poll_read_ready`](Self::poll_read_ready). Pair it with
            /// [`try_write`](Self::try_write).
            pub fn poll_write_ready(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.inner
                    .poll_ready_for(crate::reactor::Direction::Write, cx)
            }

            /// `poll_read` into hyper's buffer, which may be uninitialised: `nbio::hyper::Io`
            /// reads nbio's streams this way, and so does `read_buf`.
            pub(crate) fn poll_read_uninit(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [std::mem::MaybeUninit<u8>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_read_uninit(cx, buf)
            }

            /// One non-blocking read: what has arrived, `Ok(0)` at end of stream, or
            /// `WouldBlock` if nothing has, which also clears the readiness that
            /// [`readable`](Self::readable) waits on. With `readable`, the loop that reads only
            /// when there is something to read:
            ///
            /// ```
            /// # nbio::block_on(async {
            /// # let (reader, writer) = nbio::net::AsyncUnixStream::pair()?;
            /// # writer.write_all(b"hi").await?;
            /// # drop(writer);
            /// let mut buf = [0u8; 1024];
            /// loop {
            ///     reader.readable().await?;
            ///     match reader.try_read(&mut buf) {
            ///         Ok(0) => break, // end of stream
            ///         Ok(n) => println!("got {n} bytes"),
            ///         Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => continue,
            ///         Err(err) => return Err(err),
            ///     }
            /// }
            /// # std::io::Result::Ok(())
            /// # })?;
            /// # std::io::Result::Ok(())
            /// ```
            pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.inner.try_read(buf)
            }

            /// One non-blocking write: how much the kernel took, or `WouldBlock` if its buffer
            /// is full. `WouldBlock`, or a write that took less than all of `buf`, clears the
            /// readiness that [`writable`](Self::writable) waits on.
            pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                self.inner.try_write(buf)
            }
        }
    };
}

pub(crate) use stream_methods;

/// `futures-io`'s `AsyncRead` and `AsyncWrite` for a stream type and for a shared reference
/// to it, so that `futures_lite::io::copy`, `BufReader` and friends work on both.
macro_rules! impl_async_read_write {
    ($ty:ty) => {
        impl futures_lite::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_read_vectored(cx, bufs)
            }
        }

        impl futures_lite::io::AsyncRead for &$ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_read_vectored(cx, bufs)
            }
        }

        impl futures_lite::io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_write_vectored(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.inner.poll_close()
            }
        }

        impl futures_lite::io::AsyncWrite for &$ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.inner.poll_write_vectored(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.inner.poll_close()
            }
        }
    };
}

pub(crate) use impl_async_read_write;
