//! The slow-poll warning says what the thread did during the long poll: it blocked in a
//! system call, it computed, or the operating system did not run it (then the task is not to
//! blame). Each scene runs in a child process (this test binary again, told by
//! `NBIO_SLOW_CHILD` which scene to play), whose stderr is read back.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nbio::task::Builder as TaskBuilder;

const CHILD: &str = "NBIO_SLOW_CHILD";

fn run_child(scene: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([scene, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, scene)
        .env_remove("NBIO_TRACE")
        .env_remove("NBIO_EXPLAIN")
        .output()
        .unwrap();
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

fn warnings(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("slow poll")).collect()
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Spins until this thread has used `cpu` of CPU time.
fn compute_for(cpu: Duration) {
    let start = thread_cpu();
    while thread_cpu() - start < cpu {
        std::hint::spin_loop();
    }
}

#[test]
fn a_poll_that_sleeps_is_said_to_block_in_a_system_call() {
    if playing("a_poll_that_sleeps_is_said_to_block_in_a_system_call") {
        nbio::block_on(async {
            TaskBuilder::new()
                .name("sleeper")
                .spawn(async { std::thread::sleep(Duration::from_millis(60)) })
                .await
                .unwrap();
        });
        return;
    }
    let stderr = run_child("a_poll_that_sleeps_is_said_to_block_in_a_system_call");
    let lines = warnings(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("sleeper#"), "{}", lines[0]);
    assert!(
        lines[0].contains("blocked in a system call"),
        "{}",
        lines[0]
    );
}

#[test]
fn a_poll_that_computes_is_said_to_compute() {
    if playing("a_poll_that_computes_is_said_to_compute") {
        nbio::block_on(async {
            TaskBuilder::new()
                .name("cruncher")
                .spawn(async { compute_for(Duration::from_millis(60)) })
                .await
                .unwrap();
        });
        return;
    }
    let stderr = run_child("a_poll_that_computes_is_said_to_compute");
    let lines = warnings(&stderr);
    // On a machine so busy that the thread got little of the CPU, the verdict may be that it
    // was not running; both say the poll was long, and neither blames a sleep.
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("cruncher#"), "{}", lines[0]);
    assert!(
        lines[0].contains("computing") || lines[0].contains("not the task's doing"),
        "{}",
        lines[0]
    );
    assert!(!lines[0].contains("system call"), "{}", lines[0]);
}

/// The first CPU this process may run on.
fn first_allowed_cpu() -> usize {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid and writable, its size is passed.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(rc, 0, "sched_getaffinity");
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `set` is initialised and `cpu` is below CPU_SETSIZE.
        .find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .expect("the process may run on some CPU")
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is initialised and `cpu` is below CPU_SETSIZE.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is valid, its size is passed; 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    assert_eq!(rc, 0, "sched_setaffinity({cpu})");
}

#[test]
fn a_poll_the_operating_system_did_not_run_is_not_blamed_on_the_task() {
    if playing("a_poll_the_operating_system_did_not_run_is_not_blamed_on_the_task") {
        // The runtime's thread and a hog share one CPU, the runtime's at SCHED_IDLE, the lowest
        // priority there is: the poll below computes for 2 ms of CPU time, which takes far
        // longer on the clock, nearly all of it spent waiting for the CPU. The runtime (and its
        // watchdog thread, which starts with the first block_on) come first, so that the
        // watchdog keeps its CPUs and priority.
        let rt = nbio::Runtime::new().unwrap();
        rt.block_on(nbio::yield_now());
        let cpu = first_allowed_cpu();
        pin_to(cpu);
        let stop = Arc::new(AtomicBool::new(false));
        let hog = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                pin_to(cpu);
                // SAFETY: sched_getcpu has no preconditions.
                eprintln!("scene: hog on cpu {}", unsafe { libc::sched_getcpu() });
                let started = Instant::now();
                while !stop.load(Relaxed) && started.elapsed() < Duration::from_secs(20) {
                    std::hint::spin_loop();
                }
            }
        });
        std::thread::sleep(Duration::from_millis(20)); // the hog is on the CPU
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` is valid; 0 is the calling thread; SCHED_IDLE needs no privilege.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        assert_eq!(rc, 0, "sched_setscheduler(SCHED_IDLE)");
        // SAFETY: sched_getcpu has no preconditions.
        eprintln!("scene: runtime on cpu {}", unsafe { libc::sched_getcpu() });
        // Now and then the hypervisor takes the hog off the CPU and the poll runs at once:
        // try again, up to ten times, until one is starved for 40 ms.
        let mut attempt = None;
        for _ in 0..10 {
            let (id, took) = rt.block_on(async {
                let task = TaskBuilder::new().name("starved").spawn(async {
                    let started = Instant::now();
                    compute_for(Duration::from_millis(2));
                    started.elapsed()
                });
                let id = task.id().as_u64();
                (id, task.await.unwrap())
            });
            attempt = Some((id, took));
            if took >= Duration::from_millis(40) {
                break;
            }
        }
        stop.store(true, Relaxed);
        hog.join().unwrap();
        let (id, took) = attempt.unwrap();
        eprintln!("scene: the 2 ms of CPU of starved#{id} took {took:?} on the clock");
        return;
    }
    // The warning needs the watchdog thread to sample the poll while it runs. On a machine
    // loaded past its cores that thread too may wait long for a CPU and miss the whole poll;
    // then there is nothing to judge, and the scene runs again (three times at most).
    let mut tries = 0;
    let (scene, task, stderr, lines) = loop {
        tries += 1;
        let stderr = run_child("a_poll_the_operating_system_did_not_run_is_not_blamed_on_the_task");
        let scene = stderr
            .lines()
            .find(|l| l.starts_with("scene: the"))
            .unwrap_or_else(|| panic!("the scene did not finish:\n{stderr}"))
            .to_string();
        let id = scene
            .split("starved#")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .expect("the scene names its task")
            .to_string();
        let took_ms: f64 = scene
            .split(" took ")
            .nth(1)
            .and_then(|rest| rest.strip_suffix("ms on the clock"))
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(f64::MAX); // seconds, not milliseconds: starved indeed
        assert!(
            took_ms >= 40.0,
            "the scene could not starve the runtime's thread: {scene}"
        );
        let task = format!("starved#{id} ");
        let lines: Vec<String> = warnings(&stderr)
            .into_iter()
            .filter(|l| l.contains(&task))
            .map(str::to_string)
            .collect();
        if !lines.is_empty() || tries == 3 {
            break (scene, task, stderr, lines);
        }
    };
    assert!(
        !lines.is_empty(),
        "no warning for {task}in {tries} tries ({scene}):\n{stderr}"
    );
    for line in lines {
        assert!(
            line.contains("not the task's doing"),
            "the task was blamed for a poll the OS did not run ({scene}): {line}"
        );
    }
}
