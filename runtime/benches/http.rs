//! W8: the same hyper hello-world server on nbio, tokio (current_thread and multi_thread with
//! two workers) and smol, driven by a standard load generator, `wrk`, in one run.
//!
//! ```text
//! bash scripts/bench-http.sh        # installs wrk if it is missing, then runs this
//! cargo bench -p nbio --features hyper --bench http
//! ```
//!
//! Method: every (runtime, run) cell is a fresh server process (this binary, started again
//! with `NBIO_HTTP_SERVE=<runtime>`), the runs interleaved across runtimes so that a burst of
//! load elsewhere on the machine spreads over all of them. Each run is
//! `wrk -t2 -c50 -d<seconds>s --latency`: requests per second, and the p50 and p99 latency
//! from wrk's own distribution. CPU per request is the server process's user + system time
//! (`getrusage`, every thread), asked before and after the run, over the requests wrk
//! completed. The table shows the median of the runs, with the spread (min–max) beside it,
//! and the ratios to tokio current_thread.
//!
//! Knobs (environment): `NBIO_HTTP_RUNS` (runs per runtime, default 5), `NBIO_HTTP_SECONDS`
//! (seconds per run, default 3), `NBIO_HTTP_RUNTIMES` (a comma-separated list of names from
//! `servers.rs`, e.g. `nbio,tokio current_thread`; the default is every column marked
//! `by_default`), `NBIO_HTTP_SYSCALLS=strace` or `=perf` (instead: one run per runtime with
//! the server under `strace -f -c`, or under `perf stat` counting the syscall tracepoints,
//! which costs the server far less and so keeps its batching closer to a plain run; both
//! print syscalls per request).

#[path = "compare/measure.rs"]
#[allow(dead_code)]
mod measure;
#[path = "http/report.rs"]
mod report;
#[path = "http/servers.rs"]
mod servers;
#[path = "http/wrk.rs"]
mod wrk;

use std::env;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use report::{Run, Table};
use servers::{Server, SERVERS};

/// The load: wrk's threads and connections, as the issue's probes used.
const WRK_THREADS: u32 = 2;
const WRK_CONNECTIONS: u32 = 50;

fn main() {
    if let Ok(name) = env::var("NBIO_HTTP_SERVE") {
        return serve(&name);
    }
    let runs: usize = knob("NBIO_HTTP_RUNS", 5);
    let seconds: u64 = knob("NBIO_HTTP_SECONDS", 3);
    let servers = chosen_servers();
    let version = wrk::version().unwrap_or_else(|err| {
        eprintln!("http bench: {err}; run scripts/bench-http.sh, which installs it");
        std::process::exit(2);
    });
    match env::var("NBIO_HTTP_SYSCALLS").as_deref() {
        Ok("strace") => return syscall_counts(&servers, seconds, Counter::Strace),
        Ok("perf") => return syscall_counts(&servers, seconds, Counter::Perf),
        Ok(other) => {
            eprintln!("http bench: NBIO_HTTP_SYSCALLS is strace or perf, not {other:?}");
            std::process::exit(2);
        }
        Err(_) => {}
    }
    println!(
        "W8: hyper hello world, {version}, -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{seconds}s, \
         {runs} interleaved runs per runtime, each in a fresh server process"
    );
    let mut table = Table::new(servers.iter().map(|s| s.name).collect());
    for run in 0..runs {
        for (column, server) in servers.iter().enumerate() {
            let result = measure_once(server, seconds);
            eprintln!(
                "  run {}/{runs} {:<34} {:>9.0} req/s  p50 {:>7.1} µs  p99 {:>8.1} µs  {:>5.1} µs CPU/req",
                run + 1,
                server.name,
                result.requests_per_sec,
                result.p50_us,
                result.p99_us,
                result.cpu_us_per_request
            );
            table.add(column, result);
        }
    }
    println!();
    print!("{}", table.markdown());
}

fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The servers `NBIO_HTTP_RUNTIMES` names, in the order of `SERVERS`; the default ones
/// without it.
fn chosen_servers() -> Vec<&'static Server> {
    match env::var("NBIO_HTTP_RUNTIMES") {
        Ok(list) => {
            let names: Vec<&str> = list.split(',').map(str::trim).collect();
            for name in &names {
                if !SERVERS.iter().any(|s| s.name == *name) {
                    let known: Vec<&str> = SERVERS.iter().map(|s| s.name).collect();
                    eprintln!("http bench: no runtime {name:?}; known: {known:?}");
                    std::process::exit(2);
                }
            }
            SERVERS.iter().filter(|s| names.contains(&s.name)).collect()
        }
        Err(_) => SERVERS.iter().filter(|s| s.by_default).collect(),
    }
}

/// The child's side: bind, say where, answer `cpu` with this process's CPU time in µs, and
/// exit when standard input closes; serve meanwhile.
fn serve(name: &str) {
    let server = SERVERS
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no runtime {name:?}"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    println!("listening {}", listener.local_addr().unwrap());
    std::io::stdout().flush().unwrap();
    std::thread::spawn(|| {
        for line in std::io::stdin().lock().lines() {
            match line.as_deref() {
                Ok("cpu") => {
                    println!("cpu {}", measure::process_cpu_time().as_micros());
                    std::io::stdout().flush().unwrap();
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        std::process::exit(0);
    });
    (server.serve)(listener);
}

/// A server process and the pipes to talk to it.
struct ServerProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: String,
}

impl ServerProcess {
    /// Starts `server` in a fresh process, under `wrapper` (`strace …`) if given.
    fn start(server: &Server, wrapper: &[&str]) -> ServerProcess {
        let exe = env::current_exe().expect("the benchmark's own path");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(&exe);
                command
            }
            None => Command::new(&exe),
        };
        let mut child = command
            .env("NBIO_HTTP_SERVE", server.name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a server process");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the server says where it listens");
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        ServerProcess {
            child,
            stdin,
            stdout,
            addr,
        }
    }

    /// The server's CPU time so far.
    fn cpu(&mut self) -> Duration {
        writeln!(self.stdin, "cpu").expect("ask the server for its CPU time");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("its answer");
        let micros: u64 = line
            .trim()
            .strip_prefix("cpu ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected answer {line:?}"));
        Duration::from_micros(micros)
    }

    /// Closes its standard input (it exits) and waits for it.
    fn stop(self) {
        let ServerProcess {
            mut child, stdin, ..
        } = self;
        drop(stdin);
        child.wait().expect("the server exits");
    }
}

/// One run of one runtime: a fresh server, wrk against it, its CPU time around the run.
fn measure_once(server: &Server, seconds: u64) -> Run {
    let mut process = ServerProcess::start(server, &[]);
    let url = format!("http://{}/", process.addr);
    let before = process.cpu();
    let output = wrk::run(&url, WRK_THREADS, WRK_CONNECTIONS, seconds);
    let cpu = process.cpu() - before;
    process.stop();
    let result = output.unwrap_or_else(|err| panic!("wrk against {}: {err}", server.name));
    Run {
        requests_per_sec: result.requests_per_sec,
        p50_us: result.p50_us,
        p99_us: result.p99_us,
        cpu_us_per_request: cpu.as_secs_f64() * 1e6 / result.requests as f64,
    }
}

/// What counts the server's syscalls.
#[derive(Clone, Copy)]
enum Counter {
    /// `strace -f -c`: every syscall, and how many failed; slows the server several times.
    Strace,
    /// `perf stat` on the syscall tracepoints: the calls that matter here, and the reads that
    /// failed with `EAGAIN`; costs the server little.
    Perf,
}

/// One run per runtime with the server's syscalls counted: syscalls per request.
fn syscall_counts(servers: &[&Server], seconds: u64, counter: Counter) {
    let how = match counter {
        Counter::Strace => "strace -f -c",
        Counter::Perf => "perf stat, syscall tracepoints",
    };
    println!("W8 syscalls per request ({how} on the server; wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{seconds}s); in parentheses, the calls that failed");
    let mut rows = Vec::new();
    for server in servers {
        let out = env::temp_dir().join(format!("nbio-w8-syscalls-{}.txt", std::process::id()));
        let out_arg = out.to_string_lossy().to_string();
        let events = report::perf_events();
        let wrapper: Vec<&str> = match counter {
            Counter::Strace => vec!["strace", "-f", "-c", "-o", &out_arg],
            Counter::Perf => {
                let mut args = vec!["perf", "stat", "-x", ",", "-o", &out_arg];
                for (event, filter) in &events {
                    args.extend(["-e", event]);
                    if let Some(filter) = filter {
                        args.extend(["--filter", filter]);
                    }
                }
                args.push("--");
                args
            }
        };
        let process = ServerProcess::start(server, &wrapper);
        let url = format!("http://{}/", process.addr);
        let result = wrk::run(&url, WRK_THREADS, WRK_CONNECTIONS, seconds)
            .unwrap_or_else(|err| panic!("wrk against {}: {err}", server.name));
        process.stop();
        let text = std::fs::read_to_string(&out).expect("the counter's output");
        let _ = std::fs::remove_file(&out);
        let calls = match counter {
            Counter::Strace => report::strace_calls(&text),
            Counter::Perf => report::perf_calls(&text),
        };
        rows.push((server.name, result.requests, calls));
    }
    print!("{}", report::syscall_table(&rows));
}
