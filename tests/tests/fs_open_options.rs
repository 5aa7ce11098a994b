//! `nbio::fs::OpenOptions`: each of std's settings does what std's does, the open runs on the
//! pool, and a refused open keeps its kind and names the path.

use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use futures_lite::future::poll_once;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use nbio::fs::OpenOptions;
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

const HELLO: &[u8] = b"hello world...";

#[test]
fn read_opens_an_existing_file_for_reading() {
    with_dir(|dir| async move {
        let path = dir.join("hello");
        std::fs::write(&path, HELLO)?;
        let mut file = OpenOptions::new().read(true).open(&path).await?;
        let mut buf = [0; 1024];
        let n = file.read(&mut buf).await?;
        assert_eq!(&buf[..n], HELLO);
        assert_eq!(file.path(), path);
        // Not opened for writing: the write fails on the pool, and flush reports it.
        file.write_all(b"x").await?;
        let err = file.flush().await.unwrap_err();
        assert!(err.to_string().ends_with("hello"), "{err}");
        Ok(())
    });
}

#[test]
fn write_without_truncate_overwrites_in_place() {
    with_dir(|dir| async move {
        let path = dir.join("in-place");
        std::fs::write(&path, b"0123456789")?;
        let mut file = OpenOptions::new().write(true).open(&path).await?;
        file.write_all(b"ab").await?;
        file.close().await?;
        assert_eq!(std::fs::read(&path)?, b"ab23456789");
        Ok(())
    });
}

#[test]
fn truncate_empties_the_file_first() {
    with_dir(|dir| async move {
        let path = dir.join("truncated");
        std::fs::write(&path, b"0123456789")?;
        let mut file = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .await?;
        file.write_all(b"ab").await?;
        file.close().await?;
        assert_eq!(std::fs::read(&path)?, b"ab");
        Ok(())
    });
}

#[test]
fn append_writes_at_the_end_whatever_the_position() {
    with_dir(|dir| async move {
        let path = dir.join("log");
        std::fs::write(&path, b"first\n")?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(&path)
            .await?;
        let mut two = [0u8; 2];
        file.read_exact(&mut two).await?; // the position is no longer the end
        file.write_all(b"second\n").await?;
        file.close().await?;
        assert_eq!(std::fs::read(&path)?, b"first\nsecond\n");
        Ok(())
    });
}

#[test]
fn without_create_a_missing_file_is_not_found_naming_it() {
    with_dir(|dir| async move {
        let path = dir.join("absent");
        let err = OpenOptions::new()
            .write(true)
            .open(&path)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            format!("No such file or directory: {}", path.display())
        );
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .open(&path)
            .await?;
        file.write_all(HELLO).await?;
        file.close().await?;
        assert_eq!(std::fs::read(&path)?, HELLO);
        Ok(())
    });
}

#[test]
fn create_new_refuses_an_existing_file_and_makes_a_missing_one() {
    with_dir(|dir| async move {
        let path = dir.join("exclusive");
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let mut file = options.open(&path).await?;
        file.write_all(b"mine").await?;
        file.close().await?;
        let err = options.open(&path).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert_eq!(err.to_string(), format!("File exists: {}", path.display()));
        assert_eq!(
            std::fs::read(&path)?,
            b"mine",
            "the refused open did not truncate"
        );
        Ok(())
    });
}

#[test]
fn mode_sets_the_permissions_of_a_created_file() {
    with_dir(|dir| async move {
        let path = dir.join("private");
        OpenOptions::new()
            .write(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .await?;
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o600
        );
        Ok(())
    });
}

#[test]
fn options_that_do_not_go_together_are_invalid_input_naming_the_path() {
    with_dir(|dir| async move {
        let path = dir.join("file");
        std::fs::write(&path, b"")?;
        let no_access = OpenOptions::new().open(&path).await.unwrap_err();
        assert_eq!(no_access.kind(), ErrorKind::InvalidInput);
        assert!(no_access.to_string().ends_with("file"), "{no_access}");
        let truncate_read_only = OpenOptions::new()
            .read(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap_err();
        assert_eq!(truncate_read_only.kind(), ErrorKind::InvalidInput);
        assert!(
            truncate_read_only.to_string().ends_with("file"),
            "{truncate_read_only}"
        );
        Ok(())
    });
}

#[test]
fn an_open_dropped_after_its_first_poll_still_creates_the_file() {
    with_dir(|dir| async move {
        let path = dir.join("created-anyway");
        let mut open = Box::pin(OpenOptions::new().write(true).create(true).open(&path));
        if poll_once(&mut open).await.is_none() {
            drop(open);
        }
        let made = eventually(Duration::from_secs(10), || path.exists());
        assert!(made.is_some(), "the dropped open never created the file");
        Ok(())
    });
}

#[test]
fn options_convert_from_std_and_print_their_settings() {
    with_dir(|dir| async move {
        let path = dir.join("from-std");
        let mut std = std::fs::OpenOptions::new();
        std.write(true).create(true);
        let options = OpenOptions::from(std);
        assert!(format!("{:?}", nbio::fs::File::options().append(true)).contains("append: true"));
        assert!(
            format!("{options:?}").contains("create: true"),
            "{options:?}"
        );
        options.open(&path).await?;
        assert!(path.exists());
        Ok(())
    });
}
