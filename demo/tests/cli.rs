//! The `demo` binary, end to end: the scene's summary and exit code, the two-process setup,
//! and one readable line for each kind of bad input.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::Output;

/// How long one run of the demo may take; the scene itself takes milliseconds.
const LIMIT: Duration = Duration::from_secs(120);

fn demo(args: &[&str]) -> Output {
    common::run(Command::new(env!("CARGO_BIN_EXE_demo")).args(args), LIMIT)
}

/// The rows of the summary's table: (address, sent, confirmed, waits).
fn table_rows(stdout: &str) -> Vec<(String, String, String, String)> {
    stdout
        .lines()
        .map(str::split_whitespace)
        .filter_map(|mut cols| {
            let addr = cols.next()?;
            addr.starts_with("127.0.0.1:").then_some(())?;
            Some((
                addr.to_string(),
                cols.next()?.to_string(),
                cols.next()?.to_string(),
                cols.next()?.to_string(),
            ))
        })
        .collect()
}

/// The counter line: "counted from A to B while the sends were in flight".
fn counter_span(stdout: &str) -> (u64, u64) {
    let line = stdout
        .lines()
        .find(|line| line.contains("counted from"))
        .expect("the summary has a counter line");
    let words: Vec<&str> = line.split_whitespace().collect();
    let number = |word: &str| word.replace(',', "").parse::<u64>().expect("a count");
    let from = words.iter().position(|w| *w == "from").expect("from");
    (number(words[from + 1]), number(words[from + 3]))
}

/// A port on which nothing listens: bound by the system, then released.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local_addr").port()
}

/// Stderr without nbio's slow-poll warnings. On a loaded machine (a debug build, tests in
/// parallel on two cores) any poll can be preempted past the 10 ms threshold, so whether such
/// a line appears is a matter of timing, not of the demo's behavior.
fn stderr_lines(output: &Output) -> Vec<&str> {
    output
        .stderr
        .lines()
        .filter(|line| !line.starts_with("nbio: slow poll:"))
        .collect()
}

fn assert_one_line_failure(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "expected a failure:\n{}",
        output.dump()
    );
    let lines = stderr_lines(output);
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr:\n{}",
        output.dump()
    );
    assert!(lines[0].starts_with("demo: "), "{}", output.dump());
    assert!(!output.stderr.contains("panicked"), "{}", output.dump());
    assert!(!output.stderr.contains("backtrace"), "{}", output.dump());
    lines[0].to_string()
}

#[test]
fn scene_confirms_every_byte_at_both_servers_while_the_counter_advances() {
    let output = demo(&[]);
    assert!(output.status.success(), "{}", output.dump());
    assert!(stderr_lines(&output).is_empty(), "{}", output.dump());
    let rows = table_rows(&output.stdout);
    assert_eq!(rows.len(), 2, "one row per server:\n{}", output.stdout);
    for (addr, sent, confirmed, _waits) in &rows {
        assert_eq!(sent, "7,340,032", "{addr} sent:\n{}", output.stdout);
        assert_eq!(
            confirmed, "7,340,032",
            "{addr} confirmed:\n{}",
            output.stdout
        );
    }
    let (from, to) = counter_span(&output.stdout);
    assert!(
        to > from,
        "the counter advanced during the sends:\n{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("every byte arrived: 7,340,032 bytes confirmed by each server"),
        "{}",
        output.stdout
    );
    assert!(
        !output.stdout.contains('\x1b'),
        "no terminal codes when stdout is a pipe"
    );
}

#[test]
fn threads_2_runs_the_sends_on_two_workers_and_every_byte_arrives() {
    let output = demo(&["--threads", "2"]);
    assert!(output.status.success(), "{}", output.dump());
    let rows = table_rows(&output.stdout);
    assert_eq!(
        rows.len(),
        2,
        "one row per server:
{}",
        output.stdout
    );
    for (addr, _sent, confirmed, _waits) in &rows {
        assert_eq!(confirmed, "7,340,032", "{addr}:\n{}", output.stdout);
    }
    assert!(
        output
            .stdout
            .contains("2 workers ran the sends and the servers"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("every byte arrived"),
        "{}",
        output.stdout
    );
}

#[test]
fn threads_0_is_a_one_line_usage_error() {
    let line = assert_one_line_failure(&demo(&["--threads", "0"]));
    assert!(line.contains("--threads"), "{line}");
}

#[test]
fn counter_replay_goes_on_to_its_limit_after_the_sends() {
    let output = demo(&["--repeat", "1000", "--count", "5", "--tick-ms", "2"]);
    assert!(output.status.success(), "{}", output.dump());
    assert!(
        output.stdout.contains("every 2 ms on nbio's timer"),
        "{}",
        output.stdout
    );
    let final_count = if output.stdout.contains("then on to 5") {
        5
    } else {
        counter_span(&output.stdout).1 // the sends outlasted the counter
    };
    assert_eq!(final_count, 5, "{}", output.stdout);
}

#[test]
fn blocking_counter_still_delivers_every_byte_and_the_runtime_names_the_counter() {
    let output = demo(&["--blocking-counter", "--repeat", "100000"]);
    assert!(output.status.success(), "{}", output.dump());
    assert!(
        output
            .stdout
            .contains("every 20 ms with std::thread::sleep"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("every byte arrived"),
        "{}",
        output.stdout
    );
    // Each count holds the thread for 20 ms, past nbio's 10 ms slow-poll threshold.
    assert!(
        output
            .stderr
            .lines()
            .any(|line| line.starts_with("nbio: slow poll: task counter")),
        "{}",
        output.dump()
    );
}

#[test]
fn client_to_a_closed_port_names_the_address_and_the_refusal() {
    let port = closed_port();
    let output = demo(&["client", "--port", &port.to_string()]);
    let line = assert_one_line_failure(&output);
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    assert!(line.contains("refused"), "{line}");
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn invalid_port_is_a_one_line_usage_error() {
    let output = demo(&["client", "--port", "70000"]);
    let line = assert_one_line_failure(&output);
    assert!(line.contains("70000"), "{line}");
    assert!(line.contains("--port"), "{line}");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn invalid_address_is_a_one_line_usage_error() {
    let output = demo(&["client", "--host", "not-an-ip", "--port", "1234"]);
    let line = assert_one_line_failure(&output);
    assert!(line.contains("not-an-ip"), "{line}");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn missing_port_is_a_one_line_usage_error() {
    let output = demo(&["client"]);
    let line = assert_one_line_failure(&output);
    assert!(line.contains("--port"), "{line}");
}

#[test]
fn server_gone_mid_send_is_one_line_naming_the_server() {
    // A server that reads a few bytes and hangs up with the rest unread.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("local_addr").port();
    let rude_server = thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 16];
        let _ = conn.read(&mut buf);
    });
    let output = demo(&["client", "--port", &port.to_string()]);
    rude_server.join().expect("the rude server");
    let line = assert_one_line_failure(&output);
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
}

#[test]
fn server_and_client_subcommands_play_the_two_process_setup() {
    // Two `demo server` processes on ports the system picks, each serving one connection.
    let mut servers = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_demo"))
            .args(["server", "--port", "0", "--connections", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start demo server");
        let mut first_line = String::new();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        stdout
            .read_line(&mut first_line)
            .expect("the server's first line");
        let addr = first_line
            .split_whitespace()
            .find(|word| word.starts_with("127.0.0.1:"))
            .unwrap_or_else(|| panic!("the first line names the address: {first_line:?}"));
        ports.push(
            addr.trim_end_matches(',')
                .rsplit(':')
                .next()
                .unwrap()
                .to_string(),
        );
        servers.push((child, stdout));
    }

    let output = demo(&["client", "--port", &ports[0], "--port", &ports[1]]);
    assert!(output.status.success(), "{}", output.dump());
    assert_eq!(table_rows(&output.stdout).len(), 2, "{}", output.stdout);
    assert!(
        output.stdout.contains("every byte arrived"),
        "{}",
        output.stdout
    );

    for (child, mut stdout) in servers {
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).expect("the server's log");
        let finished = common::wait(child, LIMIT, "demo server");
        assert!(finished.status.success(), "{}\n{rest}", finished.dump());
        assert!(rest.contains("received 7,340,032 bytes"), "{rest}");
    }
}

#[test]
fn server_stops_cleanly_on_ctrl_c_and_says_what_each_connection_sent() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_demo"))
        .args(["server", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start demo server");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut first_line = String::new();
    stdout
        .read_line(&mut first_line)
        .expect("the server's first line");
    assert!(
        first_line.contains("until interrupted (Ctrl-C)"),
        "{first_line}"
    );
    let addr = first_line
        .split_whitespace()
        .find(|word| word.starts_with("127.0.0.1:"))
        .expect("the first line names the address")
        .trim_end_matches(',')
        .to_string();
    // One connection that finishes, one still sending when Ctrl-C comes.
    let mut done = std::net::TcpStream::connect(&addr).expect("connect");
    done.write_all(&[b'x'; 300]).unwrap();
    done.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = String::new();
    done.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "received 300\n");
    let mut open = std::net::TcpStream::connect(&addr).expect("connect");
    open.write_all(&[b'y'; 1000]).unwrap();
    // Until the server's log says it saw the connection (then give its read a moment).
    let mut line = String::new();
    while !line.contains(&open.local_addr().unwrap().to_string()) {
        line.clear();
        stdout.read_line(&mut line).expect("the server's log");
    }
    thread::sleep(Duration::from_millis(300));
    // Ctrl-C in a terminal sends SIGINT to the process.
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a child's pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("send SIGINT");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("the server's log");
    let finished = common::wait(child, LIMIT, "demo server");
    assert!(finished.status.success(), "{}\n{rest}", finished.dump());
    assert!(rest.contains("interrupted (Ctrl-C): stopped"), "{rest}");
    let finished_line = format!(
        "{}: received 300 bytes, finished",
        done.local_addr().unwrap()
    );
    let open_line = format!(
        "{}: received 1,000 bytes, still open",
        open.local_addr().unwrap()
    );
    assert!(rest.contains(&finished_line), "{rest}");
    assert!(rest.contains(&open_line), "{rest}");
    // The connection was closed with the server, not left hanging.
    let mut end = [0u8; 1];
    assert_eq!(open.read(&mut end).unwrap_or(0), 0);
}

#[test]
fn trace_writes_chrome_json_with_polls_of_the_counter_and_both_senders_and_flows() {
    let path = std::env::temp_dir().join(format!("nbio-demo-trace-{}.json", std::process::id()));
    let output = demo(&["--trace", path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", output.dump());
    let text = std::fs::read_to_string(&path).expect("the trace file was written");
    std::fs::remove_file(&path).unwrap();
    let trace: serde_json::Value = serde_json::from_str(&text).expect("the trace is JSON");
    let events = trace["traceEvents"]
        .as_array()
        .expect("a traceEvents array");
    let polled = |prefix: &str| {
        events
            .iter()
            .filter(|e| e["ph"] == "X" && e["cat"] == "poll")
            .filter(|e| e["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
            .count()
    };
    assert!(polled("counter#") > 0, "no poll slice of the counter");
    let senders: std::collections::HashSet<&str> = events
        .iter()
        .filter(|e| e["ph"] == "X")
        .filter_map(|e| e["name"].as_str())
        .filter(|n| n.starts_with("send "))
        .collect();
    assert_eq!(senders.len(), 2, "poll slices of both senders: {senders:?}");
    let flows = |phase: &str| events.iter().filter(|e| e["ph"] == phase).count();
    assert!(flows("s") > 0, "no flow events");
    assert_eq!(flows("s"), flows("f"), "every flow has both ends");
}

#[test]
fn explain_narrates_the_scene_on_stderr() {
    let output = demo(&["--explain", "--repeat", "200000"]);
    assert!(output.status.success(), "{}", output.dump());
    assert!(
        output
            .stderr
            .lines()
            .any(|l| l.contains("WouldBlock") || l.contains("polled for")),
        "no narrative on stderr:\n{}",
        output.dump()
    );
}
