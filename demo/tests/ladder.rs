//! Every example of the ladder (runtime/examples/) builds, runs by itself, ends in time and
//! shows what its opening comment promises; and so does every exercise answer of the guide
//! (`exercise_*`), each listed in the guide's index.
//!
//! The examples belong to the `nbio` package, so this test builds them with the `cargo` that
//! runs the tests, then runs each binary directly with a deadline.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// How long one example may run. Each one finishes in well under a second; the margin is for a
/// loaded machine.
const LIMIT: Duration = Duration::from_secs(60);

/// Builds every example of `nbio` once, and maps each example's name to its executable.
fn examples() -> &'static HashMap<String, PathBuf> {
    static EXAMPLES: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    EXAMPLES.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the demo package sits in the workspace");
        let output = Command::new(env!("CARGO"))
            .current_dir(workspace)
            .args(["build", "--quiet", "-p", "nbio", "--examples"])
            .arg("--message-format=json-render-diagnostics")
            .output()
            .expect("cargo can be run from a test");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "building the examples failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
            .lines()
            .filter(|line| line.contains(r#""kind":["example"]"#))
            .filter_map(|line| {
                let name = json_string(line, r#""name":""#)?;
                let exe = json_string(line, r#""executable":""#)?;
                Some((name, PathBuf::from(exe)))
            })
            .collect()
    })
}

/// The string value after `key` in one line of cargo's JSON. Names and paths here hold no
/// quotes or escapes, so no JSON parser is needed.
fn json_string(line: &str, key: &str) -> Option<String> {
    let start = line.find(key)? + key.len();
    let end = start + line[start..].find('"')?;
    Some(line[start..end].to_string())
}

/// Runs the example `name`, checks that it succeeded, and returns what it printed.
fn run_example(name: &str) -> String {
    let exe = examples()
        .get(name)
        .unwrap_or_else(|| panic!("no example named {name} was built"));
    let output = common::run(&mut Command::new(exe), LIMIT);
    assert!(
        output.status.success(),
        "example {name} failed:\n{}",
        output.dump()
    );
    output.stdout
}

#[test]
fn the_ladder_has_six_steps_and_this_test_runs_each() {
    let mut names: Vec<&String> = examples()
        .keys()
        .filter(|name| name.starts_with("step"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "step1_blocking_server",
            "step2_blocking_client",
            "step3_partial_send",
            "step4_retry_with_polling",
            "step5_event_loop",
            "step6_nbio",
        ]
    );
}

#[test]
fn step1_blocking_server_reads_the_second_client_only_after_the_first() {
    let out = run_example("step1_blocking_server");
    let a = out.find("server read: A").expect("A's message is read");
    let b = out.find("server read: B").expect("B's message is read");
    assert!(a < b, "A's message comes first:\n{out}");
}

#[test]
fn step2_blocking_client_sends_everything_in_one_blocking_call() {
    let out = run_example("step2_blocking_client");
    assert!(
        out.contains("send() returned 73400320 of 73400320 bytes"),
        "{out}"
    );
    assert!(
        out.contains("the server received all 73400320 bytes"),
        "{out}"
    );
}

#[test]
fn step3_partial_send_shows_the_assertion_error_and_eagain() {
    let out = run_example("step3_partial_send");
    assert!(out.contains("send() sent only part"), "{out}");
    assert!(out.contains("kind WouldBlock"), "{out}");
}

#[test]
fn step4_retry_with_polling_delivers_every_byte() {
    let out = run_example("step4_retry_with_polling");
    assert!(
        out.contains("Bytes sent: 7340032; the server received 7340032"),
        "{out}"
    );
}

#[test]
fn step5_event_loop_runs_three_tasks_to_the_end() {
    let out = run_example("step5_event_loop");
    assert!(out.contains("[foo] Bytes sent: 4194304"), "{out}");
    assert!(out.contains("[bar] Bytes sent: 4194304"), "{out}");
    assert!(out.contains("[counter] counted to 2000"), "{out}");
    assert!(
        out.contains("both servers received 4194304 bytes each"),
        "{out}"
    );
}

#[test]
fn step6_nbio_runs_the_same_scene_with_async_await() {
    let out = run_example("step6_nbio");
    assert!(out.contains("[counter] counted to 200"), "{out}");
    assert!(
        out.contains("both servers received 4194304 bytes each"),
        "{out}"
    );
}

#[test]
fn the_stealing_example_has_the_other_worker_run_the_blocked_parents_children() {
    let out = run_example("stealing");
    let children: Vec<&str> = out.lines().filter(|l| l.contains("child ")).collect();
    assert_eq!(children.len(), 8, "{out}");
    // The parent blocks worker 1 or worker 2 for 10 ms; the other worker takes its children
    // meanwhile. All eight usually run there, but on a loaded machine the other worker may
    // not get through 8 ms of their work within the 10 ms, and the parent's worker, back,
    // runs the last ones itself: at least half must have run elsewhere. Without stealing,
    // every child would wait for the blocked worker.
    let blocked = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("the parent blocked "))
        .unwrap_or_else(|| panic!("no line says where the parent ran:\n{out}"));
    let elsewhere = children
        .iter()
        .filter(|line| !line.ends_with(blocked))
        .count();
    assert!(
        elsewhere >= 4,
        "only {elsewhere} of 8 children ran while their parent blocked its worker:\n{out}"
    );
    assert!(out.contains("tasks stolen from the other"), "{out}");
}

#[test]
fn every_exercise_answer_is_in_the_guides_index_and_runs_to_its_own_checks() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the demo package sits in the workspace");
    let index = std::fs::read_to_string(workspace.join("docs/README.md")).expect("the index");
    let mut names: Vec<&String> = examples()
        .keys()
        .filter(|name| name.starts_with("exercise_"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 5,
        "the exercise answers were not built: {names:?}"
    );
    for name in names {
        assert!(
            index.contains(&format!("--example {name}`")),
            "docs/README.md's table of exercises does not list {name}"
        );
        // Each answer asserts what it shows; success is the check.
        run_example(name);
    }
}
