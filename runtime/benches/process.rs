//! `nbio::process` and `nbio::io::copy` side by side with tokio's and async-process, in one
//! run, as ratios (issue 20's performance goals).
//!
//! ```text
//! cargo bench -p nbio --bench process
//! ```
//!
//! Workloads, each cell in a fresh process (the binary re-executes itself as
//! `process --cell <workload> <implementation>`), runs interleaved, the median of
//! `NBIO_BENCH_RUNS` (default 3) shown:
//! - `spawn_wait`: 16 tasks each spawn `true` and wait for it, 125 times: 2,000 children. Also
//!   the most threads the process had during the run, beyond those it had before (a thread
//!   per child would show here).
//! - `copy_cat`: 1 GiB written into `cat`'s stdin by one task while another copies its stdout
//!   into a sink with the runtime's `copy`; MiB/s.
//!
//! The nbio and tokio cells run on each one's current-thread runtime; async-process runs on
//! an `async_executor::LocalExecutor`. This prints figures and asserts only that each workload
//! did its job.

use std::env;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const TASKS: usize = 16;
const EACH: usize = 125;
const GIB: usize = 1 << 30;
const CHUNK: usize = 64 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|arg| arg == "--cell") {
        let (Some(workload), Some(implementation)) = (args.get(at + 1), args.get(at + 2)) else {
            eprintln!("usage: process --cell <workload> <implementation>");
            return ExitCode::FAILURE;
        };
        let line = match workload.as_str() {
            "spawn_wait" => {
                let (elapsed, threads) = with_thread_count(|| spawn_wait(implementation));
                format!("ms={:.1} threads={threads}", elapsed.as_secs_f64() * 1e3)
            }
            "copy_cat" => {
                let elapsed = copy_cat(implementation);
                format!(
                    "mib_per_s={:.0}",
                    GIB as f64 / (1 << 20) as f64 / elapsed.as_secs_f64()
                )
            }
            other => panic!("unknown workload {other}"),
        };
        println!("{line}");
        return ExitCode::SUCCESS;
    }
    if !args.iter().any(|arg| arg == "--bench") {
        eprintln!(
            "process: a benchmark, not a test; run it with `cargo bench -p nbio --bench process`"
        );
        return ExitCode::SUCCESS;
    }
    conduct();
    ExitCode::SUCCESS
}

/// Runs every cell `NBIO_BENCH_RUNS` times, interleaved, and prints medians and ratios.
fn conduct() {
    let runs: usize = env::var("NBIO_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let cells = [
        ("spawn_wait", "nbio"),
        ("spawn_wait", "tokio"),
        ("spawn_wait", "async-process"),
        ("copy_cat", "nbio"),
        ("copy_cat", "tokio"),
    ];
    let exe = env::current_exe().expect("the bench's own path");
    let mut figures: Vec<Vec<(f64, f64)>> = vec![Vec::new(); cells.len()];
    for run in 1..=runs {
        for (i, (workload, implementation)) in cells.iter().enumerate() {
            let out = Command::new(&exe)
                .args(["--cell", workload, implementation])
                .output()
                .expect("run a cell");
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(
                out.status.success(),
                "{workload} {implementation}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!("[run {run}] {workload} {implementation}: {text}");
            let value = |key: &str| {
                text.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(key))
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(f64::NAN)
            };
            figures[i].push(match *workload {
                "spawn_wait" => (value("ms="), value("threads=")),
                _ => (value("mib_per_s="), 0.0),
            });
        }
    }
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let mut first: Vec<f64> = Vec::new();
    let mut second: Vec<f64> = Vec::new();
    for runs in &figures {
        first.push(median(&mut runs.iter().map(|f| f.0).collect()));
        second.push(median(&mut runs.iter().map(|f| f.1).collect()));
    }
    println!(
        "\n## nbio::process and io::copy vs tokio and async-process, median of {runs} processes\n"
    );
    println!(
        "| workload | nbio | tokio | async-process | nbio ÷ tokio | nbio ÷ async-process | goal |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    println!(
        "| spawn + wait of `true`, 2,000 children from 16 tasks (ms; extra threads) | {:.1}; {:.0} | {:.1}; {:.0} | {:.1}; {:.0} | {:.2}× | {:.2}× | ≤ 0.9× both, no thread per child |",
        first[0], second[0], first[1], second[1], first[2], second[2],
        first[0] / first[1], first[0] / first[2]
    );
    println!(
        "| copy of 1 GiB through `cat` (MiB/s) | {:.0} | {:.0} | — | {:.2}× | — | ≥ 1.0× tokio's throughput |",
        first[3], first[4], first[3] / first[4]
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("\nload average after: {}", load.trim());
}

/// Runs `f`, sampling how many threads this process has; returns its time and the most threads
/// seen beyond those there before.
fn with_thread_count(f: impl FnOnce() -> Duration) -> (Duration, usize) {
    let threads = || std::fs::read_dir("/proc/self/task").map_or(0, |dir| dir.count());
    let stop = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (stop, most) = (Arc::clone(&stop), Arc::clone(&most));
        thread::spawn(move || {
            while !stop.load(Relaxed) {
                most.fetch_max(threads(), Relaxed);
                thread::sleep(Duration::from_millis(1));
            }
        })
    };
    thread::sleep(Duration::from_millis(5));
    let before = threads(); // with the sampler
    let elapsed = f();
    stop.store(true, Relaxed);
    sampler.join().unwrap();
    (elapsed, most.load(Relaxed).saturating_sub(before))
}

fn spawn_wait(implementation: &str) -> Duration {
    match implementation {
        "nbio" => nbio::Runtime::builder()
            .slow_poll_threshold(None)
            .build()
            .unwrap()
            .block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        nbio::spawn(async {
                            for _ in 0..EACH {
                                let status =
                                    nbio::process::Command::new("true").status().await.unwrap();
                                assert!(status.success());
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                start.elapsed()
            }),
        "tokio" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        tokio::spawn(async {
                            for _ in 0..EACH {
                                let status =
                                    tokio::process::Command::new("true").status().await.unwrap();
                                assert!(status.success());
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                start.elapsed()
            }),
        "async-process" => {
            let executor = async_executor::LocalExecutor::new();
            futures_lite::future::block_on(executor.run(async {
                let start = Instant::now();
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        executor.spawn(async {
                            for _ in 0..EACH {
                                let status =
                                    async_process::Command::new("true").status().await.unwrap();
                                assert!(status.success());
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await;
                }
                start.elapsed()
            }))
        }
        other => panic!("unknown implementation {other}"),
    }
}

fn copy_cat(implementation: &str) -> Duration {
    let chunk = vec![7u8; CHUNK];
    match implementation {
        "nbio" => nbio::Runtime::builder()
            .slow_poll_threshold(None)
            .build()
            .unwrap()
            .block_on(async move {
                use futures_lite::AsyncWriteExt;
                use nbio::process::{Command, Stdio};
                let start = Instant::now();
                let mut child = Command::new("cat")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut stdin = child.stdin.take().unwrap();
                let writer = nbio::spawn(async move {
                    for _ in 0..GIB / CHUNK {
                        stdin.write_all(&chunk).await.unwrap();
                    }
                });
                let mut stdout = child.stdout.take().unwrap();
                let copied = nbio::io::copy(&mut stdout, &mut futures_lite::io::sink())
                    .await
                    .unwrap();
                writer.await.unwrap();
                assert_eq!(copied as usize, GIB);
                assert!(child.wait().await.unwrap().success());
                start.elapsed()
            }),
        "tokio" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                use tokio::io::AsyncWriteExt;
                use tokio::process::Command;
                let start = Instant::now();
                let mut child = Command::new("cat")
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut stdin = child.stdin.take().unwrap();
                let writer = tokio::spawn(async move {
                    for _ in 0..GIB / CHUNK {
                        stdin.write_all(&chunk).await.unwrap();
                    }
                });
                let mut stdout = child.stdout.take().unwrap();
                let copied = tokio::io::copy(&mut stdout, &mut tokio::io::sink())
                    .await
                    .unwrap();
                writer.await.unwrap();
                assert_eq!(copied as usize, GIB);
                assert!(child.wait().await.unwrap().success());
                start.elapsed()
            }),
        other => panic!("unknown implementation {other}"),
    }
}
