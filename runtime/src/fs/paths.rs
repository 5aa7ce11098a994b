//! The calls on paths that are not whole-file reads or writes: directories, links, permissions,
//! existence. Each is one std call, one job on the blocking pool, with the path in its error.
//!
//! Cancel safety, for every future here: dropping it does not stop the operation on the pool;
//! it completes and its result is dropped. A dropped `create_dir` still creates the directory.

use std::fs::{Metadata, Permissions};
use std::future::Future;
use std::io;
use std::panic::Location;
use std::path::{Path, PathBuf};

use super::{on_pool, with_path};

/// Creates the directory `path`, whose parent must exist: [`std::fs::create_dir`], on the
/// blocking pool. [`create_dir_all`](super::create_dir_all) makes the parents too.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("nbio-fs-create-dir-{}", std::process::id()));
/// nbio::block_on(nbio::fs::create_dir(&dir))?;
/// assert!(dir.is_dir());
/// let again = nbio::block_on(nbio::fs::create_dir(&dir)).unwrap_err();
/// assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
/// # std::fs::remove_dir(&dir)?;
/// # std::io::Result::Ok(())
/// ```
///
/// Cancel safety: dropping it does not stop the operation on the pool; it completes and its
/// result is dropped.
///
/// # Errors
/// As `std::fs::create_dir` (`AlreadyExists`, `NotFound` for a missing parent), with the path.
#[track_caller]
pub fn create_dir(path: impl AsRef<Path>) -> impl Future<Output = io::Result<()>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    on_pool("nbio::fs::create_dir", at, move || {
        std::fs::create_dir(&path).map_err(|err| with_path(err, &path, None))
    })
}

/// Removes the empty directory `path`: [`std::fs::remove_dir`], on the blocking pool.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("nbio-fs-remove-dir-{}", std::process::id()));
/// # std::fs::create_dir_all(dir.join("inside"))?;
/// let full = nbio::block_on(nbio::fs::remove_dir(&dir)).unwrap_err();
/// assert_eq!(full.kind(), std::io::ErrorKind::DirectoryNotEmpty);
/// // "Directory not empty: /tmp/nbio-fs-remove-dir-…"
/// nbio::block_on(nbio::fs::remove_dir(dir.join("inside")))?;
/// nbio::block_on(nbio::fs::remove_dir(&dir))?;
/// assert!(!dir.exists());
/// # std::io::Result::Ok(())
/// ```
///
/// Cancel safety: dropping it does not stop the operation on the pool; it completes and its
/// result is dropped.
///
/// # Errors
/// As `std::fs::remove_dir` (`DirectoryNotEmpty`, `NotFound`, `NotADirectory`), with the path.
#[track_caller]
pub fn remove_dir(path: impl AsRef<Path>) -> impl Future<Output = io::Result<()>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    on_pool("nbio::fs::remove_dir", at, move || {
        std::fs::remove_dir(&path).map_err(|err| with_path(err, &path, None))
    })
}

/// Removes the directory `path` and everything in it, without following symbolic links:
/// [`std::fs::remove_dir_all`], on the blocking pool, as one job however big the tree.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("nbio-fs-remove-all-{}", std::process::id()));
/// # std::fs::create_dir_all(dir.join("a/b"))?;
/// # std::fs::write(dir.join("a/b/file"), b"x")?;
/// nbio::block_on(nbio::fs::remove_dir_all(&dir))?;
/// assert!(!dir.exists());
/// # std::io::Result::Ok(())
/// ```
///
/// Cancel safety: dropping it does not stop the operation on the pool; it completes (the whole
/// tree goes) and its result is dropped.
///
/// # Errors
/// As `std::fs::remove_dir_all`, with the path of the tree (not that of the entry that failed).
#[track_caller]
pub fn remove_dir_all(path: impl AsRef<Path>) -> impl Future<Output = io::Result<()>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    on_pool("nbio::fs::remove_dir_all", at, move || {
        std::fs::remove_dir_all(&path).map_err(|err| with_path(err, &path, None))
    })
}

/// The absolute form of `path`, with every `.`, `..` and symbolic link resolved:
/// [`std::fs::canonicalize`], on the blocking pool. The path must exist.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("nbio-fs-canon-{}", std::process::id()));
/// # std::fs::create_dir_all(dir.join("a"))?;
/// let resolved = nbio::block_on(nbio::fs::canonicalize(dir.join("a/../a/.")))?;
/// assert_eq!(resolved, std::fs::canonicalize(dir.join("a"))?);
/// # std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// ```
///
/// Cancel safety: dropping it does not stop the operation on the pool; it completes and its
/// result is dropped.
///
/// # Errors
/// As `std::fs::canonicalize` (`NotFound` if any part is missing), with the path.
#[track_caller]
pub fn canonicalize(path: impl AsRef<Path>) -> impl Future<Output = io::Result<PathBuf>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    on_pool("nbio::fs::canonicalize", at, move || {
        std::fs::canonicalize(&path).map_err(|err| with_path(err, &path, None))
    })
}

/// Makes `link` a new name of the file `original` (a hard link): [`std::fs::hard_link`], on
/// the blocking pool.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("nbio-fs-hard-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # std::fs::write(dir.join("original"), b"same bytes")?;
/// nbio::block_on(nbio::fs::hard_link(dir.join("original"), dir.join("link")))?;
/// assert_eq!(std::fs::read(dir.join("link"))?, b"same bytes");
/// # std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// ```
///
/// Cancel safety: dropping it does not stop the operation on the pool; it completes and its
/// result is dropped.
///
/// # Errors
/// As `std::fs::hard_link` (`AlreadyExists` if `link` exists); the message names both paths.
#[track_caller]
pub fn hard_link(
    original: impl AsRef<Path>,
    link: impl AsRef<Path>,
) -> impl Future<Output = io::Result<()>> + Send {
    let (original, link) = (original.as_ref().to_path_buf(), link.as_ref().to_path_buf());
    on_pool("nbio::fs::hard_link", Location::caller(), move || {
        std::fs::hard_link(&original, &link)
            .map_err(|err| with_path(err, &original, Some(("linking it as", &link))))
    })
}

/// Makes `link` a symbolic link to `original`: [`std::os::unix::fs::symlink`], on the
/// blocking pool. `original` need not exist; a relative one is resolved from `link`'s directory
/// when the link is followed.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("nbio-fs-symlink-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # std::fs::write(dir.join("target"), b"pointed at")?;
/// nbio::block_on(async {
///     nbio::fs::symlink("target", dir.join("link")).await?;
///     assert_eq!(nbio::fs::read_link(dir.join("link")).await?, std::path::Path::new("target"));
///     assert_eq!(nbio::fs::read(dir.join("link")).await?, b"pointed at");
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// ```
///
/// Cancel safety: dropping it does not stop the operation on the pool; it completes and its
/// result is dropped.
///
/// # Errors
/// As `symlink` (`AlreadyExists` if `link` exists); the message names both paths.
#[cfg(unix)]
#[track_caller]
pub fn symlink(
    original: impl AsRef<Path>,
    link: impl AsRef<Path>,
) -> impl Future<Output = io::Result<()>> + Send {
    let (original, link) = (original.as_ref().to_path_buf(), link.as_ref().to_path_buf());
    on_pool("nbio::fs::symlink", Location::caller(), move || {
        std::os::unix::fs::symlink(&original, &link)
            .map_err(|err| with_path(err, &link, Some(("making it a link to", &original))))
    })
}

/// What the symbolic link `path` points to, as written in the link: [`std::fs::read_link`], on
/// the blocking pool. (See [`symlink`] for an example.)
///
/// Cancel safety: dropping it does not stop the operation on the pool; it completes and its
/// result is dropped.
///
/// # Errors
/// As `std::fs::read_link` (`InvalidInput` if `path` is not a link), with the path.
#[track_caller]
pub fn read_link(path: impl AsRef<Path>) -> impl Future<Output = io::Result<PathBuf>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    on_pool("nbio::fs::read_link", at, move || {
        std::fs::read_link(&path).map_err(|err| with_path(err, &path, None))
    })
}

/// Sets the permissions of `path`, following symbolic links: [`std::fs::set_permissions`], on
/// the blocking pool.
///
/// ```
/// use std::os::unix::fs::PermissionsExt;
/// # let path = std::env::temp_dir().join(format!("nbio-fs-perms-{}", std::process::id()));
/// # std::fs::write(&path, b"")?;
/// nbio::block_on(nbio::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)))?;
/// assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
///
/// Cancel safety: dropping it does not stop the operation on the pool; it completes and its
/// result is dropped.
///
/// # Errors
/// As `std::fs::set_permissions` (`NotFound`, `PermissionDenied`), with the path.
#[track_caller]
pub fn set_permissions(
    path: impl AsRef<Path>,
    permissions: Permissions,
) -> impl Future<Output = io::Result<()>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    on_pool("nbio::fs::set_permissions", at, move || {
        std::fs::set_permissions(&path, permissions).map_err(|err| with_path(err, &path, None))
    })
}

/// Whether `path` exists, following symbolic links: [`Path::try_exists`], on the blocking
/// pool. Unlike `Path::exists`, a failure to find out (a directory on the way that may not be
/// searched) is an error, not `false`; a broken symbolic link is `Ok(false)`.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("nbio-fs-exists-{}", std::process::id()));
/// assert!(!nbio::block_on(nbio::fs::try_exists(&path))?);
/// # std::fs::write(&path, b"")?;
/// assert!(nbio::block_on(nbio::fs::try_exists(&path))?);
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
///
/// Cancel safety: dropping it does not stop the operation on the pool; it completes and its
/// result is dropped.
///
/// # Errors
/// When existence cannot be checked (`PermissionDenied` on a parent), with the path.
#[track_caller]
pub fn try_exists(path: impl AsRef<Path>) -> impl Future<Output = io::Result<bool>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    on_pool("nbio::fs::try_exists", at, move || {
        path.try_exists().map_err(|err| with_path(err, &path, None))
    })
}

/// The metadata of `path` itself, not following a symbolic link: [`std::fs::symlink_metadata`],
/// on the blocking pool.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("nbio-fs-lstat-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// # std::os::unix::fs::symlink("nowhere", dir.join("dangling"))?;
/// let metadata = nbio::block_on(nbio::fs::symlink_metadata(dir.join("dangling")))?;
/// assert!(metadata.file_type().is_symlink());
/// # std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// ```
///
/// Cancel safety: dropping it does not stop the operation on the pool; it completes and its
/// result is dropped.
///
/// # Errors
/// As `std::fs::symlink_metadata`, with the path.
#[track_caller]
pub fn symlink_metadata(
    path: impl AsRef<Path>,
) -> impl Future<Output = io::Result<Metadata>> + Send {
    let (path, at) = (path.as_ref().to_path_buf(), Location::caller());
    on_pool("nbio::fs::symlink_metadata", at, move || {
        std::fs::symlink_metadata(&path).map_err(|err| with_path(err, &path, None))
    })
}
