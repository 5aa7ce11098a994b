//! `duplex`: two connected in-memory streams, a socket pair without the kernel.
//!
//! Each direction is a byte queue of at most `max_buf` bytes behind a lock, with one waker slot
//! for its reader and one for its writer. The wake handshake is the channels' (`nbio::sync`):
//! a side that finds nothing to do files its waker and looks again under the same lock, so a
//! peer that makes progress meanwhile finds the waker and wakes it; every waker is cloned before
//! the lock is taken and woken or dropped after it is released, so no code of a caller's runs
//! under it. `loom_duplex.rs` model-checks the handshake.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_lite::{AsyncRead, AsyncWrite};

use crate::context::{self, WaitOn};
use crate::loom::{Mutex, MutexGuard};

/// One direction of a pair: what one end wrote and the other has not read yet.
struct Pipe {
    state: Mutex<PipeState>,
    made_at: &'static Location<'static>,
}

struct PipeState {
    bytes: VecDeque<u8>,
    max_buf: usize,
    /// The reader's waker, filed when it found no bytes.
    reader: Option<Waker>,
    /// The writer's waker, filed when it found the queue full.
    writer: Option<Waker>,
    /// The writing end closed (`poll_close`) or was dropped: the reader sees end of stream
    /// once the queue is empty.
    write_closed: bool,
    /// The reading end was dropped: a write fails with `BrokenPipe`.
    read_closed: bool,
}

/// Either end of [`duplex`]: an in-memory stream, `AsyncRead` + `AsyncWrite`, `Send` + `Sync`.
///
/// What one end writes, the other reads, in order. A write waits while the peer has
/// `max_buf` unread bytes (backpressure); a read waits while there is nothing to read; a read
/// returns 0 (end of stream) once the peer closed its writing side (`close()`) or was dropped
/// and everything it wrote was read; a write to an end whose peer was dropped fails with
/// `BrokenPipe`. `poll_flush` has nothing to do: written bytes are readable at once.
///
/// A task that waits on a duplex stream says so in [`Runtime::dump`](crate::Runtime::dump),
/// with where the pair was made.
pub struct DuplexStream {
    read: Arc<Pipe>,
    write: Arc<Pipe>,
}

/// Makes two connected in-memory streams: what one writes, the other reads, with at most
/// `max_buf` bytes in flight in each direction.
///
/// For tests of code written against `AsyncRead + AsyncWrite`, and for joining two parts of a
/// program with a byte stream and no socket.
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
///
/// nbio::block_on(async {
///     let (mut client, mut server) = nbio::io::duplex(64);
///     client.write_all(b"ping").await?;
///     let mut buf = [0u8; 4];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     drop(client);
///     assert_eq!(server.read(&mut buf).await?, 0); // the peer is gone: end of stream
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Panics
/// If `max_buf` is 0: no write could ever make progress.
#[track_caller]
pub fn duplex(max_buf: usize) -> (DuplexStream, DuplexStream) {
    assert!(
        max_buf > 0,
        "nbio::io::duplex(0): max_buf must be at least 1, or no write could ever complete"
    );
    let made_at = Location::caller();
    let a_to_b = Arc::new(Pipe::new(max_buf, made_at));
    let b_to_a = Arc::new(Pipe::new(max_buf, made_at));
    let a = DuplexStream {
        read: b_to_a.clone(),
        write: a_to_b.clone(),
    };
    let b = DuplexStream {
        read: a_to_b,
        write: b_to_a,
    };
    (a, b)
}

impl Pipe {
    fn new(max_buf: usize, made_at: &'static Location<'static>) -> Pipe {
        Pipe {
            state: Mutex::new(PipeState {
                bytes: VecDeque::new(),
                max_buf,
                reader: None,
                writer: None,
                write_closed: false,
                read_closed: false,
            }),
            made_at,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PipeState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `attempt` under the lock until it is ready. The first try files no waker (the
    /// common case clones none); one that finds nothing to do clones the waker outside the
    /// lock, then tries again under it and files the waker if still not ready, so a peer's
    /// progress in between is seen either by the second try or through the filed waker.
    fn poll_with<R>(
        &self,
        cx: &mut Context<'_>,
        slot: fn(&mut PipeState) -> &mut Option<Waker>,
        mut attempt: impl FnMut(&mut PipeState) -> Option<R>,
    ) -> Poll<R> {
        let mut waker = None;
        loop {
            let mut state = self.lock();
            if let Some(done) = attempt(&mut state) {
                drop(state);
                return Poll::Ready(done);
            }
            if let Some(waker) = waker.take() {
                let old = slot(&mut state).replace(waker);
                drop(state);
                drop(old);
                context::waiting_on(WaitOn::Duplex {
                    made_at: Some(self.made_at),
                });
                return Poll::Pending;
            }
            drop(state);
            waker = Some(cx.waker().clone());
        }
    }

    /// Reads into `buf` through `take` (given the queue and how many bytes it may take), waking
    /// a writer that waits for room.
    fn poll_read_with(
        &self,
        cx: &mut Context<'_>,
        want: usize,
        mut take: impl FnMut(&mut VecDeque<u8>, usize),
    ) -> Poll<usize> {
        let mut woken = None;
        let ready = self.poll_with(
            cx,
            |state| &mut state.reader,
            |state| {
                if want == 0 || state.write_closed && state.bytes.is_empty() {
                    return Some(0);
                }
                if state.bytes.is_empty() {
                    return None;
                }
                let n = want.min(state.bytes.len());
                take(&mut state.bytes, n);
                woken = state.writer.take();
                Some(n)
            },
        );
        wake(woken);
        ready
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut woken = None;
        let ready = self.poll_with(
            cx,
            |state| &mut state.writer,
            |state| {
                if state.read_closed {
                    return Some(Err(broken_pipe("its peer was dropped")));
                }
                if state.write_closed {
                    return Some(Err(broken_pipe("it was closed for writing")));
                }
                if buf.is_empty() {
                    return Some(Ok(0));
                }
                let room = state.max_buf - state.bytes.len();
                if room == 0 {
                    return None;
                }
                let n = room.min(buf.len());
                state.bytes.extend(&buf[..n]);
                woken = state.reader.take();
                Some(Ok(n))
            },
        );
        wake(woken);
        ready
    }

    /// Marks the writing side closed and wakes the reader (which then sees end of stream).
    fn close_write(&self) {
        let mut state = self.lock();
        state.write_closed = true;
        let reader = state.reader.take();
        drop(state);
        wake(reader);
    }

    /// Marks the reading side gone: unread bytes are dropped, the writer is woken to fail.
    fn close_read(&self) {
        let mut state = self.lock();
        state.read_closed = true;
        let unread = std::mem::take(&mut state.bytes);
        let writer = state.writer.take();
        drop(state);
        drop(unread);
        wake(writer);
    }
}

fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        crate::loom::wake_guarded(waker);
    }
}

fn broken_pipe(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        format!("write to an nbio::io::DuplexStream, but {why}"),
    )
}

impl DuplexStream {
    /// Reads into the spare capacity of `buf` (see `read_buf` in [`crate::io`]): appends at
    /// most `buf.capacity() - buf.len()` bytes, reserving 8 KiB first if there is no spare
    /// room, and returns how many; 0 at end of stream.
    ///
    /// Cancel safety: a drop before it completes loses nothing: bytes leave the peer's queue
    /// only in the poll that appends them to `buf`.
    pub async fn read_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        crate::net::read_buf::reserve_some(buf);
        let want = buf.capacity() - buf.len();
        let read = &self.read;
        let n = std::future::poll_fn(|cx| {
            read.poll_read_with(cx, want, |bytes, n| buf.extend(bytes.drain(..n)))
        })
        .await;
        Ok(n)
    }
}

impl AsyncRead for DuplexStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let want = buf.len();
        self.read
            .poll_read_with(cx, want, |bytes, n| {
                for (to, from) in buf.iter_mut().zip(bytes.drain(..n)) {
                    *to = from;
                }
            })
            .map(Ok)
    }
}

impl AsyncWrite for DuplexStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Closes the writing side: the peer reads what is queued, then end of stream. Reading
    /// from this end goes on.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.write.close_write();
        Poll::Ready(Ok(()))
    }
}

impl Drop for DuplexStream {
    fn drop(&mut self) {
        self.write.close_write();
        self.read.close_read();
    }
}

impl fmt::Debug for DuplexStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.read.lock();
        let (unread, max_buf) = (state.bytes.len(), state.max_buf);
        drop(state);
        f.debug_struct("DuplexStream")
            .field("unread", &unread)
            .field("max_buf", &max_buf)
            .field("made_at", &self.read.made_at)
            .finish()
    }
}
