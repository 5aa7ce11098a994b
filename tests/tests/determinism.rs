//! Runs that repeat: a seed fixes the order of polls, `NBIO_SEED` sets it from outside, a
//! failure under a seed says how to replay it, and `check_determinism` tells a body that repeats
//! from one that looks outside the runtime.

use std::cell::RefCell;
use std::process::Command;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use nbio::Runtime;

const CHILD: &str = "NBIO_DETERMINISM_CHILD";

fn playing(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|t| t == test)
}

fn run_child(test: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .env_remove("NBIO_SEED");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// The order in which 50 tasks that yield 5 times each took their steps.
fn order_of_polls(runtime: &Runtime) -> Vec<(usize, usize)> {
    runtime.block_on(async {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..50)
            .map(|task| {
                let seen = Rc::clone(&seen);
                nbio::spawn_local(async move {
                    for step in 0..5 {
                        seen.borrow_mut().push((task, step));
                        nbio::yield_now().await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        seen.take()
    })
}

fn seeded(seed: u64) -> Vec<(usize, usize)> {
    order_of_polls(&Runtime::builder().seed(seed).build().unwrap())
}

#[test]
fn the_same_seed_gives_the_same_order_of_polls() {
    let first = seeded(1234);
    assert_eq!(first.len(), 250);
    assert_eq!(seeded(1234), first);
}

#[test]
fn different_seeds_give_different_orders_and_no_seed_gives_first_woken_first_polled() {
    let orders: Vec<_> = [1u64, 2, 3].into_iter().map(seeded).collect();
    assert_ne!(orders[0], orders[1]);
    assert_ne!(orders[1], orders[2]);
    let fifo = order_of_polls(&Runtime::new().unwrap());
    let expected: Vec<_> = (0..5)
        .flat_map(|step| (0..50).map(move |t| (t, step)))
        .collect();
    assert_eq!(
        fifo, expected,
        "without a seed, tasks take turns in the order they woke"
    );
}

#[test]
fn nbio_seed_in_the_environment_seeds_a_runtime_built_without_one() {
    if playing("nbio_seed_in_the_environment_seeds_a_runtime_built_without_one") {
        println!("order {:?}", order_of_polls(&Runtime::new().unwrap()));
        return;
    }
    let order = |seed: &str| {
        let output = run_child(
            "nbio_seed_in_the_environment_seeds_a_runtime_built_without_one",
            &[("NBIO_SEED", seed)],
        );
        assert!(output.status.success());
        let stdout = String::from_utf8(output.stdout).unwrap();
        // The harness prints "test <name> ... " before the test's own output, on the same line.
        let at = stdout.find("order ").expect("the child printed its order");
        stdout[at..].lines().next().unwrap().to_string()
    };
    assert_eq!(order("99"), order("99"));
    assert_ne!(order("99"), order("100"));
    assert_eq!(
        order("7"),
        format!("order {:?}", seeded(7)),
        "the env and the builder agree"
    );
}

#[test]
fn a_seed_that_is_not_a_number_is_an_invalid_input_error() {
    if playing("a_seed_that_is_not_a_number_is_an_invalid_input_error") {
        let err = Runtime::new().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("NBIO_SEED=\"soon\""), "{err}");
        return;
    }
    let output = run_child(
        "a_seed_that_is_not_a_number_is_an_invalid_input_error",
        &[("NBIO_SEED", "soon")],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_panic_escaping_block_on_under_a_seed_says_how_to_replay_it() {
    if playing("a_panic_escaping_block_on_under_a_seed_says_how_to_replay_it") {
        let runtime = Runtime::builder().seed(4242).build().unwrap();
        runtime.block_on(async {
            nbio::spawn(async { panic!("the task fails") })
                .await
                .unwrap();
        });
        return;
    }
    let output = run_child(
        "a_panic_escaping_block_on_under_a_seed_says_how_to_replay_it",
        &[],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("NBIO_SEED=4242 replays this run"),
        "{stderr}"
    );
}

#[test]
fn a_panic_escaping_block_on_on_worker_threads_under_a_seed_says_which_seed() {
    if playing("a_panic_escaping_block_on_on_worker_threads_under_a_seed_says_which_seed") {
        let runtime = Runtime::builder()
            .worker_threads(2)
            .seed(4343)
            .build()
            .unwrap();
        runtime.block_on(async {
            nbio::spawn(async { panic!("the task fails") })
                .await
                .unwrap();
        });
        return;
    }
    let output = run_child(
        "a_panic_escaping_block_on_on_worker_threads_under_a_seed_says_which_seed",
        &[],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("NBIO_SEED=4343 replays this run"),
        "{stderr}"
    );
}

#[test]
fn a_deadlock_report_under_a_seed_says_how_to_replay_it() {
    if playing("a_deadlock_report_under_a_seed_says_how_to_replay_it") {
        nbio::block_on(std::future::pending::<()>());
        return;
    }
    let output = run_child(
        "a_deadlock_report_under_a_seed_says_how_to_replay_it",
        &[("NBIO_SEED", "17")],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("nbio: deadlock"), "{stderr}");
    assert!(stderr.contains("NBIO_SEED=17 replays this run"), "{stderr}");
}

#[test]
fn check_determinism_passes_a_body_that_only_depends_on_the_seed() {
    let outputs = nbio::sim::check_determinism(11, || async {
        let total = Rc::new(RefCell::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let total = Rc::clone(&total);
                nbio::spawn_local(async move {
                    nbio::time::sleep(std::time::Duration::from_millis(i % 7)).await;
                    *total.borrow_mut() += i;
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let total = *total.borrow();
        total
    })
    .unwrap();
    assert_eq!(outputs, (190, 190));
}

#[test]
fn check_determinism_catches_a_body_that_reads_the_wall_clock() {
    let start = Instant::now();
    let divergence = nbio::sim::check_determinism(5, move || async move {
        // A decision made on real time: the first run starts at once, the second 20 ms later.
        let steps = start.elapsed().as_millis() / 20;
        std::thread::sleep(Duration::from_millis(20)); // real time passes, as in any real run
        for _ in 0..=steps {
            nbio::spawn(async {}).await.unwrap();
        }
    })
    .unwrap_err();
    assert_eq!(divergence.seed, 5);
    assert_ne!(divergence.first, divergence.second);
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

#[test]
fn check_determinism_catches_a_body_that_reads_a_global_counter_and_says_where() {
    let divergence = nbio::sim::check_determinism(8, || async {
        let n = COUNTER.fetch_add(1, Relaxed);
        let tasks: Vec<_> = (0..2 + n).map(|_| nbio::spawn(async {})).collect();
        for task in tasks {
            task.await.unwrap();
        }
    })
    .unwrap_err();
    let message = divergence.to_string();
    assert!(message.contains("NBIO_SEED=8"), "{message}");
    assert!(message.contains("diverged at decision"), "{message}");
}
