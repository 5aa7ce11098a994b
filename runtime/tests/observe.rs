//! Watching the runtime: the Chrome trace, the slow-poll warning, the narrative, the dump and
//! the deadlock report. Tests that read stderr run their scene in a child process (this test
//! binary again, told by `NBIO_OBSERVE_CHILD` which scene to play) and read what it printed.

use std::future::Future;
use std::io;
use std::net::{Shutdown, TcpListener};
use std::pin::Pin;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use nbio::net::AsyncTcpStream;
use nbio::task::Builder as TaskBuilder;
use serde_json::Value;

const CHILD: &str = "NBIO_OBSERVE_CHILD";

/// Runs this test binary's `scene` test alone, as a child with `CHILD=scene`; returns stderr.
fn run_child(scene: &str, extra_env: &[(&str, &str)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([scene, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, scene)
        .env_remove("NBIO_TRACE")
        .env_remove("NBIO_EXPLAIN");
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "child scene {scene} failed:\n{stderr}"
    );
    stderr
}

fn playing(scene: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|s| s == scene)
}

/// The article's scene, small: two named senders push more than the socket buffers hold to a
/// std reader that starts late, while a named counter ticks on a timer.
async fn scene_with_would_blocks() -> io::Result<()> {
    let mut readers = Vec::new();
    let mut senders = Vec::new();
    for name in ["send_foo", "send_bar"] {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        readers.push(std::thread::spawn(move || -> io::Result<usize> {
            let (mut conn, _) = listener.accept()?;
            std::thread::sleep(Duration::from_millis(30));
            io::copy(&mut conn, &mut io::sink()).map(|n| n as usize)
        }));
        senders.push(TaskBuilder::new().name(name).spawn(async move {
            let stream = AsyncTcpStream::connect(addr).await?;
            stream.write_all(&vec![b'x'; 8 << 20]).await?;
            stream.shutdown(Shutdown::Write)
        }));
    }
    let counter = TaskBuilder::new().name("counter").spawn(async {
        for _ in 0..5 {
            nbio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    for sender in senders {
        sender.await??;
    }
    counter.await?;
    for reader in readers {
        assert_eq!(reader.join().unwrap()?, 8 << 20);
    }
    Ok(())
}

#[test]
fn the_trace_is_chrome_json_with_poll_slices_for_every_task_and_flows_with_both_ends() {
    let rt = nbio::Runtime::builder().trace(true).build().unwrap();
    rt.block_on(scene_with_would_blocks()).unwrap();
    let mut json = Vec::new();
    rt.write_trace(&mut json).unwrap();
    let trace: Value = serde_json::from_slice(&json).expect("the trace parses as JSON");
    let events = trace["traceEvents"]
        .as_array()
        .expect("a traceEvents array");

    let slices: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    for task in ["send_foo", "send_bar", "counter"] {
        assert!(
            slices
                .iter()
                .any(|s| s["name"].as_str().unwrap().starts_with(task)),
            "no poll slice for {task}"
        );
    }
    assert!(
        slices.iter().any(|s| s["name"] == "reactor wait"),
        "no reactor wait slice"
    );
    assert!(
        events.iter().any(
            |e| (e["name"] == "WouldBlock" || e["name"] == "short write")
                && e["args"]["remaining"].as_u64() > Some(0)
        ),
        "no marker of a send waiting (WouldBlock or short write) with the bytes remaining"
    );

    // Slices on the runtime's track nest: sorted by start, none begins inside another and
    // ends after it.
    let mut spans: Vec<(f64, f64)> = slices
        .iter()
        .map(|s| {
            let start = s["ts"].as_f64().unwrap();
            (start, start + s["dur"].as_f64().unwrap())
        })
        .collect();
    spans.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut open: Vec<f64> = Vec::new();
    for (start, end) in spans {
        while open.last().is_some_and(|&outer_end| outer_end <= start) {
            open.pop();
        }
        if let Some(&outer_end) = open.last() {
            assert!(
                end <= outer_end + 1e-3,
                "slice [{start}, {end}] straddles an outer end {outer_end}"
            );
        }
        open.push(end);
    }

    // Every flow has a start and an end, the end no earlier than the start, and each end lies
    // within a poll slice.
    let flows = |phase: &str| -> Vec<(u64, f64)> {
        events
            .iter()
            .filter(|e| e["ph"] == phase)
            .map(|e| (e["id"].as_u64().unwrap(), e["ts"].as_f64().unwrap()))
            .collect()
    };
    let (starts, ends) = (flows("s"), flows("f"));
    assert!(!starts.is_empty(), "no flow arrows at all");
    assert_eq!(starts.len(), ends.len());
    for (id, from) in &starts {
        let to = ends
            .iter()
            .find(|(end_id, _)| end_id == id)
            .expect("a flow without its end")
            .1;
        assert!(to >= *from, "flow {id} ends before it starts");
        assert!(
            slices.iter().any(|s| {
                let start = s["ts"].as_f64().unwrap();
                s["cat"] == "poll" && start <= to && to <= start + s["dur"].as_f64().unwrap()
            }),
            "flow {id} ends outside of any poll"
        );
    }
}

#[test]
fn writing_a_trace_with_tracing_off_is_an_invalid_input_error() {
    let rt = nbio::Runtime::new().unwrap();
    let err = rt.write_trace(Vec::new()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("Builder::trace"), "{err}");
}

#[test]
fn nbio_trace_writes_the_file_when_the_runtime_is_dropped() {
    if playing("nbio_trace_writes_the_file_when_the_runtime_is_dropped") {
        nbio::block_on(async { nbio::spawn(async {}).await.unwrap() });
        return;
    }
    let path = std::env::temp_dir().join(format!("nbio-trace-{}.json", std::process::id()));
    run_child(
        "nbio_trace_writes_the_file_when_the_runtime_is_dropped",
        &[("NBIO_TRACE", path.to_str().unwrap())],
    );
    let trace: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(trace["traceEvents"]
        .as_array()
        .is_some_and(|e| !e.is_empty()));
}

#[test]
fn a_task_that_sleeps_50_ms_in_a_poll_gets_exactly_one_warning_naming_it() {
    if playing("a_task_that_sleeps_50_ms_in_a_poll_gets_exactly_one_warning_naming_it") {
        nbio::block_on(async {
            let blocker = TaskBuilder::new().name("blocker").spawn(async {
                std::thread::sleep(Duration::from_millis(50));
            });
            let quick = nbio::spawn(async {
                for _ in 0..100 {
                    nbio::yield_now().await;
                }
            });
            blocker.await.unwrap();
            quick.await.unwrap();
        });
        return;
    }
    let stderr = run_child(
        "a_task_that_sleeps_50_ms_in_a_poll_gets_exactly_one_warning_naming_it",
        &[],
    );
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("slow poll")).collect();
    assert_eq!(
        warnings.len(),
        1,
        "expected one warning line, got:\n{stderr}"
    );
    assert!(
        warnings[0].contains("blocker#"),
        "the warning does not name the task: {}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("tests/observe.rs"),
        "no spawn location: {}",
        warnings[0]
    );
}

#[test]
fn the_slow_poll_warning_can_be_switched_off() {
    if playing("the_slow_poll_warning_can_be_switched_off") {
        let rt = nbio::Runtime::builder()
            .slow_poll_threshold(None)
            .build()
            .unwrap();
        rt.block_on(async { std::thread::sleep(Duration::from_millis(30)) });
        return;
    }
    let stderr = run_child("the_slow_poll_warning_can_be_switched_off", &[]);
    assert!(!stderr.contains("slow poll"), "{stderr}");
}

#[test]
fn explain_narrates_would_blocks_and_the_reactor_wakes_they_wait_for() {
    if playing("explain_narrates_would_blocks_and_the_reactor_wakes_they_wait_for") {
        nbio::block_on(scene_with_would_blocks()).unwrap();
        return;
    }
    let stderr = run_child(
        "explain_narrates_would_blocks_and_the_reactor_wakes_they_wait_for",
        &[("NBIO_EXPLAIN", "1")],
    );
    let would_block = stderr
        .lines()
        .find(|l| {
            (l.contains("WouldBlock with") || l.contains("short write"))
                && l.contains("bytes remaining")
                && l.contains("waiting for writable on fd")
        })
        .unwrap_or_else(|| panic!("no line of a send waiting in:\n{stderr}"));
    assert!(
        would_block.contains("send_foo#") || would_block.contains("send_bar#"),
        "{would_block}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("reactor: fd") && l.contains("writable → wake send_")),
        "no line for the writability that woke a sender"
    );
    assert!(
        stderr.lines().any(|l| l.contains("timer → wake counter#")),
        "no timer wake line"
    );
}

#[test]
fn the_dump_lists_live_tasks_and_says_which_can_never_run_again() {
    let rt = nbio::Runtime::new().unwrap();
    let stuck = TaskBuilder::new()
        .name("stuck")
        .spawn_on(&rt, std::future::pending::<()>());
    let sleeper = TaskBuilder::new()
        .name("sleeper")
        .spawn_on(&rt, nbio::time::sleep(Duration::from_secs(60)));
    rt.block_on(nbio::yield_now());
    let dump = rt.dump();
    let text = dump.to_string();
    assert_eq!(dump.tasks().len(), 2, "{text}");
    let by_name = |name: &str| {
        dump.tasks()
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
            .unwrap()
    };
    assert!(by_name("stuck").can_never_run(), "{text}");
    assert!(
        !by_name("sleeper").can_never_run(),
        "a timer holds its waker: {text}"
    );
    assert_eq!(by_name("stuck").polls, 1);
    assert!(
        text.contains("stuck#") && text.contains("it can never run again"),
        "{text}"
    );
    drop((stuck, sleeper));
}

/// A future that drops the waker it is given: nothing can ever wake it.
struct ForgetsItsWaker;

impl Future for ForgetsItsWaker {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

#[test]
fn the_deadlock_report_fires_when_nothing_can_wake_the_block_on_future() {
    let rt = nbio::Runtime::new().unwrap();
    let _stuck = TaskBuilder::new()
        .name("also_stuck")
        .spawn_on(&rt, ForgetsItsWaker);
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(ForgetsItsWaker)
    }))
    .expect_err("block_on should report the deadlock instead of hanging");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("deadlock"), "{message}");
    assert!(
        message.contains("also_stuck#") && message.contains("can never run again"),
        "{message}"
    );
}

/// A future that is woken later by another thread, which holds its waker meanwhile.
struct WokenLaterByAThread {
    shared: Arc<Mutex<(bool, Option<Waker>)>>,
}

impl Future for WokenLaterByAThread {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut shared = self.shared.lock().unwrap();
        if shared.0 {
            return Poll::Ready(());
        }
        shared.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[test]
fn the_deadlock_report_does_not_fire_while_another_thread_holds_a_waker() {
    nbio::block_on(async {
        let shared = Arc::new(Mutex::new((false, None::<Waker>)));
        // A task waits on the thread, and so does the block_on future (through the handle).
        let task = nbio::spawn(WokenLaterByAThread {
            shared: Arc::clone(&shared),
        });
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            let mut guard = shared.lock().unwrap();
            guard.0 = true;
            if let Some(waker) = guard.1.take() {
                waker.wake();
            }
        });
        task.await.unwrap();
        thread.join().unwrap();
    });
}
