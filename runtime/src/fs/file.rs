//! `nbio::fs::File`: a file that reads, writes and seeks through the blocking pool.
//!
//! A file has a single position in the kernel, so its operations must happen one at a time and
//! in order. `File` keeps at most one job in flight and one buffer, which travels with the job
//! to the pool thread and back:
//!
//! - a read asks the pool for up to 64 KiB at once and keeps what the caller did not take, so
//!   that many small reads cost one trip;
//! - a write copies the caller's bytes into the buffer, starts the job and returns at once (the
//!   article's `send` taking the bytes); the next operation waits for that job first, and a
//!   write error is reported by the next call, or by `flush`/`close`, which wait for it;
//! - a seek waits for the job in flight, then moves the kernel's position, counting the bytes
//!   read ahead but not yet taken (they are dropped);
//! - a write after a read moves the kernel's position back over the bytes read ahead first,
//!   so that it lands where the caller thinks it does.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice, Read, Seek, SeekFrom, Write};
use std::panic::Location;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_lite::io::{AsyncRead, AsyncSeek, AsyncWrite};

use super::{on_pool, outside_runtime, with_path};
use crate::context;
use crate::task::JoinHandle;

/// The most one read asks the pool for, and one write hands it.
const CHUNK: usize = 64 * 1024;

/// An open file whose reads, writes and seeks run on the runtime's blocking pool.
///
/// It implements futures-io's `AsyncRead`, `AsyncWrite` and `AsyncSeek`, so the extension
/// traits of `futures-lite` (or `futures`) give it `read_to_end`, `write_all`, `seek` and the
/// rest.
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
/// use std::io::SeekFrom;
/// # let path = std::env::temp_dir().join(format!("nbio-file-doc-{}", std::process::id()));
/// nbio::block_on(async {
///     let mut file = nbio::fs::File::create(&path).await?;
///     file.write_all(b"hello, file").await?;
///     file.flush().await?; // the write's outcome, now that it is done
///     file.seek(SeekFrom::Start(7)).await?;
///     let mut rest = String::new();
///     nbio::fs::File::open(&path).await?.read_to_string(&mut rest).await?;
///     assert_eq!(rest, "hello, file");
///     file.sync_all().await?; // on the disk, not only in the kernel's cache
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
///
/// [`OpenOptions`](super::OpenOptions) opens one to read and write, append, or create only
/// if new. [`metadata`](File::metadata), [`set_len`](File::set_len),
/// [`try_clone`](File::try_clone) and [`into_std`](File::into_std) wait for the operation in
/// flight, then act at the caller's position (`file_ops.rs`).
///
/// Dropping a `File` with a write in flight lets that write finish on the pool, but its error,
/// if any, is lost: `flush` (or `close`) first to see it.
///
/// Cancel safety of its futures (`read`, `write`, `seek`, `flush` and the operations above):
/// dropping one does not stop the job it started on the pool; it completes, and the `File`'s
/// next operation waits for it first. A dropped read loses no byte (they wait in the
/// read-ahead); a dropped write had already been accepted, or had not started.
pub struct File {
    pub(super) std: Arc<std::fs::File>,
    pub(super) path: Arc<Path>,
    /// Where the file was opened: the call site of its jobs in dumps and traces.
    pub(super) opened_at: &'static Location<'static>,
    pub(super) state: State,
    /// The error of a write that was already reported as done, for the next call to return.
    pub(super) write_error: Option<io::Error>,
}

pub(super) enum State {
    /// No job in flight; the buffer may hold bytes read ahead.
    Idle(Buf),
    /// A job has the buffer.
    Busy(JoinHandle<(Done, Buf)>),
    /// The runtime cancelled the job in flight (it shut down): the buffer is gone.
    Lost,
}

/// The buffer that travels with each job: bytes read ahead (`data[pos..]`), or bytes to write.
#[derive(Default)]
pub(super) struct Buf {
    pub(super) data: Vec<u8>,
    pub(super) pos: usize,
}

impl Buf {
    pub(super) fn unread(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(super) fn clear(&mut self) {
        self.data.clear();
        self.pos = 0;
    }
}

/// What a job did.
pub(super) enum Done {
    Read(io::Result<()>),
    Write(io::Result<()>),
    Seek(io::Result<u64>),
    /// One of the whole-file operations of `file_ops.rs`: its `io::Result<T>`, boxed.
    Op(Box<dyn Any + Send>),
}

impl File {
    /// Opens the file at `path` for reading: [`std::fs::File::open`], on the blocking pool.
    ///
    /// # Errors
    /// As `std::fs::File::open`, with the path in the message.
    #[track_caller]
    pub fn open(path: impl AsRef<Path>) -> impl Future<Output = io::Result<File>> + Send {
        let path: Arc<Path> = Arc::from(path.as_ref());
        let at = Location::caller();
        let opening = Arc::clone(&path);
        async move {
            let open =
                move || std::fs::File::open(&opening).map_err(|err| with_path(err, &opening, None));
            Ok(File::new(
                on_pool("nbio::fs::File::open", at, open).await?,
                path,
                at,
            ))
        }
    }

    /// Creates the file at `path` for writing, truncating it if it exists:
    /// [`std::fs::File::create`], on the blocking pool.
    ///
    /// # Errors
    /// As `std::fs::File::create`, with the path in the message.
    #[track_caller]
    pub fn create(path: impl AsRef<Path>) -> impl Future<Output = io::Result<File>> + Send {
        let path: Arc<Path> = Arc::from(path.as_ref());
        let at = Location::caller();
        let creating = Arc::clone(&path);
        async move {
            let create = move || {
                std::fs::File::create(&creating).map_err(|err| with_path(err, &creating, None))
            };
            Ok(File::new(
                on_pool("nbio::fs::File::create", at, create).await?,
                path,
                at,
            ))
        }
    }

    /// New [`OpenOptions`](super::OpenOptions), all off: `File::options().append(true)...`.
    pub fn options() -> super::OpenOptions {
        super::OpenOptions::new()
    }

    /// Wraps a file opened with std (a descriptor inherited, or a file from a library that
    /// opens its own). Its errors name it "a file opened with std", having no path to name.
    /// [`into_std`](File::into_std) gives it back.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("nbio-file-std-{}", std::process::id()));
    /// # std::fs::write(&path, b"")?;
    /// let std = std::fs::OpenOptions::new().read(true).write(true).open(&path)?;
    /// let file = nbio::fs::File::from_std(std);
    /// # drop(file);
    /// # std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(())
    /// ```
    #[track_caller]
    pub fn from_std(file: std::fs::File) -> File {
        let path = Path::new("a file opened with std");
        File::new(file, Arc::from(path), Location::caller())
    }

    pub(super) fn new(
        std: std::fs::File,
        path: Arc<Path>,
        opened_at: &'static Location<'static>,
    ) -> File {
        File {
            std: Arc::new(std),
            path,
            opened_at,
            state: State::Idle(Buf::default()),
            write_error: None,
        }
    }

    /// The path the file was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands `job` to the pool; the file is busy until it is done.
    pub(super) fn start(
        &mut self,
        job: impl FnOnce() -> (Done, Buf) + Send + 'static,
    ) -> io::Result<()> {
        let handle = context::spawn_blocking(job, self.opened_at)
            .ok_or_else(|| outside_runtime("nbio::fs::File"))?;
        self.state = State::Busy(handle);
        Ok(())
    }

    /// Waits for the job in flight and takes its buffer back. A write's error is kept for the
    /// next call; the other results are returned for the caller to use or drop.
    pub(super) fn poll_job(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Done>> {
        let State::Busy(handle) = &mut self.state else {
            unreachable!("poll_job is only called while a job is in flight");
        };
        let (done, buf) = match ready!(Pin::new(handle).poll(cx)) {
            Ok(finished) => finished,
            Err(err) => {
                self.state = State::Lost;
                return Poll::Ready(Err(err.into()));
            }
        };
        self.state = State::Idle(buf);
        Poll::Ready(Ok(match done {
            Done::Write(Err(err)) => {
                self.write_error.get_or_insert(err);
                Done::Write(Ok(()))
            }
            done => done,
        }))
    }

    /// Copies `bufs`, in order and up to [`CHUNK`] bytes in all, into the buffer of a write job
    /// and starts it; returns how many bytes it took.
    fn poll_write_all_of(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            let Some(buf) = self.idle_buf()? else {
                ready!(self.poll_job(cx))?;
                continue;
            };
            if bufs.iter().all(|bytes| bytes.is_empty()) {
                return Poll::Ready(Ok(0));
            }
            // Bytes read ahead were never taken: the write goes where the caller's position is.
            let back = buf.unread() as i64;
            let mut buf = std::mem::take(buf);
            buf.clear();
            for bytes in bufs {
                let room = CHUNK - buf.data.len();
                buf.data.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            let n = buf.data.len();
            let (std, path) = (Arc::clone(&self.std), Arc::clone(&self.path));
            self.start(move || {
                let mut file = &*std;
                let written = if back > 0 {
                    file.seek(SeekFrom::Current(-back)).map(drop)
                } else {
                    Ok(())
                }
                .and_then(|()| file.write_all(&buf.data))
                .map_err(|err| with_path(err, &path, None));
                buf.clear();
                (Done::Write(written), buf)
            })?;
            return Poll::Ready(Ok(n));
        }
    }

    /// The buffer of an idle file, after reporting an earlier write's error.
    fn idle_buf(&mut self) -> io::Result<Option<&mut Buf>> {
        if let Some(err) = self.write_error.take() {
            return Err(err);
        }
        match &mut self.state {
            State::Idle(buf) => Ok(Some(buf)),
            State::Busy(_) => Ok(None),
            State::Lost => Err(lost()),
        }
    }
}

/// The error once the runtime cancelled a job of this file.
pub(super) fn lost() -> io::Error {
    io::Error::other(
        "the nbio runtime shut down while this file had an operation in flight; the file's \
         position is unknown, open it again",
    )
}

impl AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            let Some(buf) = this.idle_buf()? else {
                if let Done::Read(read) = ready!(this.poll_job(cx))? {
                    let State::Idle(buf) = &this.state else {
                        unreachable!("poll_job leaves the file idle");
                    };
                    read?;
                    if buf.unread() == 0 {
                        return Poll::Ready(Ok(0)); // the end of the file
                    }
                }
                continue;
            };
            if buf.unread() > 0 || out.is_empty() {
                let n = out.len().min(buf.unread());
                out[..n].copy_from_slice(&buf.data[buf.pos..buf.pos + n]);
                buf.pos += n;
                return Poll::Ready(Ok(n));
            }
            let mut buf = std::mem::take(buf);
            let wanted = out.len().clamp(8 * 1024, CHUNK);
            let (std, path) = (Arc::clone(&this.std), Arc::clone(&this.path));
            this.start(move || {
                buf.clear();
                buf.data.resize(wanted, 0);
                let read = (&*std).read(&mut buf.data);
                let read = match read {
                    Ok(n) => {
                        buf.data.truncate(n);
                        Ok(())
                    }
                    Err(err) => {
                        buf.clear();
                        Err(with_path(err, &path, None))
                    }
                };
                (Done::Read(read), buf)
            })?;
        }
    }
}

impl AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_all_of(cx, &[IoSlice::new(bytes)])
    }

    /// Takes every buffer (up to 64 KiB in all) into one write job, not only the first as
    /// futures-io's default does: three buffers of a header, a body and a trailer are one trip.
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_all_of(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match this.idle_buf()? {
                Some(_) => return Poll::Ready(Ok(())),
                None => drop(ready!(this.poll_job(cx))?),
            }
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl AsyncSeek for File {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        loop {
            let Some(buf) = this.idle_buf()? else {
                if let Done::Seek(sought) = ready!(this.poll_job(cx))? {
                    return Poll::Ready(sought);
                }
                continue;
            };
            // The kernel is ahead of the caller by the bytes read ahead and not taken.
            let pos = match pos {
                SeekFrom::Current(offset) => SeekFrom::Current(offset - buf.unread() as i64),
                other => other,
            };
            let mut buf = std::mem::take(buf);
            buf.clear();
            let (std, path) = (Arc::clone(&this.std), Arc::clone(&this.path));
            this.start(move || {
                let sought = (&*std).seek(pos).map_err(|err| with_path(err, &path, None));
                (Done::Seek(sought), buf)
            })?;
        }
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle(buf) if buf.unread() > 0 => "idle, with bytes read ahead",
            State::Idle(_) => "idle",
            State::Busy(_) => "an operation in flight",
            State::Lost => "lost (its runtime shut down)",
        };
        f.debug_struct("File")
            .field("path", &self.path)
            .field("state", &state)
            .finish()
    }
}

/// The descriptor, valid while the `File` lives. An operation in flight uses it on a pool
/// thread meanwhile: a read or write through the descriptor races with it.
#[cfg(unix)]
impl std::os::fd::AsFd for File {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.std.as_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for File {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.std.as_raw_fd()
    }
}
