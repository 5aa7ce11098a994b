//! The operations of `nbio::fs::File` on the file as a whole: `sync_all`, `sync_data`,
//! `metadata`, `set_len`, `set_permissions`, `try_clone` and `into_std`.
//!
//! Each waits for the read or write in flight (whose error it reports, as the next call does),
//! then runs one job on the pool. Those that depend on the file's position (`set_len`,
//! `try_clone`, `into_std`) first move the kernel's position back over the bytes read ahead and
//! not taken, so that the kernel's position is the caller's again; the read-ahead is dropped.
//!
//! Cancel safety, for each of these futures: dropping it does not stop the operation on the
//! pool; it completes and its result is dropped. The `File` stays consistent: its next
//! operation waits for that job first.

use std::fs::{Metadata, Permissions};
use std::future::{poll_fn, Future};
use std::io::{self, Seek, SeekFrom};
use std::panic::Location;
use std::sync::Arc;
use std::task::{ready, Poll};

use super::file::{lost, Done, State};
use super::{with_path, File};

impl File {
    /// Waits for the write in flight, then flushes the file's data and metadata to the disk:
    /// [`std::fs::File::sync_all`], on the blocking pool.
    ///
    /// Cancel safety: dropping it does not stop the operation on the pool; it completes and
    /// its result is dropped.
    ///
    /// # Errors
    /// The error of an earlier write not yet reported, or that of `fsync`, with the path.
    pub async fn sync_all(&mut self) -> io::Result<()> {
        self.on_file(false, std::fs::File::sync_all).await
    }

    /// As [`sync_all`](File::sync_all), but the metadata only as far as reading the data back
    /// needs it (`fdatasync`): [`std::fs::File::sync_data`], on the blocking pool.
    ///
    /// Cancel safety: dropping it does not stop the operation on the pool; it completes and
    /// its result is dropped.
    ///
    /// # Errors
    /// The error of an earlier write not yet reported, or that of `fdatasync`, with the path.
    pub async fn sync_data(&mut self) -> io::Result<()> {
        self.on_file(false, std::fs::File::sync_data).await
    }

    /// The file's metadata, once the write in flight is done (so its length counts every
    /// write that returned): [`std::fs::File::metadata`], on the blocking pool.
    ///
    /// ```
    /// use futures_lite::AsyncWriteExt;
    /// # let path = std::env::temp_dir().join(format!("nbio-file-meta-{}", std::process::id()));
    /// nbio::block_on(async {
    ///     let mut file = nbio::fs::File::create(&path).await?;
    ///     file.write_all(b"twelve bytes").await?; // handed to the pool, maybe not yet written
    ///     assert_eq!(file.metadata().await?.len(), 12);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// Cancel safety: dropping it does not stop the operation on the pool; it completes and
    /// its result is dropped.
    ///
    /// # Errors
    /// The error of an earlier write not yet reported, or that of `fstat`, with the path.
    pub async fn metadata(&mut self) -> io::Result<Metadata> {
        self.on_file(false, std::fs::File::metadata).await
    }

    /// Cuts the file to `len` bytes, or extends it with zeros to `len`:
    /// [`std::fs::File::set_len`], on the blocking pool. The position does not move (a write
    /// past the new end leaves a hole of zeros).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("nbio-file-set-len-{}", std::process::id()));
    /// # std::fs::write(&path, b"0123456789")?;
    /// nbio::block_on(async {
    ///     let mut file = nbio::fs::OpenOptions::new().write(true).open(&path).await?;
    ///     file.set_len(4).await?;
    ///     assert_eq!(nbio::fs::read(&path).await?, b"0123");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// Cancel safety: dropping it does not stop the operation on the pool; it completes (the
    /// length changes) and its result is dropped.
    ///
    /// # Errors
    /// The error of an earlier write not yet reported; `InvalidInput` for a file not open for
    /// writing; as `ftruncate`; each with the path.
    pub async fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.on_file(true, move |file| file.set_len(len)).await
    }

    /// Sets the file's permissions: [`std::fs::File::set_permissions`], on the blocking pool.
    ///
    /// Cancel safety: dropping it does not stop the operation on the pool; it completes and
    /// its result is dropped.
    ///
    /// # Errors
    /// The error of an earlier write not yet reported, or that of `fchmod`, with the path.
    pub async fn set_permissions(&mut self, permissions: Permissions) -> io::Result<()> {
        self.on_file(false, move |file| file.set_permissions(permissions))
            .await
    }

    /// A second `File` on the same open file description (`dup`):
    /// [`std::fs::File::try_clone`], on the blocking pool. The two share the kernel's position,
    /// so a read or write through one moves the other's; each keeps its own read-ahead, so
    /// reading through both at once gives each bytes the other skipped. It waits for the
    /// operation in flight first and gives back the bytes read ahead, so at the moment of the
    /// clone both stand where this one stood.
    ///
    /// ```
    /// use futures_lite::AsyncWriteExt;
    /// # let path = std::env::temp_dir().join(format!("nbio-file-clone-{}", std::process::id()));
    /// nbio::block_on(async {
    ///     let mut first = nbio::fs::File::create(&path).await?;
    ///     let mut second = first.try_clone().await?;
    ///     first.write_all(b"one ").await?;
    ///     first.flush().await?;
    ///     second.write_all(b"two").await?; // after "one ": the position is shared
    ///     second.flush().await?;
    ///     assert_eq!(nbio::fs::read(&path).await?, b"one two");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// Cancel safety: dropping it does not stop the operation on the pool; it completes and
    /// its result (the new descriptor) is dropped, closing it.
    ///
    /// # Errors
    /// The error of an earlier write not yet reported, or that of `dup` (`EMFILE`: too many
    /// open files), with the path.
    #[track_caller]
    pub fn try_clone(&mut self) -> impl Future<Output = io::Result<File>> + Send + '_ {
        let at = Location::caller();
        async move {
            let std = self.on_file(true, std::fs::File::try_clone).await?;
            Ok(File::new(std, Arc::clone(&self.path), at))
        }
    }

    /// The std file underneath, once the operation in flight is done, at the position this
    /// `File` was at (the bytes read ahead are given back to the kernel's position).
    ///
    /// If a write is in flight it waits for it to end; the write's error, if it had one and
    /// it was not yet reported, is lost: `flush` first to see it. If the runtime shut down
    /// with an operation of this file in flight, the position is wherever that operation left
    /// it.
    ///
    /// ```
    /// use futures_lite::AsyncWriteExt;
    /// use std::io::Write;
    /// # let path = std::env::temp_dir().join(format!("nbio-file-into-std-{}", std::process::id()));
    /// let mut std = nbio::block_on(async {
    ///     let mut file = nbio::fs::File::create(&path).await?;
    ///     file.write_all(b"async, ").await?; // still in flight, maybe
    ///     std::io::Result::Ok(file.into_std().await)
    /// })?;
    /// std.write_all(b"then blocking")?;
    /// assert_eq!(std::fs::read(&path)?, b"async, then blocking");
    /// # std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// Cancel safety: dropping it drops the `File` it took; an operation in flight completes
    /// on the pool and then the file is closed.
    ///
    /// # Panics
    /// Only if the runtime shut down while a job of this file still ran on a detached pool
    /// thread, and duplicating the descriptor then failed (out of descriptors): the message
    /// says so.
    pub async fn into_std(mut self) -> std::fs::File {
        drop(self.write_error.take());
        // Waits for the job in flight and gives the read-ahead back; outside a runtime, or
        // after a shutdown, there may be nothing to wait for or no pool to do it: go on.
        if !matches!(self.state, State::Lost) {
            let _ = self.on_file(true, |_| Ok(())).await;
        }
        match Arc::try_unwrap(self.std) {
            Ok(std) => std,
            // A job of this file outlived its runtime on a detached pool thread.
            Err(shared) => shared.try_clone().unwrap_or_else(|err| {
                panic!(
                    "nbio::fs::File::into_std: a pool thread left running by a runtime's \
                     shutdown still uses {}, and duplicating its descriptor failed: {err}",
                    self.path.display()
                )
            }),
        }
    }

    /// Waits for the job in flight (keeping a write's error for the next call, as every
    /// operation does), reports an earlier write's error, then runs `op` on the file in one
    /// job, after moving the kernel's position back over the read-ahead if `rewind`.
    async fn on_file<T: Send + 'static>(
        &mut self,
        rewind: bool,
        op: impl FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let mut op = Some(op);
        poll_fn(|cx| loop {
            match &mut self.state {
                State::Idle(buf) => {
                    if let Some(err) = self.write_error.take() {
                        return Poll::Ready(Err(err));
                    }
                    let op = op.take().expect("a finished job's result was returned");
                    let back = if rewind { buf.unread() as i64 } else { 0 };
                    let mut buf = std::mem::take(buf);
                    if rewind {
                        buf.clear();
                    }
                    let (std, path) = (Arc::clone(&self.std), Arc::clone(&self.path));
                    self.start(move || {
                        let rewound = match back {
                            0 => Ok(()),
                            back => (&*std).seek(SeekFrom::Current(-back)).map(drop),
                        };
                        let done = rewound
                            .and_then(|()| op(&std))
                            .map_err(|err| with_path(err, &path, None));
                        (Done::Op(Box::new(done)), buf)
                    })?;
                }
                State::Busy(_) => {
                    let done = ready!(self.poll_job(cx))?;
                    // Until `op` is taken, the job is an earlier operation's: its result goes.
                    if op.is_none() {
                        let Done::Op(done) = done else {
                            unreachable!("the job this call started is a whole-file one");
                        };
                        let done = done.downcast::<io::Result<T>>();
                        return Poll::Ready(*done.expect("the job's result has the op's type"));
                    }
                }
                State::Lost => return Poll::Ready(Err(lost())),
            }
        })
        .await
    }
}
