//! What `block_on` does with a cycle of tasks waiting on each other (`Builder::on_cycle`):
//! under `OnCycle::Report`, the default, it prints one report and goes on waiting, and returns
//! once something it cannot see breaks the cycle; under `OnCycle::Panic` it fails with that
//! report, naming both tasks; `#[nbio::test]` fails on a cycle instead of hanging; and under a
//! seed the report, as the panic of a proven deadlock, says `NBIO_SEED=<n> replays this run`.
//!
//! The scenes that wait, or that must be seen to end rather than hang, run in a child process;
//! the panics are caught in this one.

use std::any::Any;
use std::future::Future;
use std::io::Read;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nbio::sync::{Barrier, Mutex};
use nbio::task::JoinHandle;
use nbio::{Builder, OnCycle, Runtime};
use nbio_tests::{in_child, watched, CHILD};

/// The first words of the report of a cycle.
const REPORT: &str = "nbio: deadlock? ";

/// The seed of the example.
const SEED: u64 = 42424242;

/// Locks `mine`, waits until the other task has locked its own, then waits for `theirs`.
async fn cross(mine: Arc<Mutex<()>>, theirs: Arc<Mutex<()>>, both: Arc<Barrier>) {
    let _mine = mine.lock().await;
    both.wait().await;
    drop(theirs.lock().await);
}

/// Spawns "first" and "second" on the current runtime, each holding one of two mutexes and
/// waiting for the other's: a cycle whatever order they run in.
fn spawn_two_mutex_cycle() -> (JoinHandle<()>, JoinHandle<()>) {
    let (a, b) = (Arc::new(Mutex::new(())), Arc::new(Mutex::new(())));
    let both = Arc::new(Barrier::new(2));
    let first = nbio::task::Builder::new().name("first").spawn(cross(
        Arc::clone(&a),
        Arc::clone(&b),
        Arc::clone(&both),
    ));
    let second = nbio::task::Builder::new()
        .name("second")
        .spawn(cross(b, a, both));
    (first, second)
}

/// Awaits both tasks of a two-mutex cycle: never returns.
async fn two_mutex_cycle() {
    let (first, second) = spawn_two_mutex_cycle();
    first.await.unwrap();
    second.await.unwrap();
}

/// The message of the panic that `block_on(future)` ends with, on a runtime `builder` builds.
/// A watchdog fails the test if `block_on` waits instead.
fn panic_of<F>(builder: fn() -> Builder, future: fn() -> F) -> String
where
    F: Future<Output = ()> + 'static,
{
    watched(move || {
        let rt = builder().build().unwrap();
        let message = message_of(catch_unwind(AssertUnwindSafe(|| rt.block_on(future()))));
        // The runtime still works after the panic, and drops the stuck tasks when dropped.
        assert_eq!(rt.block_on(async { 7 }), 7);
        message
    })
}

/// The message of a panic `caught`.
fn message_of(caught: std::thread::Result<()>) -> String {
    let payload: Box<dyn Any + Send> = caught.expect_err("block_on returned instead of panicking");
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

/// How a scene's child process ended: `exited` is its success, or `None` if it was killed
/// 300 ms after its first report of a cycle (when `kill_after_report`); `output` is its stderr
/// and stdout.
struct Ran {
    exited: Option<bool>,
    output: String,
}

/// Runs this binary's test `scene` alone in a child, with `NBIO_SEED` unset. A child still
/// running after a minute (and not killed after a report) hung: the test fails.
fn child(scene: &str, kill_after_report: bool) -> Ran {
    let mut running = Command::new(std::env::current_exe().unwrap())
        .args([scene, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, scene)
        .env_remove("NBIO_TRACE")
        .env_remove("NBIO_EXPLAIN")
        .env_remove("NBIO_SEED")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (chunks_tx, chunks) = std::sync::mpsc::channel::<Vec<u8>>();
    let mut readers = Vec::new();
    let pipes: [Box<dyn Read + Send>; 2] = [
        Box::new(running.stderr.take().unwrap()),
        Box::new(running.stdout.take().unwrap()),
    ];
    for mut pipe in pipes {
        let chunks_tx = chunks_tx.clone();
        readers.push(std::thread::spawn(move || {
            let mut buffer = [0; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buffer) {
                let _ = chunks_tx.send(buffer[..n].to_vec());
            }
        }));
    }
    drop(chunks_tx);
    let mut text = Vec::new();
    let started = Instant::now();
    let mut reported: Option<Instant> = None;
    let exited = loop {
        if let Ok(chunk) = chunks.recv_timeout(Duration::from_millis(10)) {
            text.extend_from_slice(&chunk);
        }
        if let Some(status) = running.try_wait().unwrap() {
            break Some(status.success());
        }
        if kill_after_report
            && reported.is_none()
            && String::from_utf8_lossy(&text).contains(REPORT)
        {
            reported = Some(Instant::now());
        }
        if reported.is_some_and(|at| at.elapsed() > Duration::from_millis(300)) {
            running.kill().unwrap();
            let _ = running.wait();
            break None;
        }
        if started.elapsed() > Duration::from_secs(60) * nbio_tests::slowdown() {
            running.kill().unwrap();
            let _ = running.wait();
            let text = String::from_utf8_lossy(&text);
            panic!("the scene {scene} hung: it did not end within a minute\n{text}");
        }
    };
    for reader in readers {
        reader.join().unwrap();
    }
    text.extend(chunks.try_iter().flatten());
    let output = String::from_utf8_lossy(&text).into_owned();
    Ran { exited, output }
}

/// The report names both tasks of a two-mutex cycle, each waiting on a mutex the other holds.
fn names_both_tasks(report: &str) {
    assert!(report.contains(REPORT), "{report}");
    assert!(
        report.contains("the tasks wait on each other in a cycle: "),
        "{report}"
    );
    for (waiter, holder) in [("first#", "second#"), ("second#", "first#")] {
        let named = report
            .split(REPORT)
            .nth(1)
            .and_then(|after| after.lines().next())
            .is_some_and(|line| {
                line.split("; ").any(|wait| {
                    wait.contains(waiter)
                        && wait.contains(" waits on Mutex made at ")
                        && wait.contains(&format!(", held by {holder}"))
                })
            });
        assert!(named, "{waiter} waiting on {holder} not named:\n{report}");
    }
}

/// Under the default policy the report comes once, and `block_on` goes on waiting: a task of
/// another runtime, which the check cannot see, holds the guard the cycle waits for, and drops
/// it 300 ms later; then the cycle is broken and the scene ends.
#[test]
fn report_prints_once_and_waits_until_a_task_it_cannot_see_breaks_the_cycle() {
    let scene = "report_prints_once_and_waits_until_a_task_it_cannot_see_breaks_the_cycle";
    if in_child(scene) {
        let theirs = Runtime::builder().worker_threads(1).build().unwrap();
        let ours = Runtime::new().unwrap();
        let handle = theirs.handle().clone();
        let mutex = Arc::new(Mutex::new(()));
        let locker = nbio::task::Builder::new()
            .name("locker")
            .spawn_on(&ours, async move {
                let guard = Arc::clone(&mutex).lock_owned().await;
                let waiter = nbio::task::Builder::new()
                    .name("waiter")
                    .spawn(async move { drop(mutex.lock().await) });
                nbio::yield_now().await; // the waiter queues for the mutex
                                         // The third task, on the other runtime, drops the guard in its own time.
                handle.spawn(async move {
                    nbio::time::sleep(Duration::from_millis(300)).await;
                    eprintln!("scene: the other runtime's task lets go of the guard");
                    drop(guard);
                });
                waiter.await.unwrap();
            });
        ours.block_on(locker).unwrap();
        eprintln!("scene: done");
        return;
    }
    let ran = child(scene, false);
    let output = &ran.output;
    assert_eq!(ran.exited, Some(true), "the scene failed:\n{output}");
    assert_eq!(output.matches(REPORT).count(), 1, "{output}");
    let report = output.find(REPORT).unwrap();
    let let_go = output
        .find("scene: the other runtime's task lets go")
        .expect("the third task never ran");
    let done = output.find("scene: done").expect("the scene did not end");
    assert!(report < let_go && let_go < done, "{output}");
    assert!(
        output.contains("locker#") && output.contains("waiter#"),
        "{output}"
    );
    assert!(
        output.contains("block_on keeps waiting"),
        "the report does not say it waits:\n{output}"
    );
    assert!(
        !output.contains("replays this run"),
        "no seed, no replay line:\n{output}"
    );
}

/// `OnCycle::Report` said out loud is the default: the report comes, and the loop waits on.
#[test]
fn report_said_out_loud_waits_on_worker_threads_too() {
    let scene = "report_said_out_loud_waits_on_worker_threads_too";
    if in_child(scene) {
        let rt = Runtime::builder()
            .worker_threads(2)
            .on_cycle(OnCycle::Report)
            .build()
            .unwrap();
        rt.block_on(two_mutex_cycle());
        return;
    }
    let ran = child(scene, true);
    assert_eq!(
        ran.exited, None,
        "no report, or it did not wait:\n{}",
        ran.output
    );
    assert_eq!(ran.output.matches(REPORT).count(), 1, "{}", ran.output);
    names_both_tasks(&ran.output);
}

#[test]
fn panic_fails_block_on_with_the_report_naming_both_tasks() {
    let message = panic_of(
        || Runtime::builder().on_cycle(OnCycle::Panic),
        two_mutex_cycle,
    );
    names_both_tasks(&message);
    assert!(
        message.contains("fails on a cycle (OnCycle::Panic)"),
        "{message}"
    );
    assert!(!message.contains("keeps waiting"), "{message}");
}

#[test]
fn panic_fails_block_on_on_worker_threads_too() {
    let message = panic_of(
        || {
            Runtime::builder()
                .worker_threads(2)
                .on_cycle(OnCycle::Panic)
        },
        two_mutex_cycle,
    );
    names_both_tasks(&message);
}

/// A `#[nbio::test]` whose tasks take two mutexes in opposite orders. Run alone in a child by
/// the test below; in this process it passes without doing anything.
#[nbio::test]
async fn an_nbio_test_with_a_two_mutex_cycle() {
    if in_child("an_nbio_test_with_a_two_mutex_cycle") {
        two_mutex_cycle().await;
    }
}

#[test]
fn an_nbio_test_whose_tasks_wait_on_each_other_fails_instead_of_hanging() {
    let ran = child("an_nbio_test_with_a_two_mutex_cycle", false);
    assert_eq!(ran.exited, Some(false), "the test passed:\n{}", ran.output);
    names_both_tasks(&ran.output);
    // The test's seed is a fresh one; the report says which.
    let report = &ran.output[ran.output.find(REPORT).unwrap()..];
    assert!(
        report.contains("nbio: NBIO_SEED=") && report.contains(" replays this run"),
        "{}",
        ran.output
    );
}

/// The same `#[nbio::test]` on worker threads, under the seed.
#[nbio::test(worker_threads = 2, seed = 42424242)]
async fn an_nbio_test_on_worker_threads_with_a_two_mutex_cycle() {
    if in_child("an_nbio_test_on_worker_threads_with_a_two_mutex_cycle") {
        two_mutex_cycle().await;
    }
}

#[test]
fn an_nbio_test_on_worker_threads_fails_too_and_names_its_seed() {
    let ran = child(
        "an_nbio_test_on_worker_threads_with_a_two_mutex_cycle",
        false,
    );
    assert_eq!(ran.exited, Some(false), "the test passed:\n{}", ran.output);
    names_both_tasks(&ran.output);
    assert!(
        ran.output
            .contains(&format!("NBIO_SEED={SEED} replays this run")),
        "{}",
        ran.output
    );
}

/// The case: under `Builder::seed(42424242)` the report of a two-mutex cycle names both
/// tasks and the seed.
#[test]
fn under_a_seed_the_printed_report_says_which_seed_replays_the_run() {
    let scene = "under_a_seed_the_printed_report_says_which_seed_replays_the_run";
    if in_child(scene) {
        let rt = Runtime::builder().seed(SEED).build().unwrap();
        rt.block_on(two_mutex_cycle());
        return;
    }
    let ran = child(scene, true);
    assert_eq!(ran.exited, None, "no report:\n{}", ran.output);
    names_both_tasks(&ran.output);
    let report = &ran.output[ran.output.find(REPORT).unwrap()..];
    let mut lines = report.lines();
    lines.next();
    assert_eq!(
        lines.next(),
        Some(format!("nbio: NBIO_SEED={SEED} replays this run").as_str()),
        "the line after the report's first is not the seed's:\n{}",
        ran.output
    );
}

/// A runtime on this thread, under the seed.
fn on_one_thread_seeded() -> Builder {
    Runtime::builder().seed(SEED)
}

#[test]
fn under_a_seed_the_panic_of_a_cycle_says_which_seed_replays_the_run() {
    let on_one_thread = || on_one_thread_seeded().on_cycle(OnCycle::Panic);
    let on_workers = || {
        on_one_thread_seeded()
            .on_cycle(OnCycle::Panic)
            .worker_threads(2)
    };
    for builder in [on_one_thread as fn() -> Builder, on_workers] {
        let message = panic_of(builder, two_mutex_cycle);
        names_both_tasks(&message);
        assert!(
            message.contains(&format!("\nnbio: NBIO_SEED={SEED} replays this run\n")),
            "{message}"
        );
    }
}

/// A proven deadlock (nothing holds any waker) panics under the default policy (`Report`), and
/// under a seed its message says which seed replays the run.
#[test]
fn under_a_seed_the_panic_of_a_deadlock_says_which_seed_replays_the_run() {
    // A task, and the future itself, waiting on what never wakes anyone.
    async fn stuck() {
        drop(nbio::spawn(std::future::pending::<()>()));
        std::future::pending::<()>().await
    }
    let on_workers = || on_one_thread_seeded().worker_threads(2);
    for builder in [on_one_thread_seeded as fn() -> Builder, on_workers] {
        let message = panic_of(builder, stuck);
        assert!(message.starts_with("nbio: deadlock: "), "{message}");
        assert!(
            message.contains(&format!("\nnbio: NBIO_SEED={SEED} replays this run\n")),
            "{message}"
        );
    }
}
