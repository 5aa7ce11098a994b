//! The blocking pool's threads come and go, and never hold a shutdown hostage: idle threads
//! leave after the keep-alive, `shutdown_timeout` returns within its grace and names what it
//! left running, and dropping a runtime with a job that never ends returns (after saying so).
//!
//! Tests that count the process's threads (`/proc/self/task`) run alone in a child process:
//! the other tests of this binary run their own threads meanwhile.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use nbio_tests::{eventually, in_child, process_threads, run_child, watched, DropCounter};

/// Far longer than any step here takes; reaching it means the pool is broken.
const LONG: Duration = Duration::from_secs(20);

#[test]
fn idle_pool_threads_leave_after_the_keep_alive() {
    const TEST: &str = "idle_pool_threads_leave_after_the_keep_alive";
    if !in_child(TEST) {
        let child = run_child(TEST, &[]);
        // The figure the performance goal asks for: back to zero within keep-alive + 100 ms.
        let line = child.stdout.lines().find(|l| l.contains("back to zero"));
        println!("{}", line.expect("the child prints its figure"));
        return;
    }
    let keep_alive = Duration::from_millis(200);
    // Without the slow-poll watchdog, whose thread would start with the first block_on.
    let rt = nbio::Runtime::builder()
        .blocking_keep_alive(keep_alive)
        .slow_poll_threshold(None)
        .build()
        .unwrap();
    let baseline = process_threads();
    // A burst of 8 jobs that are all running at once, so that 8 threads start.
    let all_running = Arc::new(Barrier::new(8));
    let jobs: Vec<_> = (0..8)
        .map(|_| {
            let all_running = Arc::clone(&all_running);
            rt.spawn_blocking(move || {
                all_running.wait();
            })
        })
        .collect();
    for job in jobs {
        rt.block_on(job).unwrap();
    }
    let burst_ended = Instant::now();
    assert_eq!(rt.stats().blocking_threads, 8);
    assert_eq!(process_threads(), baseline + 8);
    let to_zero = eventually(LONG, || rt.stats().blocking_threads == 0)
        .expect("the idle threads leave after their keep-alive");
    assert!(
        burst_ended.elapsed() >= keep_alive,
        "threads left before their keep-alive"
    );
    eventually(LONG, || process_threads() == baseline).expect("the OS threads are gone too");
    println!(
        "pool threads back to zero {} ms after the burst (keep-alive {} ms)",
        to_zero.as_millis(),
        keep_alive.as_millis()
    );
    // A new job after that starts a thread again.
    assert_eq!(rt.block_on(rt.spawn_blocking(|| 3)).unwrap(), 3);
    assert_eq!(rt.stats().blocking_threads, 1);
}

#[test]
fn a_thread_that_is_kept_alive_takes_the_next_job_instead_of_a_new_thread() {
    watched(|| {
        let rt = nbio::Runtime::new().unwrap();
        let mut threads = std::collections::HashSet::new();
        for _ in 0..20 {
            let name = rt.spawn_blocking(|| thread::current().name().map(str::to_string));
            threads.insert(rt.block_on(name).unwrap());
        }
        // One job at a time: an idle thread is reused. (The thread that just finished a job
        // may not be idle yet when the next one comes, so a second or third may start; with
        // threads that left after each job there would be twenty.)
        assert!(threads.len() <= 5, "20 jobs in a row ran on {threads:?}");
    });
}

#[test]
fn shutdown_timeout_with_a_job_that_never_ends_returns_within_its_grace() {
    watched(|| {
        let rt = nbio::Runtime::new().unwrap();
        let (release, wait) = mpsc::channel::<()>();
        let stuck = rt.spawn_blocking(move || wait.recv().unwrap());
        eventually(LONG, || rt.stats().blocking_jobs_running == 1).expect("the job starts");
        let grace = Duration::from_millis(100);
        let began = Instant::now();
        let report = rt.shutdown_timeout(grace);
        let took = began.elapsed();
        assert!(took >= grace, "returned after {took:?}, before its grace");
        let margin = Duration::from_secs(5) * nbio_tests::slowdown();
        assert!(took < grace + margin, "took {took:?}");
        assert!(!report.is_clean());
        assert_eq!(report.still_running().len(), 1);
        assert_eq!(report.still_running()[0].id, stuck.id());
        let text = report.to_string();
        assert!(text.contains("1 blocking job(s) still running"), "{text}");
        assert!(text.contains("blocking_shutdown.rs"), "{text}");
        // The detached thread finishes its job when it can.
        release.send(()).unwrap();
        drop(stuck);
    });
}

#[test]
fn shutdown_timeout_waits_for_a_job_that_ends_within_the_grace() {
    watched(|| {
        let rt = nbio::Runtime::new().unwrap();
        let finished = Arc::new(AtomicBool::new(false));
        let job = rt.spawn_blocking({
            let finished = Arc::clone(&finished);
            move || {
                thread::sleep(Duration::from_millis(50));
                finished.store(true, SeqCst);
            }
        });
        eventually(LONG, || rt.stats().blocking_jobs_running == 1).expect("the job starts");
        let report = rt.shutdown_timeout(LONG);
        assert!(report.is_clean(), "{report}");
        assert!(
            finished.load(SeqCst),
            "shutdown returned before the job ended"
        );
        drop(job);
    });
}

#[test]
fn shutdown_cancels_queued_jobs_without_running_them() {
    watched(|| {
        let rt = nbio::Runtime::builder()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let (release, wait) = mpsc::channel::<()>();
        let busy = rt.spawn_blocking(move || wait.recv().unwrap());
        eventually(LONG, || rt.stats().blocking_jobs_running == 1).expect("the job starts");
        let dropped = DropCounter::new();
        let ran = Arc::new(AtomicBool::new(false));
        let queued: Vec<_> = (0..3)
            .map(|_| {
                let (guard, ran) = (dropped.guard(), Arc::clone(&ran));
                rt.spawn_blocking(move || {
                    let _guard = guard;
                    ran.store(true, SeqCst);
                })
            })
            .collect();
        let report = rt.shutdown_timeout(Duration::from_millis(50));
        release.send(()).unwrap();
        assert_eq!(report.still_running().len(), 1, "{report}");
        assert_eq!(report.cancelled(), 3);
        assert!(
            report
                .to_string()
                .contains("3 queued job(s) were cancelled"),
            "{report}"
        );
        assert_eq!(dropped.drops(), 3, "every queued closure was dropped");
        assert!(!ran.load(SeqCst), "a queued job ran during shutdown");
        for job in queued {
            let err = nbio::block_on(job).unwrap_err();
            assert!(err.is_cancelled(), "{err}");
        }
        assert!(nbio::block_on(busy).is_ok());
    });
}

#[test]
fn dropping_a_runtime_with_a_job_that_never_ends_returns_and_names_the_job() {
    const TEST: &str = "dropping_a_runtime_with_a_job_that_never_ends_returns_and_names_the_job";
    if !in_child(TEST) {
        let child = run_child(TEST, &[]);
        assert!(
            child
                .stderr
                .contains("nbio: the runtime was dropped; 1 blocking job(s) still running"),
            "{}",
            child.stderr
        );
        assert!(
            child.stderr.contains("blocking_shutdown.rs"),
            "{}",
            child.stderr
        );
        return;
    }
    let baseline = process_threads();
    let rt = nbio::Runtime::new().unwrap();
    let (release, wait) = mpsc::channel::<()>();
    let job = rt.spawn_blocking(move || wait.recv().unwrap());
    eventually(LONG, || rt.stats().blocking_jobs_running == 1).expect("the job starts");
    let began = Instant::now();
    drop(rt);
    let took = began.elapsed();
    // The drop waits its one second, then leaves the thread to its job.
    assert!(took >= Duration::from_secs(1), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(
        process_threads() > baseline,
        "the job's thread is still running it"
    );
    // Once the job ends, its thread leaves: none is left behind.
    release.send(()).unwrap();
    eventually(LONG, || process_threads() == baseline).expect("the detached thread leaves");
    nbio::block_on(job).expect("the job finished its closure");
}

#[test]
fn dropping_a_runtime_joins_its_pool_threads() {
    const TEST: &str = "dropping_a_runtime_joins_its_pool_threads";
    if !in_child(TEST) {
        run_child(TEST, &[]);
        return;
    }
    let baseline = process_threads();
    let rt = nbio::Runtime::builder()
        .slow_poll_threshold(None)
        .build()
        .unwrap();
    let barrier = Arc::new(Barrier::new(4));
    let jobs: Vec<_> = (0..4)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            rt.spawn_blocking(move || {
                barrier.wait();
            })
        })
        .collect();
    for job in jobs {
        rt.block_on(job).unwrap();
    }
    assert_eq!(process_threads(), baseline + 4);
    drop(rt);
    // Joined, not merely told to leave: they are gone when the drop returns.
    assert_eq!(process_threads(), baseline);
}
