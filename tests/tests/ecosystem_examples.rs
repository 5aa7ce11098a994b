//! Every ecosystem example of `runtime/examples/` (hyper server and client, TLS, WebSockets)
//! builds, runs by itself, ends in time and does what its opening comment promises: checked
//! from what it prints (TLS bytes by hash, WebSocket messages by count).
//!
//! The examples belong to the `nbio` package and two of them need its `hyper` feature, so
//! this test builds them with the `cargo` that runs the tests (as demo/tests/ladder.rs does
//! for the ladder), then runs each binary with a deadline.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// How long one example may run. Each one takes well under a few seconds in a debug build;
/// the margin is for a loaded machine.
const LIMIT: Duration = Duration::from_secs(120);

/// The ecosystem examples; `ladder.rs` in the demo package runs the others.
const EXAMPLES: [&str; 4] = ["http_server", "http_client", "tls_echo", "websocket_echo"];

/// Builds the examples of `nbio` with the `hyper` feature once, and maps each example's name
/// to its executable.
fn examples() -> &'static HashMap<String, PathBuf> {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the tests package sits in the workspace");
        let mut build = Command::new(env!("CARGO"));
        build.current_dir(workspace).args([
            "build",
            "--quiet",
            "-p",
            "nbio",
            "--features",
            "hyper",
        ]);
        for name in EXAMPLES {
            build.args(["--example", name]);
        }
        let output = build
            .arg("--message-format=json-render-diagnostics")
            .output()
            .expect("cargo can be run from a test");
        assert!(
            output.status.success(),
            "building the examples failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
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

/// The string value after `key` in one line of cargo's JSON (names and paths here hold no
/// quotes or escapes).
fn json_string(line: &str, key: &str) -> Option<String> {
    let start = line.find(key)? + key.len();
    let end = start + line[start..].find('"')?;
    Some(line[start..end].to_string())
}

/// Runs the example `name` with a deadline, checks that it succeeded, and returns its
/// standard output.
fn run_example(name: &str) -> String {
    let exe = examples()
        .get(name)
        .unwrap_or_else(|| panic!("no example named {name} was built"));
    let mut child = Command::new(exe)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("could not start {name}: {err}"));
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the example") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "example {name} did not end within {LIMIT:?}:\n{}",
                stdout.join().unwrap()
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        status.success(),
        "example {name} failed ({status}):\nstdout:\n{out}\nstderr:\n{err}"
    );
    out
}

/// FNV-1a, 64 bits, as `tls_echo` prints it.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[test]
fn every_ecosystem_example_is_built_and_run_here() {
    for name in EXAMPLES {
        assert!(examples().contains_key(name), "{name} was built");
    }
}

#[test]
fn http_server_serves_400_keep_alive_requests_then_stops_gracefully() {
    let out = run_example("http_server");
    assert!(
        out.contains("4 clients sent 100 requests each on one connection each"),
        "{out}"
    );
    assert!(
        out.contains("every client saw its idle connection closed by the server"),
        "{out}"
    );
    assert!(
        out.contains("stopped gracefully after serving 400 requests on 4 connections"),
        "{out}"
    );
}

#[test]
fn http_client_fetches_three_paths_by_host_name_on_one_connection() {
    let out = run_example("http_client");
    assert!(out.contains("connected to localhost:"), "{out}");
    for path in ["/one", "/two", "/three"] {
        assert!(
            out.contains(&format!("GET {path} -> 200 OK: the std server got {path}")),
            "{out}"
        );
    }
    assert!(
        out.contains("fetched 3 paths on one keep-alive connection"),
        "{out}"
    );
}

#[test]
fn tls_echo_echoes_7_mib_whose_hash_matches_what_was_sent() {
    let out = run_example("tls_echo");
    let payload = b"foobar\n".repeat(1_048_576);
    let hash = format!("{:#018x}", fnv1a64(&payload));
    assert!(
        out.contains(&format!("sent 7340032 bytes, fnv1a64 {hash}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("echoed 7340032 bytes, fnv1a64 {hash}")),
        "the echo's hash is the payload's:\n{out}"
    );
    assert!(out.contains("the echo is byte-exact"), "{out}");
}

#[test]
fn websocket_echo_echoes_34_messages_from_1_byte_to_64_kib() {
    let out = run_example("websocket_echo");
    assert!(out.contains("101 Switching Protocols"), "{out}");
    assert!(
        out.contains("echoed 34 messages from 1 B to 64 KiB exactly; the server echoed 34"),
        "{out}"
    );
}
