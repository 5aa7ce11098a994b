//! The deadlock report names the cycle: two tasks that wait on each other (one holds a
//! `Mutex` and awaits the other's `JoinHandle`, the other waits for the `Mutex`) while
//! `block_on` awaits the first. Nothing outside can break it, so the report fires, on both
//! flavours, and says who waits on whom; while a timer could still fire it stays quiet. Each
//! scene runs in a child process (the report is a panic of `block_on`).

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use nbio::sync::Mutex;
use nbio::task::JoinHandle;
use nbio::Runtime;
use nbio_tests::{in_child, CHILD};

/// Runs this binary's `scene` test alone in a child; returns (exited 0, stderr). A child that
/// is still running after a minute hung (the report never came): it is killed, and the test
/// fails saying so.
fn child(scene: &str) -> (bool, String) {
    let mut running = Command::new(std::env::current_exe().unwrap())
        .args([scene, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, scene)
        .env_remove("NBIO_TRACE")
        .env_remove("NBIO_EXPLAIN")
        .env_remove("NBIO_SEED")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = running.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = running.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(60) * nbio_tests::slowdown() {
            running.kill().unwrap();
            let _ = running.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = reader.join().unwrap();
    match status {
        Some(status) => (status.success(), stderr),
        None => panic!("the scene {scene} hung: no deadlock report within a minute\n{stderr}"),
    }
}

/// `locker` locks the mutex, then awaits `waiter`; `waiter` waits for the mutex. `block_on`
/// awaits `locker`. Also prints the line the mutex was made at.
fn lock_cycle(rt: &Runtime) {
    let mutex = Arc::new(Mutex::new(()));
    eprintln!("scene: mutex made at line {}", line!() - 1);
    let waiter_slot: Arc<StdMutex<Option<JoinHandle<()>>>> = Arc::default();
    let locker = nbio::task::Builder::new().name("locker").spawn_on(rt, {
        let (mutex, waiter_slot) = (Arc::clone(&mutex), Arc::clone(&waiter_slot));
        async move {
            let _guard = mutex.lock().await;
            nbio::time::sleep(Duration::from_millis(20)).await; // the waiter queues meanwhile
            let waiter = waiter_slot.lock().unwrap().take().unwrap();
            waiter.await.unwrap();
        }
    });
    let waiter = nbio::task::Builder::new()
        .name("waiter")
        .spawn_on(rt, async move {
            nbio::time::sleep(Duration::from_millis(5)).await; // the locker locks first
            drop(mutex.lock().await);
        });
    *waiter_slot.lock().unwrap() = Some(waiter);
    rt.block_on(locker).unwrap();
}

fn check_report(stderr: &str) {
    let line: u32 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("scene: mutex made at line "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the scene did not start:\n{stderr}"));
    let report = stderr
        .lines()
        .find(|l| l.contains("nbio: deadlock"))
        .unwrap_or_else(|| panic!("no deadlock report:\n{stderr}"));
    assert!(
        report.contains("the tasks wait on each other in a cycle: locker#"),
        "{report}"
    );
    assert!(
        report.contains("waits on the JoinHandle of waiter#"),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            " waits on Mutex made at tests/tests/deadlock_cycle.rs:{line}:"
        )) && report.contains("; waiter#"),
        "{report}"
    );
    assert!(report.contains(", held by locker#"), "{report}");
}

#[test]
fn a_mutex_and_join_handle_cycle_is_reported_naming_both_waits() {
    let scene = "a_mutex_and_join_handle_cycle_is_reported_naming_both_waits";
    if in_child(scene) {
        lock_cycle(&Runtime::new().unwrap());
        return;
    }
    let (passed, stderr) = child(scene);
    assert!(!passed, "block_on returned from a deadlock:\n{stderr}");
    check_report(&stderr);
}

#[test]
fn the_cycle_is_reported_on_worker_threads_too() {
    let scene = "the_cycle_is_reported_on_worker_threads_too";
    if in_child(scene) {
        lock_cycle(&Runtime::builder().worker_threads(2).build().unwrap());
        return;
    }
    let (passed, stderr) = child(scene);
    assert!(!passed, "block_on returned from a deadlock:\n{stderr}");
    check_report(&stderr);
}

#[test]
fn no_report_while_a_timer_could_still_fire() {
    let scene = "no_report_while_a_timer_could_still_fire";
    if in_child(scene) {
        let rt = Runtime::new().unwrap();
        // A task outside the cycle sleeps: until its timer fires, it could still act.
        let started = Instant::now();
        rt.spawn(async move {
            nbio::time::sleep(Duration::from_millis(400)).await;
            eprintln!("scene: the timer fired after {:?}", started.elapsed());
        });
        lock_cycle(&rt);
        return;
    }
    let (passed, stderr) = child(scene);
    assert!(!passed, "block_on returned from a deadlock:\n{stderr}");
    let fired = stderr
        .find("scene: the timer fired")
        .unwrap_or_else(|| panic!("the report came before the timer fired:\n{stderr}"));
    let report = stderr
        .find("nbio: deadlock")
        .unwrap_or_else(|| panic!("no report once the timer had fired:\n{stderr}"));
    assert!(fired < report, "the report came first:\n{stderr}");
    check_report(&stderr);
}

#[test]
fn no_report_while_another_thread_holds_a_second_clone_of_a_waker() {
    let scene = "no_report_while_another_thread_holds_a_second_clone_of_a_waker";
    if in_child(scene) {
        let rt = Runtime::new().unwrap();
        // The locker's waker is also held by a plain thread, which wakes it after 300 ms: the
        // cycle might be broken from outside (here the wake changes nothing, and the report
        // comes once the thread dropped its clone).
        let mutex = Arc::new(Mutex::new(()));
        let waiter_slot: Arc<StdMutex<Option<JoinHandle<()>>>> = Arc::default();
        let locker = nbio::task::Builder::new().name("locker").spawn_on(&rt, {
            let (mutex, waiter_slot) = (Arc::clone(&mutex), Arc::clone(&waiter_slot));
            async move {
                let _guard = mutex.lock().await;
                let waker =
                    std::future::poll_fn(|cx| std::task::Poll::Ready(cx.waker().clone())).await;
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(300));
                    eprintln!("scene: the thread lets go of its waker");
                    waker.wake();
                });
                nbio::time::sleep(Duration::from_millis(20)).await;
                let waiter = waiter_slot.lock().unwrap().take().unwrap();
                waiter.await.unwrap();
            }
        });
        let waiter = nbio::task::Builder::new()
            .name("waiter")
            .spawn_on(&rt, async move {
                nbio::time::sleep(Duration::from_millis(5)).await;
                drop(mutex.lock().await);
            });
        *waiter_slot.lock().unwrap() = Some(waiter);
        rt.block_on(locker).unwrap();
        return;
    }
    let (passed, stderr) = child(scene);
    assert!(!passed, "block_on returned from a deadlock:\n{stderr}");
    let let_go = stderr
        .find("scene: the thread lets go of its waker")
        .unwrap_or_else(|| panic!("the report came while the thread held a waker:\n{stderr}"));
    let report = stderr
        .find("nbio: deadlock")
        .unwrap_or_else(|| panic!("no report once the thread let go:\n{stderr}"));
    assert!(let_go < report, "the report came first:\n{stderr}");
}
