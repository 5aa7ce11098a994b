//! The report of a cycle: two tasks that wait on each other (one holds a `Mutex` and awaits the
//! other's `JoinHandle`, the other waits for the `Mutex`) while `block_on` awaits the first.
//! Nothing nbio can see can break it, so the report comes, on both flavours, and says who waits
//! on whom; `block_on` goes on waiting. While a timer could still fire, or another thread holds
//! a waker, it stays quiet; and it stays quiet in the scenes that once made it report a cycle
//! that was not one (ids of another runtime, a combinator's wakers, a wait dropped in the poll
//! that made it, a guard held by a blocking job). Each scene runs in a child process.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use nbio::sync::Mutex;
use nbio::task::JoinHandle;
use nbio::Runtime;
use nbio_tests::{in_child, CHILD};

/// The first words of the report of a cycle (`block_on` goes on waiting after it).
const REPORT: &str = "nbio: deadlock? ";

/// How a scene's child process ended: `exited` is its success, or `None` if it was killed
/// after it printed the report of a cycle; `stderr` is what it wrote.
struct Ran {
    exited: Option<bool>,
    stderr: String,
}

/// Runs this binary's `scene` test alone in a child. The child is killed 300 ms after it
/// printed the report of a cycle (block_on goes on waiting after it, and the dump follows
/// the report). A child still running after a minute without a report hung: the test fails.
fn child(scene: &str) -> Ran {
    child_until(scene, 1)
}

/// As `child`, killing it only after its `reports`-th report.
fn child_until(scene: &str, reports: usize) -> Ran {
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
    let (chunks_tx, chunks) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buffer = [0; 4096];
        while let Ok(n @ 1..) = stderr.read(&mut buffer) {
            let _ = chunks_tx.send(buffer[..n].to_vec());
        }
    });
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
        if reported.is_none() && String::from_utf8_lossy(&text).matches(REPORT).count() >= reports {
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
            panic!("the scene {scene} hung: no end, and fewer than {reports} report(s), within a minute\n{text}");
        }
    };
    reader.join().unwrap();
    text.extend(chunks.try_iter().flatten());
    let stderr = String::from_utf8_lossy(&text).into_owned();
    Ran { exited, stderr }
}

/// The scene printed the report of a cycle, and was still waiting after it.
fn reported(scene: &str) -> String {
    let ran = child(scene);
    assert_eq!(ran.exited, None, "no report:\n{}", ran.stderr);
    ran.stderr
}

/// The scene ran to its end without a report.
fn finished_quietly(scene: &str) {
    let ran = child(scene);
    assert_eq!(ran.exited, Some(true), "the scene failed:\n{}", ran.stderr);
    assert!(!ran.stderr.contains(REPORT), "{}", ran.stderr);
    assert!(!ran.stderr.contains("nbio: deadlock"), "{}", ran.stderr);
    assert!(ran.stderr.contains("scene: done"), "{}", ran.stderr);
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
        .find(|l| l.contains(REPORT))
        .unwrap_or_else(|| panic!("no report of a cycle:\n{stderr}"));
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
    check_report(&reported(scene));
}

#[test]
fn the_cycle_is_reported_on_worker_threads_too() {
    let scene = "the_cycle_is_reported_on_worker_threads_too";
    if in_child(scene) {
        lock_cycle(&Runtime::builder().worker_threads(2).build().unwrap());
        return;
    }
    check_report(&reported(scene));
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
    let stderr = reported(scene);
    let fired = stderr
        .find("scene: the timer fired")
        .unwrap_or_else(|| panic!("the report came before the timer fired:\n{stderr}"));
    let report = stderr.find(REPORT).unwrap();
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
    let stderr = reported(scene);
    let let_go = stderr
        .find("scene: the thread lets go of its waker")
        .unwrap_or_else(|| panic!("the report came while the thread held a waker:\n{stderr}"));
    let report = stderr.find(REPORT).unwrap();
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
    finished_quietly(scene);
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
    finished_quietly(scene);
}

/// Wakes the task that polls it from a plain thread, 300 ms after its first poll.
struct WokenFromAThreadLater {
    fired: Arc<std::sync::atomic::AtomicBool>,
    started: bool,
}

fn woken_from_a_thread_later() -> WokenFromAThreadLater {
    WokenFromAThreadLater {
        fired: Arc::default(),
        started: false,
    }
}

impl std::future::Future for WokenFromAThreadLater {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.fired.load(std::sync::atomic::Ordering::SeqCst) {
            return std::task::Poll::Ready(());
        }
        if !self.started {
            self.started = true;
            let (fired, waker) = (Arc::clone(&self.fired), cx.waker().clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                fired.store(true, std::sync::atomic::Ordering::SeqCst);
                waker.wake();
            });
        }
        std::task::Poll::Pending
    }
}

/// A task that holds a mutex polls a second lock of it once and drops it (`poll_once`), and
/// later lets a `timeout` drop one: each wait named the task itself as the holder, a cycle of
/// one. Last it polls once the handle of a task waiting for the mutex, and drops it. After each
/// it waits on something a thread wakes, which notes no wait. A dropped wait's word must not
/// outlive it.
#[test]
fn no_report_for_a_wait_dropped_in_the_poll_that_made_it() {
    let scene = "no_report_for_a_wait_dropped_in_the_poll_that_made_it";
    if in_child(scene) {
        let rt = Runtime::new().unwrap();
        let mutex: &'static Mutex<()> = Box::leak(Box::new(Mutex::new(())));
        let task = rt.spawn(async move {
            let _guard = mutex.lock().await;
            let again = futures_lite::future::poll_once(mutex.lock()).await;
            assert!(again.is_none(), "the mutex is ours");
            woken_from_a_thread_later().await;
            let late = nbio::time::timeout(Duration::from_millis(10), mutex.lock()).await;
            assert!(late.is_err(), "the mutex is still ours");
            woken_from_a_thread_later().await;
            // And a handle: the waiter waits for our mutex, we poll its handle once.
            let waiter = nbio::spawn(async move { drop(mutex.lock().await) });
            nbio::yield_now().await;
            assert!(futures_lite::future::poll_once(waiter).await.is_none());
            woken_from_a_thread_later().await;
        });
        rt.block_on(task).unwrap();
        eprintln!("scene: done");
        return;
    }
    finished_quietly(scene);
}

type Guard = nbio::sync::MutexGuard<'static, ()>;

/// The task that locked a mutex hands its guard to `hand_off`, to be dropped 300 ms later, and
/// awaits a task that waits for the mutex. In the graph, a cycle: the mutex still names the
/// task that locked it as its holder.
fn locker_hands_off_its_guard(hand_off: fn(Guard)) {
    let rt = Runtime::new().unwrap();
    let mutex: &'static Mutex<()> = Box::leak(Box::new(Mutex::new(())));
    let locker = rt.spawn(async move {
        let guard = mutex.lock().await;
        let waiter = nbio::spawn(async move { drop(mutex.lock().await) });
        nbio::yield_now().await; // the waiter queues for the mutex
        hand_off(guard);
        waiter.await.unwrap();
    });
    rt.block_on(locker).unwrap();
    eprintln!("scene: done");
}

fn drop_later(guard: Guard) {
    std::thread::sleep(Duration::from_millis(300));
    drop(guard);
}

/// The guard goes to a blocking job: while one runs, the check waits.
#[test]
fn no_report_while_a_blocking_job_may_hold_the_guard() {
    let scene = "no_report_while_a_blocking_job_may_hold_the_guard";
    if in_child(scene) {
        locker_hands_off_its_guard(|guard| drop(nbio::spawn_blocking(move || drop_later(guard))));
        return;
    }
    finished_quietly(scene);
}

/// What the graph cannot see: the guard goes to a plain thread. The report comes, but it is
/// only a report: `block_on` goes on waiting, and the scene ends when the thread lets go.
#[test]
fn a_report_that_proves_wrong_does_not_stop_the_program() {
    let scene = "a_report_that_proves_wrong_does_not_stop_the_program";
    if in_child(scene) {
        locker_hands_off_its_guard(|guard| drop(std::thread::spawn(move || drop_later(guard))));
        return;
    }
    let scene_ran = Command::new(std::env::current_exe().unwrap())
        .args([scene, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, scene)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&scene_ran.stderr);
    assert!(scene_ran.status.success(), "{stderr}");
    assert!(stderr.contains("scene: done"), "{stderr}");
}

/// The report is news again after progress: the first cycle is the admitted wrong one (the
/// guard went to a thread), the tasks then get out of it and into a real one, which is
/// reported too.
#[test]
fn a_second_cycle_after_progress_is_reported_again() {
    let scene = "a_second_cycle_after_progress_is_reported_again";
    if in_child(scene) {
        let rt = Runtime::new().unwrap();
        let mutex: &'static Mutex<()> = Box::leak(Box::new(Mutex::new(())));
        let locker = rt.spawn(async move {
            let guard = mutex.lock().await;
            let waiter = nbio::spawn(async move { drop(mutex.lock().await) });
            nbio::yield_now().await;
            std::thread::spawn(move || drop_later(guard));
            waiter.await.unwrap();
            eprintln!("scene: out of the first cycle");
            let _guard = mutex.lock().await;
            let waiter = nbio::spawn(async move { drop(mutex.lock().await) });
            waiter.await.unwrap(); // a real cycle: we hold what it waits for
        });
        rt.block_on(locker).unwrap();
        return;
    }
    let ran = child_until(scene, 2);
    assert_eq!(ran.exited, None, "fewer than two reports:\n{}", ran.stderr);
    let out = ran.stderr.find("scene: out of the first cycle").unwrap();
    let second = ran.stderr.rfind(REPORT).unwrap();
    assert!(out < second, "{}", ran.stderr);
}

/// A blocking job busy while a cycle forms: the check waits for it, and looks again when it is
/// over, although nobody awaits the job.
fn a_cycle_while_a_job_runs(rt: &Runtime) {
    drop(rt.spawn_blocking(|| {
        std::thread::sleep(Duration::from_millis(400));
        eprintln!("scene: the job is over");
    }));
    lock_cycle(rt);
}

/// The report came, and after the job was over.
fn reported_after_the_job(scene: &str) {
    let stderr = reported(scene);
    let over = stderr.find("scene: the job is over");
    let report = stderr.find(REPORT).unwrap();
    assert!(over.is_some_and(|over| over < report), "{stderr}");
    check_report(&stderr);
}

#[test]
fn a_cycle_is_reported_once_a_busy_blocking_job_is_over() {
    let scene = "a_cycle_is_reported_once_a_busy_blocking_job_is_over";
    if in_child(scene) {
        a_cycle_while_a_job_runs(&Runtime::new().unwrap());
        return;
    }
    reported_after_the_job(scene);
}

/// The same on worker threads: the job's end wakes the `block_on` thread.
#[test]
fn a_cycle_is_reported_once_a_busy_blocking_job_is_over_on_worker_threads() {
    let scene = "a_cycle_is_reported_once_a_busy_blocking_job_is_over_on_worker_threads";
    if in_child(scene) {
        a_cycle_while_a_job_runs(&Runtime::builder().worker_threads(2).build().unwrap());
        return;
    }
    reported_after_the_job(scene);
}
