//! `nbio::fs`'s directories, links, permissions and existence: each call one job on the pool,
//! errors that keep their kind and name the path, `read_dir` in batches with a `next_entry`
//! that loses nothing when dropped, and what a task reading a directory shows in the dump.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use futures_lite::future::poll_once;
use futures_lite::StreamExt;
use nbio::fs::{self, BATCH};
use nbio::Runtime;
use nbio_tests::{eventually, watched, TempDir};

/// Runs `body` on a fresh runtime, under the watchdog, with a fresh temporary directory
/// (removed after).
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

/// Makes `n` empty files named `0`, `1`, … in `dir`.
fn files(dir: &Path, n: usize) -> BTreeSet<String> {
    (0..n)
        .map(|i| {
            std::fs::write(dir.join(i.to_string()), b"").unwrap();
            i.to_string()
        })
        .collect()
}

fn name(entry: &fs::DirEntry) -> String {
    entry.file_name().into_string().unwrap()
}

#[test]
fn create_dir_makes_one_directory_and_needs_its_parent() {
    with_dir(|dir| async move {
        fs::create_dir(dir.join("one")).await?;
        assert!(dir.join("one").is_dir());
        let again = fs::create_dir(dir.join("one")).await.unwrap_err();
        assert_eq!(again.kind(), ErrorKind::AlreadyExists);
        assert_eq!(
            again.to_string(),
            format!("File exists: {}", dir.join("one").display())
        );
        let orphan = fs::create_dir(dir.join("no/parent")).await.unwrap_err();
        assert_eq!(orphan.kind(), ErrorKind::NotFound);
        assert!(orphan.to_string().ends_with("no/parent"), "{orphan}");
        Ok(())
    });
}

#[test]
fn a_create_dir_dropped_after_its_first_poll_still_creates_the_directory() {
    with_dir(|dir| async move {
        let target = dir.join("made-anyway");
        let mut create = Box::pin(fs::create_dir(&target));
        if poll_once(&mut create).await.is_none() {
            drop(create); // the job is on the pool: it runs to its end
        }
        let made = eventually(Duration::from_secs(10), || target.is_dir());
        assert!(made.is_some(), "the dropped create_dir never created it");
        Ok(())
    });
}

#[test]
fn remove_dir_removes_an_empty_directory_and_refuses_a_full_one() {
    with_dir(|dir| async move {
        let full = dir.join("full");
        std::fs::create_dir_all(full.join("inside"))?;
        let err = fs::remove_dir(&full).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DirectoryNotEmpty);
        assert_eq!(
            err.to_string(),
            format!("Directory not empty: {}", full.display())
        );
        fs::remove_dir(full.join("inside")).await?;
        fs::remove_dir(&full).await?;
        assert!(!full.exists());
        let missing = fs::remove_dir(&full).await.unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        assert!(missing.to_string().ends_with("full"), "{missing}");
        std::fs::write(dir.join("plain"), b"")?;
        let not_dir = fs::remove_dir(dir.join("plain")).await.unwrap_err();
        assert_eq!(not_dir.kind(), ErrorKind::NotADirectory);
        Ok(())
    });
}

#[test]
fn remove_dir_all_removes_a_tree_but_not_what_its_links_point_to() {
    with_dir(|dir| async move {
        let (tree, outside) = (dir.join("tree"), dir.join("outside"));
        std::fs::create_dir_all(tree.join("a/b/c"))?;
        std::fs::create_dir_all(&outside)?;
        std::fs::write(outside.join("keep"), b"kept")?;
        std::fs::write(tree.join("a/b/c/file"), b"gone")?;
        std::os::unix::fs::symlink(&outside, tree.join("a/link"))?;
        let before = jobs_run();
        fs::remove_dir_all(&tree).await?;
        assert_eq!(jobs_run() - before, 1, "one job, however deep the tree");
        assert!(!tree.exists());
        assert_eq!(std::fs::read(outside.join("keep"))?, b"kept");
        let missing = fs::remove_dir_all(&tree).await.unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        assert!(missing.to_string().ends_with("tree"), "{missing}");
        Ok(())
    });
}

#[test]
fn read_dir_gives_every_entry_once_in_batches_of_32() {
    with_dir(|dir| async move {
        let made = files(&dir, 3 * BATCH + 4);
        let before = jobs_run();
        let mut entries = fs::read_dir(&dir).await?;
        let mut seen = BTreeSet::new();
        while let Some(entry) = entries.next_entry().await? {
            assert_eq!(entry.path(), dir.join(entry.file_name()));
            assert!(seen.insert(name(&entry)), "{} twice", name(&entry));
        }
        assert_eq!(seen, made);
        // The open and the first batch, two full batches, and a short one that found the end.
        assert_eq!(jobs_run() - before, 4);
        assert!(
            entries.next_entry().await?.is_none(),
            "the end stays the end"
        );
        assert_eq!(jobs_run() - before, 4);
        Ok(())
    });
}

#[test]
fn a_small_directory_is_read_in_one_trip() {
    with_dir(|dir| async move {
        let made = files(&dir, 3);
        let before = jobs_run();
        let mut entries = fs::read_dir(&dir).await?;
        let mut seen = BTreeSet::new();
        while let Some(entry) = entries.next_entry().await? {
            seen.insert(name(&entry));
        }
        assert_eq!(seen, made);
        assert_eq!(jobs_run() - before, 1);
        Ok(())
    });
}

#[test]
fn read_dir_is_a_stream() {
    with_dir(|dir| async move {
        let made = files(&dir, BATCH + 1);
        let names: BTreeSet<String> = fs::read_dir(&dir)
            .await?
            .map(|entry| name(&entry.unwrap()))
            .collect()
            .await;
        assert_eq!(names, made);
        assert_eq!(fs::read_dir(&dir).await?.count().await, BATCH + 1);
        Ok(())
    });
}

#[test]
fn read_dir_of_a_missing_path_or_a_file_says_which() {
    with_dir(|dir| async move {
        let err = fs::read_dir(dir.join("nowhere")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            format!(
                "No such file or directory: {}",
                dir.join("nowhere").display()
            )
        );
        std::fs::write(dir.join("file"), b"")?;
        let err = fs::read_dir(dir.join("file")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotADirectory);
        assert!(err.to_string().ends_with("file"), "{err}");
        Ok(())
    });
}

#[test]
fn a_dir_entry_knows_its_type_inode_and_metadata_without_following_links() {
    with_dir(|dir| async move {
        std::fs::create_dir(dir.join("sub"))?;
        std::fs::write(dir.join("file"), b"12345")?;
        std::os::unix::fs::symlink("file", dir.join("link"))?;
        let mut entries = fs::read_dir(&dir).await?;
        let mut kinds = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            let before = jobs_run();
            let file_type = entry.file_type().await?;
            assert_eq!(jobs_run(), before, "the type came with the batch");
            let metadata = entry.metadata().await?;
            assert_eq!(entry.ino(), metadata.ino());
            assert_eq!(metadata.file_type(), file_type);
            let kind = match () {
                () if file_type.is_dir() => "dir",
                () if file_type.is_symlink() => "symlink",
                () if metadata.len() == 5 => "file of 5",
                () => "something else",
            };
            kinds.push(format!("{}: {kind}", name(&entry)));
        }
        kinds.sort();
        assert_eq!(kinds, ["file: file of 5", "link: symlink", "sub: dir"]);
        Ok(())
    });
}

#[test]
fn a_dropped_next_entry_loses_no_entry() {
    watched(|| {
        let rt = Runtime::builder().max_blocking_threads(1).build().unwrap();
        let dir = TempDir::new();
        let made = files(dir.path(), BATCH + 5);
        let path = dir.path().to_path_buf();
        rt.block_on(async move {
            let mut entries = fs::read_dir(&path).await?;
            let mut seen = BTreeSet::new();
            for _ in 0..BATCH {
                seen.insert(name(&entries.next_entry().await?.unwrap()));
            }
            // The one pool thread is busy: the next batch's job waits in the queue.
            let (release, hold) = mpsc::channel::<()>();
            let busy = nbio::spawn_blocking(move || hold.recv().ok());
            for _ in 0..3 {
                let mut next = Box::pin(entries.next_entry());
                assert!(poll_once(&mut next).await.is_none(), "the pool is busy");
                drop(next); // dropped while its job is queued
            }
            release.send(()).unwrap();
            busy.await.unwrap();
            while let Some(entry) = entries.next_entry().await? {
                assert!(seen.insert(name(&entry)), "{} twice", name(&entry));
            }
            assert_eq!(seen, made);
            std::io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn a_task_in_next_entry_shows_the_blocking_job_it_waits_on() {
    watched(|| {
        let rt = Runtime::builder().max_blocking_threads(1).build().unwrap();
        let dir = TempDir::new();
        files(dir.path(), BATCH + 1);
        let path = dir.path().to_path_buf();
        let (release, hold) = mpsc::channel::<()>();
        let reader = rt.spawn(async move {
            let mut entries = fs::read_dir(&path).await.unwrap();
            let read_dir_line = line!() - 1;
            let busy = nbio::spawn_blocking(move || hold.recv().ok());
            let mut count = 0;
            while entries.next_entry().await.unwrap().is_some() {
                count += 1;
            }
            busy.await.unwrap();
            (count, read_dir_line)
        });
        let mut shown = String::new();
        let waits = eventually(Duration::from_secs(10), || {
            rt.block_on(nbio::yield_now());
            let dump = rt.dump();
            shown = dump.to_string();
            shown.contains("waits on the JoinHandle of blocking job#")
        });
        assert!(
            waits.is_some(),
            "the reader does not say what it waits on:\n{shown}"
        );
        // The queued job is the batch's, spawned where the reader called read_dir.
        assert!(shown.contains("queued for"), "{shown}");
        assert!(shown.contains("tests/tests/fs_dirs.rs:"), "{shown}");
        release.send(()).unwrap();
        let (count, line) = rt.block_on(reader).unwrap();
        assert_eq!(count, BATCH + 1);
        assert!(shown.contains(&format!("fs_dirs.rs:{line}:")), "{shown}");
    });
}

#[test]
fn canonicalize_resolves_dots_and_links() {
    with_dir(|dir| async move {
        std::fs::create_dir_all(dir.join("real/inner"))?;
        std::os::unix::fs::symlink(dir.join("real"), dir.join("alias"))?;
        let resolved = fs::canonicalize(dir.join("alias/inner/../inner/.")).await?;
        assert_eq!(resolved, std::fs::canonicalize(dir.join("real/inner"))?);
        assert!(resolved.is_absolute());
        let err = fs::canonicalize(dir.join("alias/missing"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().ends_with("alias/missing"), "{err}");
        Ok(())
    });
}

#[test]
fn hard_link_gives_the_same_file_a_second_name() {
    with_dir(|dir| async move {
        let (original, link) = (dir.join("original"), dir.join("link"));
        std::fs::write(&original, b"shared")?;
        fs::hard_link(&original, &link).await?;
        let (a, b) = (std::fs::metadata(&original)?, std::fs::metadata(&link)?);
        assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
        let err = fs::hard_link(&original, &link).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        let message = err.to_string();
        assert!(
            message.contains("original") && message.contains("link"),
            "{message}"
        );
        let err = fs::hard_link(dir.join("missing"), dir.join("other")).await;
        assert_eq!(err.unwrap_err().kind(), ErrorKind::NotFound);
        Ok(())
    });
}

#[test]
fn symlink_and_read_link_round_trip() {
    with_dir(|dir| async move {
        let link = dir.join("link");
        fs::symlink("target/path", &link).await?;
        assert_eq!(fs::read_link(&link).await?, Path::new("target/path"));
        let err = fs::symlink("elsewhere", &link).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert!(err.to_string().contains("link"), "{err}");
        std::fs::write(dir.join("plain"), b"")?;
        let err = fs::read_link(dir.join("plain")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().ends_with("plain"), "{err}");
        Ok(())
    });
}

#[test]
fn symlink_metadata_describes_the_link_and_metadata_its_target() {
    with_dir(|dir| async move {
        std::fs::write(dir.join("target"), b"1234")?;
        std::os::unix::fs::symlink("target", dir.join("link"))?;
        std::os::unix::fs::symlink("nowhere", dir.join("dangling"))?;
        assert!(fs::symlink_metadata(dir.join("link")).await?.is_symlink());
        assert_eq!(fs::metadata(dir.join("link")).await?.len(), 4);
        assert!(fs::symlink_metadata(dir.join("dangling"))
            .await?
            .is_symlink());
        let err = fs::symlink_metadata(dir.join("none")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().ends_with("none"), "{err}");
        Ok(())
    });
}

#[test]
fn set_permissions_changes_the_mode() {
    with_dir(|dir| async move {
        let path = dir.join("file");
        std::fs::write(&path, b"")?;
        fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).await?;
        assert_eq!(
            std::fs::metadata(&path)?.permissions().mode() & 0o777,
            0o640
        );
        let err = fs::set_permissions(dir.join("none"), std::fs::Permissions::from_mode(0o600))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().ends_with("none"), "{err}");
        Ok(())
    });
}

#[test]
fn try_exists_says_yes_no_and_no_for_a_dangling_link() {
    with_dir(|dir| async move {
        std::fs::write(dir.join("here"), b"")?;
        std::os::unix::fs::symlink("nowhere", dir.join("dangling"))?;
        assert!(fs::try_exists(dir.join("here")).await?);
        assert!(!fs::try_exists(dir.join("absent")).await?);
        assert!(!fs::try_exists(dir.join("dangling")).await?);
        // A path through a file is not "absent": the kernel says the walk cannot go on.
        let through = fs::try_exists(dir.join("here/below")).await;
        assert_eq!(through.unwrap_err().kind(), ErrorKind::NotADirectory);
        Ok(())
    });
}

#[test]
fn each_path_call_is_one_trip_to_the_pool() {
    with_dir(|dir| async move {
        std::fs::write(dir.join("f"), b"")?;
        let before = jobs_run();
        fs::create_dir(dir.join("d")).await?;
        fs::canonicalize(dir.join("d")).await?;
        fs::hard_link(dir.join("f"), dir.join("h")).await?;
        fs::symlink("f", dir.join("s")).await?;
        fs::read_link(dir.join("s")).await?;
        fs::set_permissions(dir.join("f"), std::fs::Permissions::from_mode(0o644)).await?;
        fs::try_exists(dir.join("f")).await?;
        fs::symlink_metadata(dir.join("s")).await?;
        fs::remove_dir(dir.join("d")).await?;
        assert_eq!(jobs_run() - before, 9);
        Ok(())
    });
}

#[test]
fn read_dir_awaited_outside_a_runtime_is_an_error_that_says_so() {
    let err = futures_lite::future::block_on(fs::read_dir("/")).unwrap_err();
    assert!(
        err.to_string()
            .contains("nbio::fs::read_dir needs an nbio runtime"),
        "{err}"
    );
}
