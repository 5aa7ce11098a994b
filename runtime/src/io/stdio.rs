//! The process's standard streams as futures-io streams, on the blocking pool.
//!
//! Standard input and output may be a pipe, a file, a tty or `/dev/null`, and nbio does not
//! switch any of them to non-blocking mode: `O_NONBLOCK` is a flag of the *open file
//! description*, which fd 0, 1 and 2 share with the shell that started the program and with
//! every other process it started on the same terminal or pipe. Set it on a tty and the shell
//! (or `less`, or the next program of the pipeline) gets `EAGAIN` it does not expect, and may
//! exit. Reopening the descriptor privately (`/proc/self/fd/N`) would give a description of
//! nbio's own for a pipe, but not for a socket, and a file or `/dev/null` cannot wait anyway.
//! So each read and write is a job on the blocking pool (`spawn_blocking`), for every kind of
//! descriptor, and goes through std's own handles (`std::io::stdin()`, `stdout()`,
//! `stderr()`), so that it shares their buffers and locks with `println!` and `read_line`.
//!
//! The cost is one hop to a pool thread and back per read or write job (microseconds), and a
//! pool thread held while a read waits for a line from a terminal. Make fewer, larger writes
//! (a `futures_lite::io::BufWriter` around [`Stdout`]) when writing many small pieces.

use std::fmt;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_lite::{AsyncBufRead, AsyncRead, AsyncWrite};

use crate::context;

/// The most one read or write job moves.
const MAX_JOB: usize = 64 * 1024;

/// A read or write job on the pool: it hands back its buffer and what the call returned.
type Job<T> =
    Pin<Box<dyn std::future::Future<Output = io::Result<(Vec<u8>, io::Result<T>)>> + Send + Sync>>;

/// Starts `f` on the blocking pool of the current runtime.
#[track_caller]
fn on_pool<T: Send + 'static>(
    f: impl FnOnce() -> (Vec<u8>, io::Result<T>) + Send + 'static,
) -> Job<T> {
    let location = std::panic::Location::caller();
    let Some(handle) = context::spawn_blocking(f, location) else {
        panic!("nbio's stdin, stdout and stderr are used inside an nbio runtime (at {location})");
    };
    Box::pin(async move { handle.await.map_err(io::Error::other) })
}

/// Standard input, read on the blocking pool. Made by [`stdin`].
///
/// Also `AsyncBufRead`, so `futures_lite::AsyncBufReadExt::lines` reads it line by line.
///
/// Cancel safety: a dropped read loses nothing while the `Stdin` lives: the job it started
/// goes on, and its bytes are kept here for the next read. Dropping the `Stdin` itself loses
/// the bytes a job read and no one has consumed yet (std's `stdin()` buffer is not affected).
pub struct Stdin {
    /// Bytes read and not consumed: `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    job: Option<Job<usize>>,
}

/// A handle to the process's standard input, read on the blocking pool.
///
/// ```no_run
/// use futures_lite::{AsyncBufReadExt, StreamExt};
///
/// nbio::block_on(async {
///     let mut lines = nbio::io::stdin().lines();
///     while let Some(line) = lines.next().await {
///         println!("{}", line?.to_uppercase());
///     }
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub fn stdin() -> Stdin {
    Stdin {
        buf: Vec::new(),
        pos: 0,
        job: None,
    }
}

impl Stdin {
    /// Reads into the spare capacity of `buf`: appends at most `buf.capacity() - buf.len()`
    /// bytes (reserving 8 KiB first if that is 0) and returns how many; `Ok(0)` at end of
    /// input.
    ///
    /// Cancel safety: a drop before it completes loses nothing while this `Stdin` lives (the
    /// bytes stay here for the next read, see [`Stdin`]); `buf` grows only when it completes.
    ///
    /// # Errors
    /// The error of the read on the pool.
    pub async fn read_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        crate::net::read_buf::reserve_some(buf);
        let room = buf.capacity() - buf.len();
        std::future::poll_fn(|cx| {
            let filled = ready!(self.poll_fill(cx))?;
            let n = filled.len().min(room);
            buf.extend_from_slice(&filled[..n]);
            self.pos += n;
            Poll::Ready(Ok(n))
        })
        .await
    }

    /// Bytes read and not yet consumed, starting a read job when there are none.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        if self.pos == self.buf.len() {
            let job = self.job.get_or_insert_with(|| {
                // Nothing is left to consume: the buffer goes to the job, and comes back full.
                let mut buf = std::mem::take(&mut self.buf);
                self.pos = 0;
                buf.resize(MAX_JOB, 0);
                on_pool(move || {
                    let read = io::stdin().read(&mut buf);
                    (buf, read)
                })
            });
            let (mut buf, read) = ready!(job.as_mut().poll(cx))?;
            self.job = None;
            let n = read?;
            buf.truncate(n);
            (self.buf, self.pos) = (buf, 0);
        }
        Poll::Ready(Ok(&self.buf[self.pos..]))
    }
}

impl AsyncRead for Stdin {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if out.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let filled = ready!(this.poll_fill(cx))?;
        let n = filled.len().min(out.len());
        out[..n].copy_from_slice(&filled[..n]);
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncBufRead for Stdin {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().poll_fill(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.pos = (this.pos + amt).min(this.buf.len());
    }
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stdin")
            .field("buffered", &(self.buf.len() - self.pos))
            .field("reading", &self.job.is_some())
            .finish()
    }
}

/// Which standard output stream a [`Writer`] writes to.
#[derive(Clone, Copy, Debug)]
enum Which {
    Stdout,
    Stderr,
}

/// Standard output or error, written on the blocking pool.
struct Writer {
    which: Which,
    /// The buffer of the last job, kept for the next.
    spare: Vec<u8>,
    job: Option<Job<()>>,
}

impl Writer {
    fn new(which: Which) -> Writer {
        Writer {
            which,
            spare: Vec::new(),
            job: None,
        }
    }

    /// Waits for the job in flight, if any: its error is this call's.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(job) = &mut self.job {
            let (buf, wrote) = ready!(job.as_mut().poll(cx))?;
            self.job = None;
            self.spare = buf;
            wrote?;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_idle(cx))?;
        if bytes.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = bytes.len().min(MAX_JOB);
        let mut buf = std::mem::take(&mut self.spare);
        buf.clear();
        buf.extend_from_slice(&bytes[..n]);
        let which = self.which;
        self.job = Some(on_pool(move || {
            let wrote = match which {
                Which::Stdout => write_and_flush(io::stdout().lock(), &buf),
                Which::Stderr => write_and_flush(io::stderr().lock(), &buf),
            };
            (buf, wrote)
        }));
        Poll::Ready(Ok(n))
    }
}

/// Writes all of `buf` under std's lock of the stream, and flushes std's buffer, so the bytes
/// reach the descriptor in the order the writes were made, whole.
fn write_and_flush(mut out: impl Write, buf: &[u8]) -> io::Result<()> {
    out.write_all(buf)?;
    out.flush()
}

macro_rules! std_writer {
    ($name:ident, $fn:ident, $which:ident, $what:literal) => {
        #[doc = concat!("The process's standard ", $what, ", written on the blocking pool. Made by [`", stringify!($fn), "`].")]
        ///
        /// A write hands up to 64 KiB to a job that writes them all through std's handle (under
        /// its lock, so a `println!` on another thread lands before or after them, never in
        /// between) and flushes std's buffer; it returns as soon as the job is started. The
        /// next write, or `flush`, waits for that job, and returns its error if it failed: so
        /// an error is reported one call late, and only `flush` (or `close`) says that
        /// everything written so far reached the descriptor. Flush before the program ends:
        /// a job still running when the process exits is cut short.
        ///
        /// Order against `println!` on the same task: a `println!` after a `flush().await`
        /// comes after everything written before it; without the flush it may come before.
        ///
        /// Cancel safety: a dropped write or `write_all` loses nothing it was told it
        /// wrote: the job goes on. Bytes `write_all` had not handed over yet are not written.
        pub struct $name(Writer);

        #[doc = concat!("A handle to the process's standard ", $what, ", written on the blocking pool.")]
        ///
        /// ```
        /// use futures_lite::AsyncWriteExt;
        ///
        /// nbio::block_on(async {
        #[doc = concat!("    let mut out = nbio::io::", stringify!($fn), "();")]
        ///     out.write_all(b"written on the pool\n").await?;
        ///     out.flush().await // everything above reached the descriptor
        /// })?;
        /// # std::io::Result::Ok(())
        /// ```
        pub fn $fn() -> $name {
            $name(Writer::new(Which::$which))
        }

        impl AsyncWrite for $name {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().0.poll_write(cx, buf)
            }

            /// Waits for the last write's job (which flushes std's buffer).
            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().0.poll_idle(cx)
            }

            /// The same as `poll_flush`: the descriptor is the process's, and stays open.
            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().0.poll_idle(cx)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("writing", &self.0.job.is_some())
                    .finish()
            }
        }
    };
}

std_writer!(Stdout, stdout, Stdout, "output");
std_writer!(Stderr, stderr, Stderr, "error");
