//! `#[nbio::main]` and `#[nbio::test]`: every argument works, a failing test says which seed
//! replays it, and a wrong use is a compile error that says what is wrong.

use std::process::Command;
use std::time::{Duration, Instant};

#[nbio::test]
async fn a_plain_test_runs_on_the_current_thread_runtime() {
    let on = nbio::spawn(async { std::thread::current().id() })
        .await
        .unwrap();
    assert_eq!(on, std::thread::current().id());
}

#[nbio::test(worker_threads = 2)]
async fn worker_threads_runs_spawned_tasks_on_workers() {
    let name = nbio::spawn(async { std::thread::current().name().map(String::from) })
        .await
        .unwrap();
    assert!(name.unwrap().starts_with("nbio-worker-"));
    assert_eq!(nbio::stats().workers.len(), 2);
}

#[nbio::test(virtual_time)]
async fn virtual_time_makes_an_hour_instant() {
    let real = Instant::now();
    let start = nbio::time::now();
    nbio::time::sleep(Duration::from_secs(3600)).await;
    assert!(nbio::time::now() - start >= Duration::from_secs(3600));
    assert!(real.elapsed() < Duration::from_secs(5));
}

#[nbio::test(seed = 21, virtual_time)]
async fn arguments_combine() {
    nbio::time::sleep(Duration::from_secs(1)).await;
}

#[nbio::test]
async fn a_test_may_return_a_result() -> std::io::Result<()> {
    let (a, b) = nbio::net::AsyncUnixStream::pair()?;
    a.write_all(b"ok").await?;
    let mut buf = [0u8; 2];
    b.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"ok");
    Ok(())
}

/// Runs this binary's `test` alone and returns its stderr and whether it passed.
fn run_alone(test: &str, seed: Option<&str>) -> (bool, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            test,
            "--exact",
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ])
        .env_remove("NBIO_SEED");
    if let Some(seed) = seed {
        command.env("NBIO_SEED", seed);
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[nbio::test]
#[ignore = "fails on purpose; run by a_failing_test_prints_the_seed_that_replays_it"]
async fn fails_on_purpose() {
    nbio::yield_now().await;
    panic!("this test fails on purpose");
}

#[nbio::test(seed = 99)]
#[ignore = "fails on purpose; run by a_failing_test_prints_the_seed_that_replays_it"]
async fn fails_on_purpose_with_a_result() -> Result<(), String> {
    Err("no".into())
}

#[test]
fn a_failing_test_prints_the_seed_that_replays_it() {
    let (passed, stderr) = run_alone("fails_on_purpose", None);
    assert!(!passed);
    let line = stderr
        .lines()
        .find(|l| l.contains("replays this run"))
        .unwrap_or_else(|| panic!("no seed line in:\n{stderr}"));
    let seed = line
        .split("NBIO_SEED=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_string();
    // The variable the line names makes the run use that seed again.
    let (_, replayed) = run_alone("fails_on_purpose", Some(&seed));
    assert!(
        replayed.contains(&format!("NBIO_SEED={seed} replays this run")),
        "{replayed}"
    );
    let (passed, stderr) = run_alone("fails_on_purpose_with_a_result", None);
    assert!(!passed);
    assert!(stderr.contains("NBIO_SEED=99 replays this run"), "{stderr}");
}

#[test]
fn wrong_uses_are_compile_errors_that_say_what_is_wrong() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
}
