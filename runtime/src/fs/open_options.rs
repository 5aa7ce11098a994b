//! `nbio::fs::OpenOptions`: std's builder of how to open a file, whose `open` runs on the
//! blocking pool and gives an `nbio::fs::File`.

use std::future::Future;
use std::io;
use std::panic::Location;
use std::path::Path;
use std::sync::Arc;

use super::{on_pool, with_path, File};

/// How to open a file: read, write, append, truncate, create or create only if new, and (on
/// Unix) the mode of a file it creates. The settings are std's [`std::fs::OpenOptions`], which
/// it wraps; [`open`](OpenOptions::open) runs std's `open` on the blocking pool.
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt};
/// use nbio::fs::OpenOptions;
/// # let path = std::env::temp_dir().join(format!("nbio-open-options-{}", std::process::id()));
/// nbio::block_on(async {
///     let mut log = OpenOptions::new().append(true).create(true).open(&path).await?;
///     log.write_all(b"first\n").await?;
///     log.close().await?;
///     let mut log = OpenOptions::new().append(true).open(&path).await?;
///     log.write_all(b"second\n").await?;
///     log.close().await?;
///     assert_eq!(nbio::fs::read_to_string(&path).await?, "first\nsecond\n");
///
///     let taken = OpenOptions::new().write(true).create_new(true).open(&path).await;
///     assert_eq!(taken.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
///     std::io::Result::Ok(())
/// })?;
/// # std::fs::remove_file(&path)?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions(std::fs::OpenOptions);

impl OpenOptions {
    /// Options with everything off: set at least one of `read`, `write` or `append`.
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new())
    }

    /// Whether the file may be read.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.0.read(read);
        self
    }

    /// Whether the file may be written (from its start, over what is there, unless `truncate`).
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.0.write(write);
        self
    }

    /// Whether every write goes to the end of the file (implies `write`).
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.0.append(append);
        self
    }

    /// Whether an existing file is cut to length 0 on opening (needs `write`).
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.0.truncate(truncate);
        self
    }

    /// Whether a missing file is created (needs `write` or `append`).
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.0.create(create);
        self
    }

    /// Whether to create the file and fail with `AlreadyExists` if it exists, in one step that
    /// no other process can come between (needs `write` or `append`; `create` and `truncate`
    /// are then ignored).
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.0.create_new(create_new);
        self
    }

    /// The permission bits of a file it creates (before the process's umask), `0o666` unless
    /// set.
    ///
    /// ```
    /// use std::os::unix::fs::PermissionsExt;
    /// # let path = std::env::temp_dir().join(format!("nbio-open-mode-{}", std::process::id()));
    /// let options = nbio::fs::OpenOptions::new().write(true).create(true).mode(0o600).clone();
    /// let _file = nbio::block_on(options.open(&path))?;
    /// assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
    /// # std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(())
    /// ```
    #[cfg(unix)]
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::mode(&mut self.0, mode);
        self
    }

    /// Extra flags for `open(2)` (`libc::O_NOFOLLOW`, say); the access mode bits are ignored.
    #[cfg(unix)]
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut self.0, flags);
        self
    }

    /// Opens the file at `path` with these options: [`std::fs::OpenOptions::open`], on the
    /// blocking pool.
    ///
    /// Cancel safety: dropping it does not stop the operation on the pool; it completes and
    /// its result is dropped (the file, if opened, is closed again; if it was created, it
    /// stays).
    ///
    /// # Errors
    /// As std's `open`, with the path: `NotFound` (no `create`), `AlreadyExists`
    /// (`create_new`), `InvalidInput` for options that do not go together (`truncate` or
    /// `create` without `write`, no access at all), `PermissionDenied`.
    #[track_caller]
    pub fn open(&self, path: impl AsRef<Path>) -> impl Future<Output = io::Result<File>> + Send {
        let path: Arc<Path> = Arc::from(path.as_ref());
        let (options, at) = (self.0.clone(), Location::caller());
        let opening = Arc::clone(&path);
        async move {
            let open = move || {
                options
                    .open(&opening)
                    .map_err(|err| with_path(err, &opening, None))
            };
            let std = on_pool("nbio::fs::OpenOptions::open", at, open).await?;
            Ok(File::new(std, path, at))
        }
    }
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl From<std::fs::OpenOptions> for OpenOptions {
    fn from(options: std::fs::OpenOptions) -> OpenOptions {
        OpenOptions(options)
    }
}
