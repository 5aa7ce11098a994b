//! `nbio::fs`: whole-file operations (one pool job each), `File` streaming with one operation in
//! flight, and errors that keep their kind and name the path.

use std::io::{ErrorKind, SeekFrom};

use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use nbio::fs::{self, File};
use nbio_tests::{watched, TempDir};

/// Runs `body` on a fresh runtime, under the watchdog, with a temporary directory.
fn with_dir<F, Fut>(body: F)
where
    F: FnOnce(std::path::PathBuf) -> Fut + Send + 'static,
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

#[test]
fn each_whole_file_operation_is_one_trip_to_the_pool() {
    with_dir(|dir| async move {
        let (a, b, c) = (dir.join("a.txt"), dir.join("b.txt"), dir.join("c.txt"));
        let mut expected = 0;
        let mut one_more = || {
            expected += 1;
            expected
        };
        fs::create_dir_all(dir.join("x/y")).await?;
        assert_eq!(jobs_run(), one_more());
        fs::write(&a, "contents").await?;
        assert_eq!(jobs_run(), one_more());
        assert_eq!(fs::read(&a).await?, b"contents");
        assert_eq!(jobs_run(), one_more());
        assert_eq!(fs::read_to_string(&a).await?, "contents");
        assert_eq!(jobs_run(), one_more());
        assert_eq!(fs::metadata(&a).await?.len(), 8);
        assert_eq!(jobs_run(), one_more());
        assert_eq!(fs::copy(&a, &b).await?, 8);
        assert_eq!(jobs_run(), one_more());
        fs::rename(&b, &c).await?;
        assert_eq!(jobs_run(), one_more());
        assert!(!b.exists() && c.exists());
        fs::remove_file(&c).await?;
        assert_eq!(jobs_run(), one_more());
        assert!(!c.exists());
        assert!(dir.join("x/y").is_dir());
        Ok(())
    });
}

#[test]
fn a_big_file_is_still_one_job() {
    with_dir(|dir| async move {
        let path = dir.join("big.bin");
        let data: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
        fs::write(&path, data.clone()).await?;
        assert_eq!(fs::read(&path).await?, data);
        assert_eq!(jobs_run(), 2);
        Ok(())
    });
}

#[test]
fn errors_keep_their_kind_and_name_the_path() {
    with_dir(|dir| async move {
        let missing = dir.join("config.toml");
        let err = fs::read(&missing).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            format!("No such file or directory: {}", missing.display())
        );
        // The OS error is still there, as the source.
        let os = err
            .get_ref()
            .and_then(|inner| inner.source())
            .and_then(|source| source.downcast_ref::<std::io::Error>())
            .expect("the OS error is the source");
        assert_eq!(os.raw_os_error(), Some(2));

        for err in [
            fs::read_to_string(&missing).await.unwrap_err(),
            fs::metadata(&missing).await.unwrap_err(),
            fs::remove_file(&missing).await.unwrap_err(),
            File::open(&missing).await.unwrap_err(),
        ] {
            assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
            assert!(err.to_string().ends_with("config.toml"), "{err}");
        }
        let err = fs::write(dir.join("no/such/dir/file"), "x")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("no/such/dir/file"), "{err}");

        let err = fs::rename(&missing, dir.join("moved.toml"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let message = err.to_string();
        assert!(
            message.contains("config.toml") && message.contains("moved.toml"),
            "{message}"
        );
        let err = fs::copy(&missing, dir.join("copy.toml")).await.unwrap_err();
        assert!(err.to_string().contains("copy.toml"), "{err}");

        let binary = dir.join("binary");
        fs::write(&binary, vec![0xff, 0xfe, 0x00]).await?;
        let err = fs::read_to_string(&binary).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert!(err.to_string().ends_with("binary"), "{err}");

        fs::write(dir.join("file"), "x").await?;
        let err = fs::create_dir_all(dir.join("file/sub")).await.unwrap_err();
        assert!(err.to_string().contains("file/sub"), "{err}");
        Ok(())
    });
}

#[test]
fn a_file_operation_awaited_outside_a_runtime_is_an_error_that_says_so() {
    let err = futures_lite::future::block_on(fs::read("/etc/hostname")).unwrap_err();
    assert!(
        err.to_string()
            .contains("nbio::fs::read needs an nbio runtime"),
        "{err}"
    );
}

#[test]
fn a_file_writes_then_reads_back_what_it_wrote() {
    with_dir(|dir| async move {
        let path = dir.join("stream.txt");
        let mut file = File::create(&path).await?;
        for i in 0..100 {
            file.write_all(format!("line {i}\n").as_bytes()).await?;
        }
        file.close().await?;
        let mut text = String::new();
        File::open(&path).await?.read_to_string(&mut text).await?;
        let expected: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(text, expected);
        assert_eq!(file.path(), path);
        Ok(())
    });
}

#[test]
fn small_reads_are_served_from_one_read_ahead() {
    with_dir(|dir| async move {
        let path = dir.join("small-reads");
        fs::write(&path, vec![7u8; 1000]).await?;
        let mut file = File::open(&path).await?;
        let before = jobs_run();
        let mut byte = [0u8; 1];
        for _ in 0..1000 {
            assert_eq!(file.read(&mut byte).await?, 1);
        }
        assert_eq!(file.read(&mut byte).await?, 0, "the end of the file");
        // One job read the thousand bytes, one more found the end.
        assert_eq!(jobs_run() - before, 2);
        Ok(())
    });
}

#[test]
fn a_seek_after_a_pending_write_waits_for_it() {
    with_dir(|dir| async move {
        let path = dir.join("seek-after-write");
        let mut file = File::create(&path).await?;
        file.write_all(b"0123456789").await?; // in flight, not flushed
        assert_eq!(file.seek(SeekFrom::Start(0)).await?, 0);
        assert_eq!(file.seek(SeekFrom::End(0)).await?, 10);
        file.write_all(b"ab").await?;
        file.flush().await?;
        assert_eq!(fs::read(&path).await?, b"0123456789ab");
        Ok(())
    });
}

#[test]
fn positions_count_the_bytes_read_ahead_but_not_taken() {
    with_dir(|dir| async move {
        let path = dir.join("positions");
        fs::write(&path, "abcdef").await?;
        let mut reader = File::open(&path).await?;
        let mut three = [0u8; 3];
        reader.read_exact(&mut three).await?; // the read ahead took all six
        assert_eq!(&three, b"abc");
        assert_eq!(reader.seek(SeekFrom::Current(0)).await?, 3);
        reader.read_exact(&mut three[..1]).await?;
        assert_eq!(three[0], b'd');
        assert_eq!(reader.seek(SeekFrom::Current(1)).await?, 5);
        reader.read_exact(&mut three[..1]).await?;
        assert_eq!(three[0], b'f');

        // A write after a read lands at the caller's position, not the kernel's.
        let std = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)?;
        let mut both = File::from_std(std);
        both.read_exact(&mut three).await?; // the read ahead took all six again
        both.write_all(b"XY").await?;
        both.flush().await?;
        assert_eq!(fs::read_to_string(&path).await?, "abcXYf");
        Ok(())
    });
}

#[test]
fn a_write_error_is_reported_by_the_next_call_or_by_flush() {
    with_dir(|dir| async move {
        let path = dir.join("read-only");
        fs::write(&path, "x").await?;
        let mut file = File::open(&path).await?; // opened for reading only
                                                 // The write is accepted (it is only handed to the pool), and fails there.
        assert_eq!(file.write(b"nope").await?, 4);
        let err = file.flush().await.unwrap_err();
        assert!(err.to_string().ends_with("read-only"), "{err}");
        // Reported once; the file goes on.
        file.flush().await?;
        let mut rest = String::new();
        file.read_to_string(&mut rest).await?;
        assert_eq!(rest, "x");
        Ok(())
    });
}

#[test]
fn sync_all_waits_for_the_write_in_flight_and_reports_its_error() {
    with_dir(|dir| async move {
        let path = dir.join("synced");
        let mut file = File::create(&path).await?;
        file.write_all(&vec![1u8; 200_000]).await?;
        file.sync_all().await?;
        assert_eq!(std::fs::metadata(&path)?.len(), 200_000);
        let mut read_only = File::open(&path).await?;
        read_only.write_all(b"x").await?;
        assert!(read_only.sync_all().await.is_err());
        Ok(())
    });
}
