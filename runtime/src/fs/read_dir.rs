//! `nbio::fs::read_dir`: a directory's entries, read in batches on the blocking pool.
//!
//! Reading a directory is a loop of `getdents` calls, each of which may wait on the disk, so it
//! goes to the pool like every file call; but a trip per entry would cost more than the entry.
//! A job reads [`BATCH`] entries at once (the one `read_dir` starts reads the first batch as well
//! as opening the directory, so a directory of fewer entries costs a single trip), and
//! [`ReadDir::next_entry`] hands them out one by one without leaving the task.
//!
//! Cancel safety comes from where things live: the batch and the job in flight belong to the
//! `ReadDir`, not to the `next_entry` future. An entry leaves the `ReadDir` only in the poll
//! that returns it, so a dropped `next_entry` loses none; the job it was waiting on stays in the
//! `ReadDir`, and the next call waits on that same job.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs::{FileType, Metadata};
use std::future::{poll_fn, Future};
use std::io;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_lite::Stream;

use super::{on_pool, outside_runtime, with_path};
use crate::context;
use crate::task::JoinHandle;

/// How many entries one pool job reads. A trip to the pool and back costs some microseconds
/// (a wake of a pool thread, a wake of the task); an entry costs well under one (the kernel
/// hands them over 32 KiB at a time, and the type comes with the name on most file systems).
/// 32 entries make the trip a small share of the cost while keeping what a `ReadDir` holds
/// small (a few KiB) and the first entries quick to arrive.
pub const BATCH: usize = 32;

/// The entries of the directory `path`, read on the blocking pool in batches of [`BATCH`]:
/// [`std::fs::read_dir`]. Take them with [`ReadDir::next_entry`], or as a `Stream`. `.` and
/// `..` are not among them, and the order is the file system's (not sorted).
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("nbio-read-dir-{}", std::process::id()));
/// # std::fs::create_dir_all(dir.join("sub"))?;
/// # std::fs::write(dir.join("file.txt"), b"x")?;
/// nbio::block_on(async {
///     let mut entries = nbio::fs::read_dir(&dir).await?;
///     let mut names = Vec::new();
///     while let Some(entry) = entries.next_entry().await? {
///         let kind = if entry.file_type().await?.is_dir() { "dir" } else { "file" };
///         names.push(format!("{} ({kind})", entry.file_name().to_string_lossy()));
///     }
///     names.sort();
///     assert_eq!(names, ["file.txt (file)", "sub (dir)"]);
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// ```
///
/// Cancel safety: dropping it does not stop the operation on the pool; it completes and its
/// result (the open directory) is dropped.
///
/// # Errors
/// As `std::fs::read_dir` (`NotFound`, `NotADirectory`, `PermissionDenied`), with the path.
#[track_caller]
pub fn read_dir(path: impl AsRef<Path>) -> impl Future<Output = io::Result<ReadDir>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    async move {
        let path: Arc<Path> = Arc::from(path);
        let opening = Arc::clone(&path);
        let open = move || {
            let std = std::fs::read_dir(&opening).map_err(|err| with_path(err, &opening, None))?;
            Ok(read_batch(std, &opening))
        };
        let batch = on_pool("nbio::fs::read_dir", at, open).await?;
        Ok(ReadDir {
            path,
            at,
            state: State::Idle(batch),
        })
    }
}

/// The entries of a directory, from [`read_dir`]: [`next_entry`](ReadDir::next_entry) takes
/// them one by one, and the `Stream` impl gives the same as `Option<io::Result<DirEntry>>`.
pub struct ReadDir {
    /// The directory, for errors.
    path: Arc<Path>,
    /// Where `read_dir` was called: the spawn site of its jobs in dumps and traces.
    at: &'static Location<'static>,
    state: State,
}

enum State {
    /// No job in flight: the entries read and not yet taken, and std's reader (`None` once it
    /// reached the end).
    Idle(Batch),
    /// A job reads the next batch with std's reader.
    Busy(JoinHandle<Batch>),
    /// The runtime cancelled the job in flight (it shut down): the reader went with it.
    Lost,
}

/// Entries read by one job, and the reader to go on with.
struct Batch {
    entries: VecDeque<io::Result<DirEntry>>,
    rest: Option<std::fs::ReadDir>,
}

/// Reads up to [`BATCH`] entries with `std` (on a pool thread). An error ends the batch, not
/// the directory: the next batch tries again, as std's iterator does.
fn read_batch(mut std: std::fs::ReadDir, dir: &Path) -> Batch {
    let mut entries = VecDeque::with_capacity(BATCH);
    let mut ended = false;
    while entries.len() < BATCH {
        match std.next() {
            Some(Ok(entry)) => entries.push_back(Ok(DirEntry::new(entry))),
            Some(Err(err)) => {
                entries.push_back(Err(with_path(err, dir, None)));
                break;
            }
            None => {
                ended = true;
                break;
            }
        }
    }
    Batch {
        entries,
        rest: (!ended).then_some(std),
    }
}

impl ReadDir {
    /// The next entry, `None` at the end: from the batch already read, or, when that is empty,
    /// after a job reads the next [`BATCH`] entries on the pool. While it waits on that job the
    /// dump shows the task waiting on "the JoinHandle of blocking job#N", and the job line says
    /// it was spawned where `read_dir` was called.
    ///
    /// Cancel safety: dropping it loses no entry. The batch, and the job reading the next
    /// batch, are kept in the `ReadDir`; an entry leaves it only in the poll that returns it.
    ///
    /// # Errors
    /// An error std met reading the directory (rare: a disk error, a directory removed while
    /// read), with the directory's path; the entries after it can still be read. Also if
    /// awaited outside a runtime, or after the runtime shut down with a job in flight.
    pub fn next_entry(&mut self) -> impl Future<Output = io::Result<Option<DirEntry>>> + '_ {
        poll_fn(|cx| self.poll_next_entry(cx))
    }

    /// The poll behind [`next_entry`](ReadDir::next_entry), for hand-written futures: `Ready`
    /// with the next entry (or `None` at the end), or `Pending` with `cx`'s waker kept for the
    /// job reading the next batch.
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        loop {
            match &mut self.state {
                State::Idle(batch) => {
                    if let Some(entry) = batch.entries.pop_front() {
                        return Poll::Ready(entry.map(Some));
                    }
                    let Some(std) = batch.rest.take() else {
                        return Poll::Ready(Ok(None));
                    };
                    let dir = Arc::clone(&self.path);
                    let job = context::spawn_blocking(move || read_batch(std, &dir), self.at)
                        .ok_or_else(|| outside_runtime("nbio::fs::ReadDir::next_entry"))?;
                    self.state = State::Busy(job);
                }
                State::Busy(job) => match ready!(Pin::new(job).poll(cx)) {
                    Ok(batch) => self.state = State::Idle(batch),
                    Err(err) => {
                        self.state = State::Lost;
                        return Poll::Ready(Err(err.into()));
                    }
                },
                State::Lost => return Poll::Ready(Err(lost(&self.path))),
            }
        }
    }
}

/// The error once the runtime cancelled a read of this directory.
fn lost(dir: &Path) -> io::Error {
    io::Error::other(format!(
        "the nbio runtime shut down while reading the directory {}; read it again",
        dir.display()
    ))
}

impl Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_entry(cx).map(Result::transpose)
    }
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Idle(batch) if batch.rest.is_none() => "read to the end",
            State::Idle(_) => "idle",
            State::Busy(_) => "reading a batch",
            State::Lost => "lost (its runtime shut down)",
        };
        f.debug_struct("ReadDir")
            .field("path", &self.path)
            .field("state", &state)
            .finish()
    }
}

/// An entry of a directory, from [`ReadDir`]. Its name, path and inode number are at hand;
/// its type was read with the batch; its metadata takes a trip to the pool.
#[derive(Debug)]
pub struct DirEntry {
    std: Arc<std::fs::DirEntry>,
    /// Read on the pool with the batch: from the entry itself on file systems that record the
    /// type in the directory (ext4, xfs, btrfs, tmpfs, …), by an `lstat` on the others.
    file_type: io::Result<FileType>,
}

impl DirEntry {
    fn new(std: std::fs::DirEntry) -> DirEntry {
        let file_type = std
            .file_type()
            .map_err(|err| with_path(err, &std.path(), None));
        DirEntry {
            std: Arc::new(std),
            file_type,
        }
    }

    /// The entry's full path: the directory given to `read_dir` joined with its name.
    pub fn path(&self) -> PathBuf {
        self.std.path()
    }

    /// The entry's name in its directory.
    pub fn file_name(&self) -> OsString {
        self.std.file_name()
    }

    /// The entry's inode number, from the directory itself (no system call).
    #[cfg(unix)]
    pub fn ino(&self) -> u64 {
        std::os::unix::fs::DirEntryExt::ino(&*self.std)
    }

    /// The entry's type, not following a symbolic link (a link is `is_symlink()`). It was read
    /// on the pool with the batch, so this is ready at once.
    ///
    /// Cancel safety: it does not wait; nothing can be lost.
    ///
    /// # Errors
    /// If the type was not in the directory and the `lstat` that looked it up failed (the
    /// entry was removed meanwhile, say), with the entry's path.
    pub fn file_type(&self) -> impl Future<Output = io::Result<FileType>> + Send + '_ {
        let file_type = match &self.file_type {
            Ok(file_type) => Ok(*file_type),
            Err(err) => Err(io::Error::new(err.kind(), err.to_string())),
        };
        std::future::ready(file_type)
    }

    /// The entry's metadata, not following a symbolic link (as
    /// [`symlink_metadata`](super::symlink_metadata)): [`std::fs::DirEntry::metadata`], on the
    /// blocking pool.
    ///
    /// Cancel safety: dropping it does not stop the operation on the pool; it completes and
    /// its result is dropped.
    ///
    /// # Errors
    /// As std's (`NotFound` if the entry was removed since it was read), with its path.
    #[track_caller]
    pub fn metadata(&self) -> impl Future<Output = io::Result<Metadata>> + Send {
        let (std, at) = (Arc::clone(&self.std), Location::caller());
        on_pool("nbio::fs::DirEntry::metadata", at, move || {
            std.metadata()
                .map_err(|err| with_path(err, &std.path(), None))
        })
    }
}
