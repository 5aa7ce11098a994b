//! Files, through the blocking pool.
//!
//! The article's loop only ever waits on sockets, and for a reason: `select()` and epoll cannot
//! wait on a regular file. The kernel always calls a file "ready", then blocks the thread in
//! `read` while the disk (or the network disk) answers, and every task on the loop waits with
//! it. So nbio does what tokio and async-fs do: each operation here runs std's blocking call on
//! a thread of the runtime's blocking pool ([`spawn_blocking`](crate::spawn_blocking)), and the
//! calling task waits for it as it would for a socket.
//!
//! Each whole-file function (`read`, `write`, `copy`, …) is exactly one job: one trip to the
//! pool and back, whatever the file's size. [`File`] streams, one read or write in flight at a
//! time. Every error keeps the `io::ErrorKind` std gave (so `NotFound` can be matched) and names
//! the path: "No such file or directory: /tmp/x/config.toml"; the OS error itself is the
//! error's `source()`.
//!
//! ```
//! # let dir = std::env::temp_dir().join(format!("nbio-fs-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! nbio::block_on(async {
//!     let path = dir.join("greeting.txt");
//!     nbio::fs::write(&path, "hello, pool").await?;
//!     assert_eq!(nbio::fs::read_to_string(&path).await?, "hello, pool");
//!     let missing = nbio::fs::read(dir.join("missing.toml")).await.unwrap_err();
//!     assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
//!     assert!(missing.to_string().ends_with("missing.toml"), "{missing}");
//!     std::io::Result::Ok(())
//! })?;
//! # std::fs::remove_dir_all(&dir)?;
//! # std::io::Result::Ok(())
//! ```
//!
//! What is where:
//!
//! - whole files: [`read`], [`read_to_string`], [`write`], [`copy`], [`rename`],
//!   [`remove_file`], [`metadata`] (here);
//! - directories, links, permissions, existence: [`create_dir`], [`create_dir_all`],
//!   [`remove_dir`], [`remove_dir_all`], [`canonicalize`], [`hard_link`], [`symlink`],
//!   [`read_link`], [`set_permissions`], [`try_exists`], [`symlink_metadata`] (`paths.rs`), each
//!   one job;
//! - [`read_dir`] and its [`ReadDir`] of [`DirEntry`]s, read [`BATCH`] entries per job
//!   (`read_dir.rs`);
//! - [`File`] (`file.rs` streams, `file_ops.rs` the whole-file operations) and
//!   [`OpenOptions`], std's builder with an `open` on the pool (`open_options.rs`).
//!
//! Walking a tree, one directory at a time:
//!
//! ```
//! # let root = std::env::temp_dir().join(format!("nbio-fs-walk-{}", std::process::id()));
//! # std::fs::create_dir_all(root.join("a/b"))?;
//! # std::fs::write(root.join("a/b/deep.txt"), b"x")?;
//! # std::fs::write(root.join("top.txt"), b"x")?;
//! let mut found = nbio::block_on(async {
//!     let (mut files, mut dirs) = (Vec::new(), vec![root.clone()]);
//!     while let Some(dir) = dirs.pop() {
//!         let mut entries = nbio::fs::read_dir(&dir).await?;
//!         while let Some(entry) = entries.next_entry().await? {
//!             if entry.file_type().await?.is_dir() {
//!                 dirs.push(entry.path());
//!             } else {
//!                 files.push(entry.file_name().to_string_lossy().into_owned());
//!             }
//!         }
//!     }
//!     std::io::Result::Ok(files)
//! })?;
//! found.sort();
//! assert_eq!(found, ["deep.txt", "top.txt"]);
//! # std::fs::remove_dir_all(&root)?;
//! # std::io::Result::Ok(())
//! ```
//!
//! Cancel safety, for every function here: dropping its future after its job started does not
//! stop the operation on the pool; it completes and its result is dropped. (A dropped
//! `create_dir` still creates the directory.) [`ReadDir::next_entry`] loses no entry when
//! dropped; `File`'s operations say what theirs lose.
//!
//! In a dump, a task waiting on one of these shows as waiting on "the JoinHandle of blocking
//! job#N", and the job's line names the caller's line (the `nbio::fs` call, or for a
//! `ReadDir`, the `read_dir` call; for a `File`, where it was opened).

use std::error::Error;
use std::fmt;
use std::fs::Metadata;
use std::future::Future;
use std::io;
use std::panic::Location;
use std::path::{Path, PathBuf};

mod file;
mod file_ops;
mod open_options;
mod paths;
mod read_dir;

pub use file::File;
pub use open_options::OpenOptions;
#[cfg(unix)]
pub use paths::symlink;
pub use paths::{
    canonicalize, create_dir, hard_link, read_link, remove_dir, remove_dir_all, set_permissions,
    symlink_metadata, try_exists,
};
pub use read_dir::{read_dir, DirEntry, ReadDir, BATCH};

use crate::context;

/// Runs `op` on the blocking pool of the runtime polling this future; `what` names the call
/// for the error outside a runtime.
async fn on_pool<T: Send + 'static>(
    what: &'static str,
    at: &'static Location<'static>,
    op: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let job = context::spawn_blocking(op, at).ok_or_else(|| outside_runtime(what))?;
    job.await?
}

/// The error of an `nbio::fs` call awaited where no nbio runtime runs.
pub(crate) fn outside_runtime(what: &str) -> io::Error {
    io::Error::other(format!(
        "{what} needs an nbio runtime (its blocking pool runs the file operation); await it \
         inside nbio::block_on"
    ))
}

/// An error of a file operation, naming the path. Its `kind` is the original error's; the
/// original error is its `source`.
#[derive(Debug)]
struct PathError {
    /// What the OS (or std) said, without its "(os error N)" suffix.
    reason: String,
    path: PathBuf,
    /// For two-path operations: the other path, and what was being done with it.
    other: Option<(&'static str, PathBuf)>,
    source: io::Error,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.path.display())?;
        if let Some((doing, other)) = &self.other {
            write!(f, " ({doing} {})", other.display())?;
        }
        Ok(())
    }
}

impl Error for PathError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// `err`, naming `path` (and, for a rename or a copy, the other path).
pub(crate) fn with_path(
    err: io::Error,
    path: &Path,
    other: Option<(&'static str, &Path)>,
) -> io::Error {
    let reason = match err.raw_os_error() {
        // std says "No such file or directory (os error 2)": keep the words.
        Some(code) => {
            let text = io::Error::from_raw_os_error(code).to_string();
            match text.rfind(" (os error ") {
                Some(at) => text[..at].to_string(),
                None => text,
            }
        }
        None => err.to_string(),
    };
    io::Error::new(
        err.kind(),
        PathError {
            reason,
            path: path.to_path_buf(),
            other: other.map(|(doing, other)| (doing, other.to_path_buf())),
            source: err,
        },
    )
}

/// Reads the whole file at `path`: [`std::fs::read`], on the blocking pool.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("nbio-fs-read-{}", std::process::id()));
/// # std::fs::write(&path, b"bytes")?;
/// let bytes = nbio::block_on(nbio::fs::read(&path))?;
/// assert_eq!(bytes, b"bytes");
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
/// As `std::fs::read`, with the path in the message; also if awaited outside a runtime.
#[track_caller]
pub fn read(path: impl AsRef<Path>) -> impl Future<Output = io::Result<Vec<u8>>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    on_pool("nbio::fs::read", at, move || {
        std::fs::read(&path).map_err(|err| with_path(err, &path, None))
    })
}

/// Reads the whole file at `path` as UTF-8: [`std::fs::read_to_string`], on the blocking pool.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("nbio-fs-rts-{}", std::process::id()));
/// # std::fs::write(&path, "text")?;
/// assert_eq!(nbio::block_on(nbio::fs::read_to_string(&path))?, "text");
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
/// As `std::fs::read_to_string` (`InvalidData` if the file is not UTF-8), with the path.
#[track_caller]
pub fn read_to_string(path: impl AsRef<Path>) -> impl Future<Output = io::Result<String>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    on_pool("nbio::fs::read_to_string", at, move || {
        std::fs::read_to_string(&path).map_err(|err| with_path(err, &path, None))
    })
}

/// Writes `contents` as the whole file at `path`, creating or truncating it:
/// [`std::fs::write`], on the blocking pool. The bytes are copied (or moved, for a `Vec` or a
/// `String`) to the pool thread.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("nbio-fs-write-{}", std::process::id()));
/// nbio::block_on(nbio::fs::write(&path, b"written"))?;
/// assert_eq!(std::fs::read(&path)?, b"written");
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
/// As `std::fs::write`, with the path.
#[track_caller]
pub fn write(
    path: impl AsRef<Path>,
    contents: impl Into<Vec<u8>>,
) -> impl Future<Output = io::Result<()>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    let contents = contents.into();
    on_pool("nbio::fs::write", at, move || {
        std::fs::write(&path, contents).map_err(|err| with_path(err, &path, None))
    })
}

/// The metadata of `path`, following symbolic links: [`std::fs::metadata`], on the blocking
/// pool.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("nbio-fs-meta-{}", std::process::id()));
/// # std::fs::write(&path, b"four")?;
/// let metadata = nbio::block_on(nbio::fs::metadata(&path))?;
/// assert_eq!(metadata.len(), 4);
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
/// As `std::fs::metadata`, with the path.
#[track_caller]
pub fn metadata(path: impl AsRef<Path>) -> impl Future<Output = io::Result<Metadata>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    on_pool("nbio::fs::metadata", at, move || {
        std::fs::metadata(&path).map_err(|err| with_path(err, &path, None))
    })
}

/// Removes the file at `path`: [`std::fs::remove_file`], on the blocking pool.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("nbio-fs-rm-{}", std::process::id()));
/// # std::fs::write(&path, b"")?;
/// nbio::block_on(nbio::fs::remove_file(&path))?;
/// assert!(!path.exists());
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
/// As `std::fs::remove_file`, with the path.
#[track_caller]
pub fn remove_file(path: impl AsRef<Path>) -> impl Future<Output = io::Result<()>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    on_pool("nbio::fs::remove_file", at, move || {
        std::fs::remove_file(&path).map_err(|err| with_path(err, &path, None))
    })
}

/// Renames `from` to `to`, replacing `to` if it exists: [`std::fs::rename`], on the blocking
/// pool.
///
/// ```
/// # let dir = std::env::temp_dir();
/// # let (from, to) = (dir.join(format!("nbio-fs-mv1-{}", std::process::id())), dir.join(format!("nbio-fs-mv2-{}", std::process::id())));
/// # std::fs::write(&from, b"moved")?;
/// nbio::block_on(nbio::fs::rename(&from, &to))?;
/// assert_eq!(std::fs::read(&to)?, b"moved");
/// # std::fs::remove_file(&to)?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
/// As `std::fs::rename`; the message names both paths.
#[track_caller]
pub fn rename(
    from: impl AsRef<Path>,
    to: impl AsRef<Path>,
) -> impl Future<Output = io::Result<()>> + Send {
    let (from, to) = (from.as_ref().to_path_buf(), to.as_ref().to_path_buf());
    on_pool("nbio::fs::rename", Location::caller(), move || {
        std::fs::rename(&from, &to)
            .map_err(|err| with_path(err, &from, Some(("renaming it to", &to))))
    })
}

/// Creates the directory `path` and every missing parent: [`std::fs::create_dir_all`], on the
/// blocking pool. A directory that already exists is not an error.
///
/// ```
/// # let base = std::env::temp_dir().join(format!("nbio-fs-mkdir-{}", std::process::id()));
/// nbio::block_on(nbio::fs::create_dir_all(base.join("a/b/c")))?;
/// assert!(base.join("a/b/c").is_dir());
/// # std::fs::remove_dir_all(&base)?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
/// As `std::fs::create_dir_all`, with the path.
#[track_caller]
pub fn create_dir_all(path: impl AsRef<Path>) -> impl Future<Output = io::Result<()>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    on_pool("nbio::fs::create_dir_all", at, move || {
        std::fs::create_dir_all(&path).map_err(|err| with_path(err, &path, None))
    })
}

/// Copies the contents (and permissions) of the file `from` to `to`, replacing `to`; returns
/// the number of bytes copied: [`std::fs::copy`], on the blocking pool (one job, however big
/// the file).
///
/// ```
/// # let dir = std::env::temp_dir();
/// # let (from, to) = (dir.join(format!("nbio-fs-cp1-{}", std::process::id())), dir.join(format!("nbio-fs-cp2-{}", std::process::id())));
/// # std::fs::write(&from, b"copied")?;
/// assert_eq!(nbio::block_on(nbio::fs::copy(&from, &to))?, 6);
/// assert_eq!(std::fs::read(&to)?, b"copied");
/// # std::fs::remove_file(&from)?;
/// # std::fs::remove_file(&to)?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
/// As `std::fs::copy`; the message names both paths.
#[track_caller]
pub fn copy(
    from: impl AsRef<Path>,
    to: impl AsRef<Path>,
) -> impl Future<Output = io::Result<u64>> + Send {
    let (from, to) = (from.as_ref().to_path_buf(), to.as_ref().to_path_buf());
    on_pool("nbio::fs::copy", Location::caller(), move || {
        std::fs::copy(&from, &to).map_err(|err| with_path(err, &from, Some(("copying it to", &to))))
    })
}
