//! Child processes: pipes that never block the thread, exits that are reactor events, and no
//! child left running or unreaped. Each test that can differ by flavour runs on the
//! current-thread runtime and on two workers.

use std::io::{self, ErrorKind};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use nbio::process::{Command, Stdio};
use nbio::{Builder, Runtime};
use nbio_tests::{eventually, watched};

fn current_thread() -> Runtime {
    Runtime::new().unwrap()
}

fn two_workers() -> Runtime {
    Builder::new().worker_threads(2).build().unwrap()
}

/// Runs `test` on one thread and on two workers with pidfds, and on one thread waiting on the
/// pool (as on a kernel without pidfds).
fn in_each_flavour(test: fn(Runtime, bool)) {
    watched(move || test(current_thread(), false));
    watched(move || test(two_workers(), false));
    watched(move || test(current_thread(), true));
}

/// Whether process `pid` is gone for good: reaped, not a zombie (a zombie keeps its `/proc`
/// entry until its parent reaps it).
fn reaped(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// A pattern that shows a byte out of place: each 8-byte word holds its own offset.
fn pattern(len: usize) -> Vec<u8> {
    (0..len / 8)
        .flat_map(|i| (i as u64).to_le_bytes())
        .collect()
}

fn cat_carries_64_mib_byte_exact(rt: Runtime) {
    const LEN: usize = 64 << 20;
    let sent = pattern(LEN);
    let got = rt.block_on(async move {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        // Two tasks: if either the write or the read blocked its thread, the pipe in the other
        // direction would fill, cat would stop, and this would deadlock.
        let writer = nbio::spawn(async move {
            stdin.write_all(&sent).await?;
            stdin.close().await?;
            io::Result::Ok(sent)
        });
        let reader = nbio::spawn(async move {
            let (mut got, mut chunk) = (Vec::with_capacity(LEN), vec![0u8; 64 << 10]);
            loop {
                match stdout.read(&mut chunk).await? {
                    0 => return io::Result::Ok(got),
                    n => got.extend_from_slice(&chunk[..n]),
                }
            }
        });
        let got = reader.await.unwrap()?;
        let sent = writer.await.unwrap()?;
        assert!(child.wait().await?.success());
        io::Result::Ok((sent, got))
    });
    let (sent, got) = got.unwrap();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "cat's output differs from its input");
}

#[test]
fn stdin_through_cat_to_stdout_is_byte_exact_for_64_mib_on_one_thread() {
    watched(|| cat_carries_64_mib_byte_exact(current_thread()));
}

#[test]
fn stdin_through_cat_to_stdout_is_byte_exact_for_64_mib_on_two_workers() {
    watched(|| cat_carries_64_mib_byte_exact(two_workers()));
}

fn killed_on_drop_is_gone_and_reaped(rt: Runtime, pool: bool) {
    let pid = rt.block_on(async {
        let mut command = Command::new("sleep");
        command.arg("1000").kill_on_drop(true);
        if pool {
            command.wait_on_pool_for_tests();
        }
        let child = command.spawn().unwrap();
        let pid = child.id();
        assert!(!reaped(pid));
        drop(child);
        pid
    });
    let took = eventually(Duration::from_secs(10), || reaped(pid));
    assert!(took.is_some(), "child {pid} is still there (a zombie?)");
}

#[test]
fn a_child_killed_on_drop_is_gone_and_reaped() {
    in_each_flavour(killed_on_drop_is_gone_and_reaped);
}

#[test]
fn a_child_killed_on_drop_outside_a_runtime_is_reaped_too() {
    watched(|| {
        let child = nbio::block_on(async {
            Command::new("sleep")
                .arg("1000")
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        });
        let pid = child.id();
        drop(child); // no runtime here: nbio's reaper thread reaps it
        let took = eventually(Duration::from_secs(10), || reaped(pid));
        assert!(took.is_some(), "child {pid} is still there");
    });
}

#[test]
fn a_child_dropped_without_kill_runs_on_and_is_reaped_by_the_next_spawn() {
    watched(|| {
        nbio::block_on(async {
            let child = Command::new("sh").args(["-c", "exit 0"]).spawn().unwrap();
            let pid = child.id();
            drop(child);
            // It exits, and stays a zombie until a spawn sweeps it (another test's, running
            // in parallel, may come first).
            let stat = format!("/proc/{pid}/stat");
            let exited = eventually(Duration::from_secs(10), || {
                std::fs::read_to_string(&stat).map_or(true, |s| s.contains(") Z "))
            });
            assert!(exited.is_some(), "the orphan did not exit");
            // The next spawn sweeps the orphans.
            let status = Command::new("true").status().await.unwrap();
            assert!(status.success());
            assert!(
                reaped(pid),
                "the orphan {pid} was not reaped by the next spawn"
            );
        })
    });
}

fn child_closing_stdout_early(rt: Runtime) {
    rt.block_on(async {
        let mut child = Command::new("head")
            .args(["-c", "10"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = nbio::spawn(async move {
            let chunk = vec![b'x'; 64 << 10];
            loop {
                if let Err(err) = stdin.write_all(&chunk).await {
                    return err;
                }
            }
        });
        let mut out = Vec::new();
        let mut stdout = child.stdout.take().unwrap();
        stdout.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, b"xxxxxxxxxx");
        let err = writer.await.unwrap();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn a_writer_to_a_child_that_stopped_reading_gets_broken_pipe_not_sigpipe() {
    watched(|| child_closing_stdout_early(current_thread()));
    watched(|| child_closing_stdout_early(two_workers()));
}

#[test]
fn exit_codes_and_signals_come_back_in_the_exit_status() {
    watched(|| {
        nbio::block_on(async {
            let status = Command::new("sh").args(["-c", "exit 7"]).status().await?;
            assert_eq!((status.code(), status.signal()), (Some(7), None));
            let status = Command::new("sh")
                .args(["-c", "kill -TERM $$"])
                .status()
                .await?;
            assert_eq!((status.code(), status.signal()), (None, Some(15)));
            let status = Command::new("sh")
                .args(["-c", "kill -KILL $$"])
                .wait_on_pool_for_tests()
                .status()
                .await?;
            assert_eq!(status.signal(), Some(9));
            io::Result::Ok(())
        })
        .unwrap()
    });
}

#[test]
fn output_collects_both_streams_and_status_inherits_them() {
    watched(|| {
        nbio::block_on(async {
            let mut command = Command::new("sh");
            command.args(["-c", "cat; echo out; echo err >&2; exit 4"]);
            // stdin is null for output(): cat ends at once instead of reading the terminal.
            let output = command.output().await?;
            assert_eq!(output.stdout, b"out\n");
            assert_eq!(output.stderr, b"err\n");
            assert_eq!(output.status.code(), Some(4));
            // A large output is read while the child runs (a full pipe would stall it).
            let big = Command::new("head")
                .args(["-c", "3000000", "/dev/zero"])
                .output()
                .await?;
            assert_eq!(big.stdout.len(), 3_000_000);
            // The same builder spawns again with its streams as they were set.
            command.stdout(Stdio::null()).stderr(Stdio::null());
            assert_eq!(command.status().await?.code(), Some(4));
            io::Result::Ok(())
        })
        .unwrap()
    });
}

#[test]
fn a_missing_program_is_not_found_and_named() {
    let err = Command::new("nbio-no-such-program").spawn().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("nbio-no-such-program"), "{err}");
}

fn try_wait_before_and_after(pool: bool) {
    nbio::block_on(async {
        let mut command = Command::new("sleep");
        command.arg("1000");
        if pool {
            command.wait_on_pool_for_tests();
        }
        let mut child = command.spawn().unwrap();
        assert!(child.try_wait().unwrap().is_none());
        child.start_kill().unwrap();
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(9));
        assert_eq!(child.try_wait().unwrap(), Some(status));
        assert_eq!(child.wait().await.unwrap(), status, "a second wait");
        child.start_kill().unwrap(); // reaped: not signalled, and no error
        assert!(reaped(child.id()));
    });
}

#[test]
fn try_wait_says_none_while_running_and_the_status_after() {
    watched(|| try_wait_before_and_after(false));
    watched(|| try_wait_before_and_after(true));
}

fn dropped_wait_loses_nothing(rt: Runtime, pool: bool) {
    rt.block_on(async {
        let mut command = Command::new("sh");
        command.args(["-c", "sleep 0.3; exit 5"]);
        if pool {
            command.wait_on_pool_for_tests();
        }
        let mut child = command.spawn().unwrap();
        let early = nbio::time::timeout(Duration::from_millis(20), child.wait()).await;
        assert!(early.is_err(), "the child ended too soon for this test");
        assert_eq!(child.wait().await.unwrap().code(), Some(5));
    });
}

#[test]
fn a_dropped_wait_loses_nothing_and_a_later_wait_gets_the_status() {
    in_each_flavour(dropped_wait_loses_nothing);
}

#[test]
fn kill_ends_the_child_and_reaps_it() {
    watched(|| {
        nbio::block_on(async {
            let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
            child.kill().await.unwrap();
            assert!(reaped(child.id()));
        })
    });
}

fn yes_read_partly_then_dropped(rt: Runtime) {
    rt.block_on(async {
        let mut child = Command::new("yes").stdout(Stdio::piped()).spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut buf = vec![0u8; 100_000];
        stdout.read_exact(&mut buf).await.unwrap();
        assert!(buf.chunks(2).all(|pair| pair == b"y\n"));
        drop(stdout);
        // `yes` gets SIGPIPE at its next write: std gives children the default action back.
        let status = child.wait().await.unwrap();
        assert_eq!(status.signal(), Some(13), "{status}");
    });
}

#[test]
fn a_child_whose_output_is_read_partly_then_dropped_ends_by_sigpipe() {
    watched(|| yes_read_partly_then_dropped(current_thread()));
    watched(|| yes_read_partly_then_dropped(two_workers()));
}

#[test]
fn a_pipe_handed_on_joins_two_children_like_a_shell_pipeline() {
    watched(|| {
        nbio::block_on(async {
            let mut yes = Command::new("yes").stdout(Stdio::piped()).spawn()?;
            let pipe = yes.stdout.take().unwrap().into_owned_fd()?;
            let head = Command::new("head")
                .args(["-c", "6"])
                .stdin(Stdio::from(pipe))
                .output()
                .await?;
            assert_eq!(head.stdout, b"y\ny\ny\n");
            assert_eq!(yes.wait().await?.signal(), Some(13));
            io::Result::Ok(())
        })
        .unwrap()
    });
}

/// A task waiting on a child's exit says so in the dump, by pid: with a pidfd and on the pool.
fn the_dump_names_the_child_waited_on(rt: Runtime, pool: bool) {
    let mut command = Command::new("sleep");
    command.arg("1000").kill_on_drop(true);
    if pool {
        command.wait_on_pool_for_tests();
    }
    let mut child = rt.block_on(async { command.spawn() }).unwrap();
    let pid = child.id();
    let (tx, rx) = nbio::sync::oneshot::channel::<()>();
    let waiter = rt.spawn(async move {
        // The wait is polled last, so that its wait is the one the task says.
        let cancelled = async {
            let _ = rx.await;
            None
        };
        futures_lite::future::or(cancelled, async { Some(child.wait().await) }).await
    });
    let mut waits = None;
    let settled = eventually(Duration::from_secs(10), || {
        rt.block_on(nbio::yield_now());
        let dump = rt.dump();
        waits = dump
            .tasks()
            .iter()
            .find(|task| task.id == waiter.id())
            .and_then(|task| task.waits_on);
        waits.is_some()
    });
    assert!(settled.is_some(), "the waiter says nothing:\n{}", rt.dump());
    assert_eq!(waits, Some(nbio::task::WaitOn::ChildExit { pid }));
    let shown = rt.dump().to_string();
    let said = format!("waits on the exit of child process {pid}");
    assert!(shown.contains(&said), "no \"{said}\" in:\n{shown}");
    tx.send(()).unwrap();
    assert!(rt.block_on(waiter).unwrap().is_none());
}

#[test]
fn the_dump_says_a_task_waits_on_a_childs_exit() {
    in_each_flavour(the_dump_names_the_child_waited_on);
}

#[test]
fn every_process_type_is_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Command>();
    send_sync::<nbio::process::Child>();
    send_sync::<nbio::process::ChildStdin>();
    send_sync::<nbio::process::ChildStdout>();
    send_sync::<nbio::process::ChildStderr>();
}

/// The pid a `sh -c 'echo $$ > file; exec ..'` child wrote, once it wrote it.
fn pid_written_to(file: &Path) -> u32 {
    let mut pid = None;
    let wrote = eventually(Duration::from_secs(10), || {
        pid = std::fs::read_to_string(file)
            .ok()
            .and_then(|text| text.trim().parse().ok());
        pid.is_some()
    });
    assert!(wrote.is_some(), "the child never wrote its pid");
    pid.unwrap()
}

#[test]
fn a_dropped_kill_future_has_sent_the_signal_at_its_first_poll() {
    watched(|| {
        nbio::block_on(async {
            let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
            // A zero timeout polls the kill once, then drops it.
            let _ = nbio::time::timeout(Duration::ZERO, child.kill()).await;
            assert_eq!(child.wait().await.unwrap().signal(), Some(9));
        })
    });
}

#[test]
fn a_dropped_status_future_kills_a_kill_on_drop_child_and_reaps_it() {
    watched(|| {
        let dir = nbio_tests::TempDir::new();
        let file = dir.path().join("pid");
        let script = format!("echo $$ > {}; exec sleep 1000", file.display());
        nbio::block_on(async {
            let mut command = Command::new("sh");
            command.args(["-c", &script]).kill_on_drop(true);
            let cut = nbio::time::timeout(Duration::from_millis(300), command.status()).await;
            assert!(cut.is_err(), "sleep 1000 ended");
        });
        let pid = pid_written_to(&file);
        let took = eventually(Duration::from_secs(10), || reaped(pid));
        assert!(took.is_some(), "child {pid} is still there");
    });
}

#[test]
fn a_dropped_output_future_leaves_the_child_running_and_a_later_spawn_reaps_it() {
    watched(|| {
        let dir = nbio_tests::TempDir::new();
        let file = dir.path().join("pid");
        let script = format!("echo $$ > {}; exec sleep 0.5", file.display());
        nbio::block_on(async {
            let mut command = Command::new("sh");
            command.args(["-c", &script]);
            let cut = nbio::time::timeout(Duration::from_millis(200), command.output()).await;
            assert!(cut.is_err(), "sleep 0.5 ended within 0.2 s");
            let pid = pid_written_to(&file);
            assert!(!reaped(pid), "without kill_on_drop the child runs on");
            let stat = format!("/proc/{pid}/stat");
            let exited = eventually(Duration::from_secs(10), || {
                std::fs::read_to_string(&stat).map_or(true, |s| s.contains(") Z "))
            });
            assert!(exited.is_some(), "the child did not exit");
            assert!(Command::new("true").status().await.unwrap().success());
            assert!(reaped(pid), "the dropped child {pid} was not reaped");
        })
    });
}
