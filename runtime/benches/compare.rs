//! nbio side by side with tokio, smol (async-executor driven by async-io) and plain std
//! threads, in one run, as ratios: first the one-thread runtimes (nbio, tokio current_thread,
//! smol), then the two-worker ones (nbio `worker_threads(2)`, tokio multi_thread with 2
//! workers, smol with one `Executor` run by two threads), each table beside std threads.
//!
//! ```text
//! cargo bench -p nbio --bench compare
//! ```
//!
//! | environment variable    | effect                                                      |
//! |-------------------------|-------------------------------------------------------------|
//! | `NBIO_BENCH_RUNS=5`     | processes per cell; the table shows their median (default 5, quick 3) |
//! | `NBIO_BENCH_QUICK=1`    | about a tenth of every count (W1: 5 rounds), for a fast look |
//! | `NBIO_BENCH_ONLY=W3,W5` | only these workloads (W1 … W7, W9, W9b)                     |
//! | `NBIO_BENCH_RUNTIMES=nbio,nbio_mt` | only these columns (nbio, tokio_ct, smol, nbio_mt, tokio_mt, smol_mt, std) |
//! | `NBIO_BENCH_STATS=1`    | children print nbio's `Stats` to stderr after each body (polls, wakes, steals per worker, …) |
//! | `NBIO_BENCH_TIMEOUT=180` | seconds before a child process is killed and its run counted as failed |
//! | `NBIO_BENCH_OBSERVE=trace` | nbio (both columns) with its journal on (`quiet`: without slow-poll timing), to measure what observing costs |
//!
//! # The cells
//!
//! Which column runs which workload, which table shows it and which ratios each table has are
//! listed in `compare/columns.rs`; how each runtime is set up is in `compare/peers.rs` and
//! `compare/smol.rs`; where they differ by design, in `compare/workloads.rs`.
//!
//! | workload | what | figures | columns |
//! |---|---|---|---|
//! | W1 | the demo: 2 × 7 MiB `write_all` to two blocking servers while a counter yields; 1 warm-up + 20 rounds | ms per round, counter ticks | all, std: two blocking threads |
//! | W2 | echo: 50 clients × 2,000 round trips of 64 B, a task per connection | round trips/s | all, std: a thread per connection |
//! | W3 | spawn 100,000 tasks, await each | ns per task | async |
//! | W4 | two tasks hand a baton back and forth 1,000,000 times (Arc + Mutex; Rc + Cell where `!Send` tasks run: not tokio_mt, smol_mt) | ns per hand-off | async |
//! | W5 | one task yields 1,000,000 times | ns per yield | async |
//! | W6 | 100,000 tasks each sleep 1..=50 ms (seeded); 200 sequential `sleep(1 ms)` | wall, CPU ms; overshoot µs | async |
//! | W7 | 100,000 idle tasks, each polled once | resident bytes per task | async |
//! | W9 | one task spawns 40,000 tasks of 1–200 µs of busy CPU (seeded), awaits all | wall ms, floor (work ÷ 2 cores), wall ÷ floor, cores busy (CPU ÷ wall) | all, std: two threads on a shared counter |
//! | W9b | a seeded tree of 10,000 tasks that spawn their children unevenly, then work; then 10 × a task that spawns 50 children (100 µs each) and blocks its worker in `thread::sleep(20 ms)` | tree: wall, floor, wall ÷ floor, cores busy; blocked: ms until its last child is done, children done while it slept (of 50) | async |
//!
//! W9's goal for nbio_mt: at most 1.02 × tokio_mt's wall time, with at least 1.95 of the 2
//! cores busy. On one-thread columns W9 and W9b show what one core gets (about 2 × the floor);
//! there W9b's blocked task holds the only thread, so none of its children finish while it
//! sleeps. On two workers a runtime that steals finishes all 50 on the other worker during
//! the sleep; one that cannot steal some of them (tokio keeps the last spawned task in a LIFO
//! slot no other worker can take) finishes those only after it.
//!
//! The ratios: the one-thread table shows nbio ÷ the best one-thread peer (tokio_ct, smol) and
//! nbio ÷ std; the two-worker table nbio_mt ÷ the best two-worker peer (tokio_mt, smol_mt),
//! nbio_mt ÷ nbio (the goal of W3, W4 and W5: within 1.25 × nbio's own one-thread figures)
//! and nbio_mt ÷ std (the goal of W1). A ratio is the first figure divided by the second,
//! whichever way the metric is better.
//!
//! # Method
//!
//! The binary is both the conductor and the cells. Run by `cargo bench` (which passes
//! `--bench`), it re-executes itself once per (runtime, workload, run) as
//! `compare --cell <runtime> <workload>`: every cell runs in a fresh process, so no allocator
//! state, thread pool or page cache warmed by one runtime flatters the next. The child builds
//! its runtime outside the timed region, runs the workload's body as a spawned task, and prints
//! one JSON line of figures (see `json::child_line`); the parent collects them, takes the
//! median over processes, and prints the markdown table plus the machine it ran on, then writes
//! everything to `target/nbio-bench/compare.json` (schema in `json`).
//!
//! Runs are interleaved (run 1 of every cell, then run 2 of every cell, …) so that a burst of
//! load from elsewhere on the machine spreads over all runtimes instead of hitting one.
//!
//! This prints figures; it asserts nothing about time. The only assertions check that each
//! workload did its job (the byte counts, the echoed bytes, the sum of the task outputs).
//!
//! Run by `cargo test --benches` (no `--bench` flag) it only says how to run it, so that a
//! test run never spends minutes here.

use std::env;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[path = "compare/batons.rs"]
mod batons;
#[path = "compare/blocking.rs"]
mod blocking;
#[path = "compare/columns.rs"]
mod columns;
#[path = "compare/json.rs"]
mod json;
#[path = "compare/measure.rs"]
mod measure;
#[path = "compare/parallel.rs"]
mod parallel;
#[path = "compare/peers.rs"]
mod peers;
#[path = "compare/report.rs"]
mod report;
#[path = "compare/smol.rs"]
mod smol;
#[path = "compare/svg.rs"]
mod svg;
#[path = "compare/workloads.rs"]
mod workloads;

use columns::{Table, WORKLOADS};
use json::RunInfo;
use report::{Collected, Machine};
use workloads::Sizes;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|arg| arg == "--cell") {
        return match (args.get(at + 1), args.get(at + 2)) {
            (Some(runtime), Some(workload)) => child(runtime, workload),
            _ => {
                eprintln!("usage: compare --cell <runtime> <workload>");
                ExitCode::FAILURE
            }
        };
    }
    if !args.iter().any(|arg| arg == "--bench") {
        eprintln!(
            "compare: a benchmark, not a test; run it with `cargo bench -p nbio --bench compare`"
        );
        return ExitCode::SUCCESS;
    }
    match Config::from_env() {
        Ok(config) => conduct(&config),
        Err(message) => {
            eprintln!("compare: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A child: run one cell and print its figures as one JSON line.
fn child(runtime: &str, workload: &str) -> ExitCode {
    let sizes = Sizes::new(quick_from_env());
    match workloads::run_cell(runtime, workload, &sizes) {
        Ok(figures) => {
            println!("{}", json::child_line(runtime, workload, &figures));
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("compare: {message}");
            ExitCode::FAILURE
        }
    }
}

fn quick_from_env() -> bool {
    env::var("NBIO_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// What the conductor was asked to run.
struct Config {
    runs: usize,
    quick: bool,
    timeout: Duration,
    workloads: Vec<&'static str>,
    runtimes: Vec<&'static str>,
}

impl Config {
    fn from_env() -> Result<Config, String> {
        let quick = quick_from_env();
        let number =
            |name: &str, default: u64| -> Result<u64, String> {
                match env::var(name) {
                    Ok(text) => text.trim().parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                        format!("{name}={text:?}: expected a positive whole number")
                    }),
                    Err(_) => Ok(default),
                }
            };
        Ok(Config {
            runs: number("NBIO_BENCH_RUNS", if quick { 3 } else { 5 })? as usize,
            quick,
            timeout: Duration::from_secs(number("NBIO_BENCH_TIMEOUT", 180)?),
            workloads: selection("NBIO_BENCH_ONLY", &WORKLOADS)?,
            runtimes: selection("NBIO_BENCH_RUNTIMES", &columns::runtime_keys())?,
        })
    }
}

/// The names listed in `variable` (comma-separated, any case), or all of `known`.
fn selection(variable: &str, known: &[&'static str]) -> Result<Vec<&'static str>, String> {
    let Ok(list) = env::var(variable) else {
        return Ok(known.to_vec());
    };
    let mut chosen = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let found = known
            .iter()
            .find(|k| k.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!(
                    "{variable}: unknown name {name:?}; known: {}",
                    known.join(", ")
                )
            })?;
        chosen.push(*found);
    }
    // Table order, whatever order they were listed in.
    Ok(known
        .iter()
        .copied()
        .filter(|k| chosen.contains(k))
        .collect())
}

/// The parent: run every selected cell `runs` times, then report.
fn conduct(config: &Config) -> ExitCode {
    let started = Instant::now();
    let mut machine = Machine::probe();
    let cells: Vec<(&str, &str)> = config
        .workloads
        .iter()
        .flat_map(|&w| config.runtimes.iter().map(move |&r| (w, r)))
        .filter(|&(w, r)| columns::runs_in(r, w))
        .collect();
    eprintln!(
        "compare: {} cells × {} runs{}, load average {}",
        cells.len(),
        config.runs,
        if config.quick { " (quick)" } else { "" },
        machine.loadavg_before
    );
    for variable in ["NBIO_TRACE", "NBIO_EXPLAIN"] {
        if env::var_os(variable).is_some() {
            eprintln!("compare: warning: {variable} is set; nbio's journal will slow its figures");
        }
    }
    let collected = run_cells(&cells, config);
    machine.loadavg_after = report::loadavg();
    let rows = report::rows(&collected, &config.workloads, &config.runtimes);
    print_report(config, &machine, &rows, &collected);
    write_json(config, &machine, &rows, &collected, started);
    println!("wall time: {:.1} s", started.elapsed().as_secs_f64());
    if collected.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs every cell `config.runs` times, interleaved: run 1 of every cell, then run 2, …
fn run_cells(cells: &[(&str, &str)], config: &Config) -> Collected {
    let exe = env::current_exe().expect("the benchmark's own path");
    let mut collected = Collected::default();
    let total = cells.len() * config.runs;
    let mut done = 0;
    for run in 1..=config.runs {
        for &(workload, runtime) in cells {
            done += 1;
            let label = format!("{workload} {runtime} run {run}");
            match run_child(&exe, runtime, workload, config.timeout) {
                Ok((figures, took)) => {
                    let shown: Vec<String> =
                        figures.iter().map(|(k, v)| format!("{k}={v:.1}")).collect();
                    eprintln!(
                        "[{done}/{total}] {label}: {} ({:.1} s)",
                        shown.join(" "),
                        took.as_secs_f64()
                    );
                    collected
                        .runs
                        .entry((workload.to_string(), runtime.to_string()))
                        .or_default()
                        .push(figures);
                }
                Err(message) => {
                    eprintln!("[{done}/{total}] {label}: FAILED: {message}");
                    collected.failures.push(format!("{label}: {message}"));
                }
            }
        }
    }
    collected
}

/// Writes `target/nbio-bench/compare.json` and says where.
fn write_json(
    config: &Config,
    machine: &Machine,
    rows: &[report::Row],
    collected: &Collected,
    started: Instant,
) {
    let sizes = Sizes::new(config.quick).entries();
    let info = RunInfo {
        machine,
        runs: config.runs,
        quick: config.quick,
        timeout_s: config.timeout.as_secs(),
        workloads: &config.workloads,
        runtimes: &config.runtimes,
        sizes: &sizes,
        wall_seconds: started.elapsed().as_secs_f64(),
        failures: &collected.failures,
    };
    let path = output_dir().join("compare.json");
    let written = std::fs::create_dir_all(output_dir())
        .and_then(|()| std::fs::write(&path, json::document(&info, rows)));
    match written {
        Ok(()) => println!("\nJSON: {}", path.display()),
        Err(err) => eprintln!("compare: could not write {}: {err}", path.display()),
    }
    let chart = output_dir().join("compare.svg");
    match std::fs::write(&chart, svg::chart(rows)) {
        Ok(()) => println!("chart: {}", chart.display()),
        Err(err) => eprintln!("compare: could not write {}: {err}", chart.display()),
    }
}

fn print_report(config: &Config, machine: &Machine, rows: &[report::Row], collected: &Collected) {
    let failed = |runtime: &str, workload: &str| {
        columns::runs_in(runtime, workload)
            && config.runtimes.contains(&runtime)
            && !collected
                .runs
                .contains_key(&(workload.to_string(), runtime.to_string()))
    };
    for table in Table::ALL {
        let markdown = report::markdown(rows, table, &config.runtimes, failed);
        if markdown.is_empty() {
            continue;
        }
        println!(
            "\n## {}: median of {} process{} per cell{}\n",
            table.heading(),
            config.runs,
            if config.runs == 1 { "" } else { "es" },
            if config.quick {
                " (QUICK mode: reduced sizes)"
            } else {
                ""
            }
        );
        print!("{markdown}");
    }
    let sizes: Vec<String> = Sizes::new(config.quick)
        .entries()
        .iter()
        .map(|(name, value)| format!("{name} {value}"))
        .collect();
    println!("\nsizes: {}", sizes.join(", "));
    println!(
        "\nmachine: {} CPUs, {}, Linux {}\nload average before: {}\nload average after:  {}",
        machine.nproc, machine.cpu, machine.kernel, machine.loadavg_before, machine.loadavg_after
    );
    let peers: Vec<String> = report::peer_versions()
        .iter()
        .map(|(name, version)| format!("{name} {version}"))
        .collect();
    println!("peers: {}", peers.join(", "));
    if !collected.failures.is_empty() {
        println!("\nfailed runs:");
        for failure in &collected.failures {
            println!("- {failure}");
        }
    }
}

/// Runs one cell in a fresh process; its figures and how long the process took.
fn run_child(
    exe: &PathBuf,
    runtime: &str,
    workload: &str,
    timeout: Duration,
) -> Result<(report::ChildFigures, Duration), String> {
    let start = Instant::now();
    let mut child = Command::new(exe)
        .args(["--cell", runtime, workload])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|err| format!("could not start {}: {err}", exe.display()))?;
    // The child prints one short line, far below a pipe's capacity: waiting before reading
    // cannot deadlock. Polling try_wait keeps the timeout simple and costs the measured child
    // nothing noticeable (one wakeup of this process every 20 ms).
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {} s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(err) => return Err(format!("waiting for the child: {err}")),
        }
    };
    let took = start.elapsed();
    let mut output = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout
            .read_to_string(&mut output)
            .map_err(|err| format!("reading the child's output: {err}"))?;
    }
    if !status.success() {
        return Err(format!("child exited with {status}"));
    }
    let line = output
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with('{'))
        .ok_or_else(|| format!("the child printed no figures (stdout: {output:?})"))?;
    Ok((json::parse_child_line(line)?, took))
}

/// `<target dir>/nbio-bench`: the `target` directory that holds this binary (cargo puts it in
/// `<target>/release/deps/`, and marks the target directory with a CACHEDIR.TAG), else
/// `CARGO_TARGET_DIR`, else `target`.
fn output_dir() -> PathBuf {
    let exe = env::current_exe().ok();
    let beside_exe = exe.as_deref().and_then(|exe| {
        exe.ancestors()
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
            .map(PathBuf::from)
    });
    let target = beside_exe
        .or_else(|| env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("nbio-bench")
}
