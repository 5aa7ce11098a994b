//! `nbio::fs::File` beyond streaming: a vectored write takes every buffer, and the whole-file
//! operations (`metadata`, `set_len`, `try_clone`, `into_std`, `from_std`) wait for the
//! operation in flight and stand at the caller's position, not the read-ahead's.

use std::io::{ErrorKind, IoSlice, Read, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use futures_lite::future::poll_once;
use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use nbio::fs::{self, File, OpenOptions};
use nbio_tests::{eventually, watched, TempDir};

fn with_dir<F, Fut>(body: F)
where
    F: FnOnce(PathBuf) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = std::io::Result<()>>,
{
    watched(move || {
        let dir = TempDir::new();
        let path = dir.path().to_path_buf();
        nbio::block_on(body(path)).unwrap();
    });
}

fn jobs_run() -> u64 {
    nbio::stats().blocking_jobs_run
}

async fn read_write(path: &std::path::Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path).await
}

#[test]
fn a_vectored_write_writes_all_three_buffers_in_one_job() {
    with_dir(|dir| async move {
        let path = dir.join("vectored");
        let mut file = File::create(&path).await?;
        let before = jobs_run();
        let bufs = [
            IoSlice::new(b"header;"),
            IoSlice::new(b""),
            IoSlice::new(b"body;"),
            IoSlice::new(b"trailer"),
        ];
        assert_eq!(file.write_vectored(&bufs).await?, 19);
        file.flush().await?;
        assert_eq!(jobs_run() - before, 1);
        assert_eq!(std::fs::read(&path)?, b"header;body;trailer");
        Ok(())
    });
}

#[test]
fn a_vectored_write_past_64_kib_takes_a_prefix_of_the_buffers_in_order() {
    with_dir(|dir| async move {
        let path = dir.join("vectored-big");
        let (a, b, c) = (vec![b'a'; 40_000], vec![b'b'; 40_000], vec![b'c'; 10]);
        let mut file = File::create(&path).await?;
        let n = file
            .write_vectored(&[IoSlice::new(&a), IoSlice::new(&b), IoSlice::new(&c)])
            .await?;
        assert_eq!(n, 64 * 1024);
        file.close().await?;
        let written = std::fs::read(&path)?;
        assert_eq!(written.len(), n);
        assert!(written[..40_000].iter().all(|&byte| byte == b'a'));
        assert!(written[40_000..].iter().all(|&byte| byte == b'b'));
        Ok(())
    });
}

#[test]
fn metadata_counts_the_write_in_flight() {
    with_dir(|dir| async move {
        let path = dir.join("meta");
        let mut file = File::create(&path).await?;
        file.write_all(&vec![1u8; 100_000]).await?; // the last chunk may still be on the pool
        assert_eq!(file.metadata().await?.len(), 100_000);
        assert!(file.metadata().await?.is_file());
        Ok(())
    });
}

#[test]
fn metadata_reports_an_earlier_write_error_once() {
    with_dir(|dir| async move {
        let path = dir.join("read-only");
        std::fs::write(&path, b"x")?;
        let mut file = File::open(&path).await?;
        file.write_all(b"refused").await?;
        let err = file.metadata().await.unwrap_err();
        assert!(err.to_string().ends_with("read-only"), "{err}");
        assert_eq!(file.metadata().await?.len(), 1);
        Ok(())
    });
}

#[test]
fn set_len_cuts_and_extends_and_leaves_the_position_where_the_caller_stood() {
    with_dir(|dir| async move {
        let path = dir.join("lengths");
        std::fs::write(&path, b"0123456789")?;
        let mut file = read_write(&path).await?;
        let mut two = [0u8; 2];
        file.read_exact(&mut two).await?; // read ahead to the end of the file
        file.set_len(6).await?;
        assert_eq!(std::fs::read(&path)?, b"012345");
        assert_eq!(file.seek(SeekFrom::Current(0)).await?, 2);
        file.write_all(b"ab").await?; // at the caller's position, 2
        file.set_len(8).await?;
        assert_eq!(std::fs::read(&path)?, b"01ab45\0\0");
        assert_eq!(file.metadata().await?.len(), 8);
        Ok(())
    });
}

#[test]
fn set_len_on_a_file_not_open_for_writing_is_an_error_naming_it() {
    with_dir(|dir| async move {
        let path = dir.join("not-writable");
        std::fs::write(&path, b"0123")?;
        let mut file = File::open(&path).await?;
        let err = file.set_len(1).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().ends_with("not-writable"), "{err}");
        assert_eq!(std::fs::read(&path)?, b"0123");
        Ok(())
    });
}

#[test]
fn a_set_len_dropped_after_its_first_poll_still_happens_and_the_file_goes_on() {
    with_dir(|dir| async move {
        let path = dir.join("dropped-set-len");
        std::fs::write(&path, b"0123456789")?;
        let mut file = read_write(&path).await?;
        {
            let mut set_len = Box::pin(file.set_len(3));
            if poll_once(&mut set_len).await.is_none() {
                drop(set_len);
            }
        }
        // The next operation waits for the dropped one's job, and does not take its result.
        assert_eq!(file.metadata().await?.len(), 3);
        let len = eventually(Duration::from_secs(10), || {
            std::fs::metadata(&path).map(|m| m.len()).ok() == Some(3)
        });
        assert!(len.is_some());
        let mut all = String::new();
        file.read_to_string(&mut all).await?;
        assert_eq!(all, "012");
        Ok(())
    });
}

#[test]
fn try_clone_shares_the_position_from_where_the_caller_stood() {
    with_dir(|dir| async move {
        let path = dir.join("shared");
        std::fs::write(&path, b"abcdef")?;
        let mut first = read_write(&path).await?;
        let mut one = [0u8; 1];
        first.read_exact(&mut one).await?; // the kernel read ahead to 6
        let mut second = first.try_clone().await?;
        assert_eq!(second.path(), path);
        second.read_exact(&mut one).await?;
        assert_eq!(&one, b"b", "the clone starts where the first stood: 1");
        // The read-ahead of the clone moved the shared position to the end: a write through
        // the first lands there.
        first.write_all(b"XY").await?;
        first.flush().await?;
        assert_eq!(std::fs::read(&path)?, b"abcdefXY");
        Ok(())
    });
}

#[test]
fn a_write_through_a_clone_lands_after_the_first_files_write() {
    with_dir(|dir| async move {
        let path = dir.join("clone-writes");
        let mut file = File::create(&path).await?;
        let mut clone = file.try_clone().await?;
        file.write_all(b"hello ").await?;
        file.flush().await?;
        clone.write_all(b"world").await?;
        clone.flush().await?;
        assert_eq!(std::fs::read(&path)?, b"hello world");
        Ok(())
    });
}

#[test]
fn into_std_waits_for_the_write_in_flight() {
    with_dir(|dir| async move {
        let path = dir.join("into-std");
        let mut file = File::create(&path).await?;
        file.write_all(&vec![b'x'; 70_000]).await?; // two jobs; the second may be in flight
        let mut std = file.into_std().await;
        std.write_all(b"!")?;
        let written = std::fs::read(&path)?;
        assert_eq!(written.len(), 70_001);
        assert_eq!(written.last(), Some(&b'!'));
        Ok(())
    });
}

#[test]
fn into_std_stands_where_the_caller_stood_not_where_the_read_ahead_did() {
    with_dir(|dir| async move {
        let path = dir.join("into-std-read");
        std::fs::write(&path, b"abcdef")?;
        let mut file = File::open(&path).await?;
        let mut two = [0u8; 2];
        file.read_exact(&mut two).await?;
        let mut std = file.into_std().await;
        let mut rest = String::new();
        std.read_to_string(&mut rest)?;
        assert_eq!(rest, "cdef");
        Ok(())
    });
}

#[test]
fn from_std_and_into_std_round_trip_the_descriptor() {
    use std::os::fd::AsRawFd;
    with_dir(|dir| async move {
        let path = dir.join("round-trip");
        std::fs::write(&path, b"std then nbio")?;
        let std = std::fs::File::open(&path)?;
        let fd = std.as_raw_fd();
        let mut file = File::from_std(std);
        let mut word = [0u8; 4];
        file.read_exact(&mut word).await?;
        assert_eq!(&word, b"std ");
        assert_eq!(file.as_raw_fd(), fd);
        let back = file.into_std().await;
        assert_eq!(back.as_raw_fd(), fd, "the same descriptor, not a duplicate");
        Ok(())
    });
}

#[test]
fn sync_all_and_sync_data_wait_for_the_write_in_flight() {
    with_dir(|dir| async move {
        let path = dir.join("synced");
        let mut file = File::create(&path).await?;
        file.write_all(b"durable").await?;
        file.sync_data().await?;
        assert_eq!(fs::read(&path).await?, b"durable");
        file.write_all(b"!").await?;
        file.sync_all().await?;
        assert_eq!(fs::read(&path).await?, b"durable!");
        Ok(())
    });
}

#[test]
fn an_empty_read_is_zero_at_once_and_not_the_end() {
    with_dir(|dir| async move {
        let path = dir.join("empty-read");
        std::fs::write(&path, b"data")?;
        let mut file = File::open(&path).await?;
        let before = jobs_run();
        assert!(matches!(poll_once(file.read(&mut [])).await, Some(Ok(0))));
        assert_eq!(jobs_run(), before, "no trip for nothing");
        let mut all = Vec::new();
        file.read_to_end(&mut all).await?;
        assert_eq!(all, b"data");
        Ok(())
    });
}

#[test]
fn a_seek_past_the_end_then_a_rewind_is_back_at_zero() {
    with_dir(|dir| async move {
        let mut file = File::create(dir.join("rewind")).await?;
        assert_eq!(file.seek(SeekFrom::Current(10)).await?, 10);
        assert_eq!(file.seek(SeekFrom::Start(0)).await?, 0);
        assert_eq!(
            file.metadata().await?.len(),
            0,
            "a seek alone writes nothing"
        );
        Ok(())
    });
}
