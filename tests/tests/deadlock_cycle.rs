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

/// Task ids are numbered per runtime. Here a task waits on a mutex held by another runtime's
/// task with its own id, then another awaits the handle of another runtime's task with its
/// own id: in ids alone, each waits on itself. Neither is a cycle (a thread has the other
/// runtime release each after 300 ms), and `block_on` must not report one.
#[test]
fn no_report_for_waits_on_another_runtimes_tasks_with_the_same_ids() {
    let scene = "no_report_for_waits_on_another_runtimes_tasks_with_the_same_ids";
    if in_child(scene) {
        let theirs = Runtime::builder().worker_threads(1).build().unwrap();
        let ours = Runtime::new().unwrap();
        let mutex = Arc::new(Mutex::new(()));
        let (locked_tx, locked_rx) = nbio::sync::oneshot::channel::<()>();
        let (unlock_tx, unlock_rx) = nbio::sync::oneshot::channel::<()>();
        let (finish_tx, finish_rx) = nbio::sync::oneshot::channel::<u8>();
        let their_holder = theirs.spawn({
            let mutex = Arc::clone(&mutex);
            async move {
                let _guard = mutex.lock().await;
                locked_tx.send(()).unwrap();
                unlock_rx.await.unwrap();
            }
        });
        let their_worker = theirs.spawn(async move { finish_rx.await.unwrap() });
        ours.block_on(locked_rx).unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            eprintln!("scene: the other runtime unlocks");
            unlock_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            eprintln!("scene: the other runtime's task finishes");
            finish_tx.send(7).unwrap();
        });
        let waiter = ours.spawn(async move { drop(mutex.lock().await) });
        assert_eq!(
            waiter.id(),
            their_holder.id(),
            "the scene needs colliding ids"
        );
        ours.block_on(waiter).unwrap();
        let joiner = ours.spawn(async move { their_worker.await.unwrap() });
        assert_eq!(joiner.id().as_u64(), 2, "the scene needs colliding ids");
        assert_eq!(ours.block_on(joiner).unwrap(), 7);
        theirs.block_on(their_holder).unwrap();
        eprintln!("scene: done");
        return;
    }
    let (passed, stderr) = child(scene);
    assert!(passed, "the scene failed:\n{stderr}");
    assert!(!stderr.contains("nbio: deadlock"), "{stderr}");
    assert!(stderr.contains("scene: done"), "{stderr}");
}

/// Polls the future it wraps with a waker of its own, which holds the task's waker (as
/// `FuturesUnordered` does for each future it runs), and hands a clone of that waker to a
/// thread that wakes it after 300 ms: then the wrapper finishes, whatever the inner future
/// does. The inner future's wait names a task on a cycle, but the task's one waker is held by
/// the wrapper, which the thread can still wake.
struct WokenFromAThread<F> {
    inner: std::pin::Pin<Box<F>>,
    forward: Option<Arc<Forward>>,
}

struct Forward {
    task: StdMutex<Option<std::task::Waker>>,
    woken: std::sync::atomic::AtomicBool,
}

impl std::task::Wake for Forward {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(task) = self.task.lock().unwrap().take() {
            task.wake();
        }
    }
}

impl<F: std::future::Future> std::future::Future for WokenFromAThread<F> {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        let forward = self.forward.get_or_insert_with(|| {
            let forward = Arc::new(Forward {
                task: StdMutex::new(None),
                woken: Default::default(),
            });
            let from_thread = std::task::Waker::from(Arc::clone(&forward));
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                eprintln!("scene: the thread wakes the wrapper");
                from_thread.wake();
            });
            forward
        });
        if forward.woken.load(std::sync::atomic::Ordering::SeqCst) {
            return std::task::Poll::Ready(());
        }
        *forward.task.lock().unwrap() = Some(cx.waker().clone());
        let waker = std::task::Waker::from(Arc::clone(forward));
        let _ = self
            .inner
            .as_mut()
            .poll(&mut std::task::Context::from_waker(&waker));
        std::task::Poll::Pending
    }
}

/// A task that awaits a task on a cycle through a wrapper with wakers of its own (see
/// `WokenFromAThread`) is not stuck: the check follows a wait only if it registered the
/// task's own waker. `block_on` awaits that task, and returns once the thread has woken it.
#[test]
fn no_report_while_a_combinator_holds_the_waker_a_thread_can_still_wake() {
    let scene = "no_report_while_a_combinator_holds_the_waker_a_thread_can_still_wake";
    if in_child(scene) {
        let rt = Runtime::new().unwrap();
        let mutex = Arc::new(Mutex::new(()));
        let waiter_slot: Arc<StdMutex<Option<JoinHandle<()>>>> = Arc::default();
        let (locker_tx, locker_rx) = std::sync::mpsc::channel::<JoinHandle<()>>();
        let locker = nbio::task::Builder::new().name("locker").spawn_on(&rt, {
            let (mutex, waiter_slot) = (Arc::clone(&mutex), Arc::clone(&waiter_slot));
            async move {
                let _guard = mutex.lock().await;
                nbio::time::sleep(Duration::from_millis(20)).await;
                let waiter = waiter_slot.lock().unwrap().take().unwrap();
                waiter.await.unwrap();
            }
        });
        locker_tx.send(locker).unwrap();
        let waiter = nbio::task::Builder::new()
            .name("waiter")
            .spawn_on(&rt, async move {
                nbio::time::sleep(Duration::from_millis(5)).await;
                drop(mutex.lock().await);
            });
        *waiter_slot.lock().unwrap() = Some(waiter);
        let watcher = nbio::task::Builder::new()
            .name("watcher")
            .spawn_on(&rt, async move {
                let locker = locker_rx.recv().unwrap();
                WokenFromAThread {
                    inner: Box::pin(locker),
                    forward: None,
                }
                .await
            });
        rt.block_on(watcher).unwrap();
        eprintln!("scene: done");
        return;
    }
    let (passed, stderr) = child(scene);
    assert!(passed, "the scene failed:\n{stderr}");
    assert!(!stderr.contains("nbio: deadlock"), "{stderr}");
    let woken = stderr.find("scene: the thread wakes the wrapper");
    assert!(
        woken.is_some() && stderr.contains("scene: done"),
        "{stderr}"
    );
}
