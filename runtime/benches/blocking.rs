//! nbio's blocking pool side by side with tokio's (`spawn_blocking`, `tokio::fs`) and smol's
//! (`blocking::unblock`, `async-fs`), in one run, as ratios.
//!
//! ```text
//! cargo bench -p nbio --bench blocking
//! ```
//!
//! | workload | what one cell does | figure |
//! |---|---|---|
//! | B1 round trip | 20,000 times in a row: submit an empty closure, await it | ns per round trip |
//! | B2 fs::read | 16 tasks read a 4 KiB file 625 times each: 10,000 reads | ms for all |
//! | B3 back to zero | a burst of 16 jobs at once, then nothing: how long until no pool thread is left (counted by name in `/proc/self/task`) | ms after the burst, and that minus the keep-alive |
//!
//! Every runtime runs single-threaded (nbio's current-thread runtime, tokio's `current_thread`,
//! smol's `LocalExecutor` on `async_io::block_on`), with its own pool for the blocking work.
//! Keep-alives for B3: nbio and tokio are set to 200 ms; smol's `blocking` has a fixed 500 ms.
//!
//! # Method
//!
//! As `compare`: the binary re-executes itself once per (runtime, workload, run) as
//! `blocking --cell <runtime> <workload>`, so each cell is a fresh process (no pool threads
//! warmed by another runtime); runs are interleaved (run 1 of every cell, then run 2, …); the
//! table shows the median of `NBIO_BENCH_RUNS` (default 5) processes. It prints figures and
//! asserts nothing about time; each cell checks that it did its work (the bytes read).

// The peers' `read` futures are `'static: an `async fn` would borrow the peer.
#![allow(clippy::manual_async_fn)]

use std::env;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::rc::Rc;
use std::time::{Duration, Instant};

#[path = "compare/measure.rs"]
#[allow(dead_code)]
mod measure;

const RUNTIMES: [&str; 3] = ["nbio", "tokio", "smol"];
const WORKLOADS: [&str; 3] = ["B1", "B2", "B3"];
const ROUND_TRIPS: usize = 20_000;
const READERS: usize = 16;
const READS_EACH: usize = 625;
const FILE_SIZE: usize = 4096;
const BURST: usize = 16;
const KEEP_ALIVE: Duration = Duration::from_millis(200);
/// smol's `blocking` keeps an idle thread this long; it cannot be changed.
const SMOL_KEEP_ALIVE: Duration = Duration::from_millis(500);
/// B3 stops waiting for a pool to shrink after this long, and reports that it did not.
const GIVE_UP: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|arg| arg == "--cell") {
        let (runtime, workload) = (&args[at + 1], &args[at + 2]);
        let value = cell(runtime, workload);
        println!("RESULT {value}");
        return ExitCode::SUCCESS;
    }
    if !args.iter().any(|arg| arg == "--bench") {
        eprintln!("blocking: a benchmark; run it with `cargo bench -p nbio --bench blocking`");
        return ExitCode::SUCCESS;
    }
    let runs: usize = env::var("NBIO_BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(5);
    let exe = env::current_exe().expect("own path");
    let mut figures: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); RUNTIMES.len()]; WORKLOADS.len()];
    for run in 0..runs {
        eprintln!("blocking: run {} of {runs}", run + 1);
        for (w, workload) in WORKLOADS.iter().enumerate() {
            for (r, runtime) in RUNTIMES.iter().enumerate() {
                let output = Command::new(&exe)
                    .args(["--cell", runtime, workload])
                    .output()
                    .expect("run a cell");
                let stdout = String::from_utf8_lossy(&output.stdout);
                let value = stdout
                    .lines()
                    .find_map(|line| line.strip_prefix("RESULT "))
                    .and_then(|value| value.trim().parse::<f64>().ok());
                match value {
                    Some(value) if output.status.success() => figures[w][r].push(value),
                    _ => eprintln!(
                        "blocking: cell {runtime} {workload} failed:\n{}",
                        String::from_utf8_lossy(&output.stderr)
                    ),
                }
            }
        }
    }
    print_table(&figures, runs);
    ExitCode::SUCCESS
}

fn print_table(figures: &[Vec<Vec<f64>>], runs: usize) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!();
    println!(
        "medians of {runs} processes per cell; {} CPUs; load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    println!("| workload | unit | nbio | tokio | smol | nbio/tokio | nbio/smol |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let units = [
        "ns per round trip",
        "ms for 10,000 reads",
        "ms after the burst",
    ];
    for (w, workload) in WORKLOADS.iter().enumerate() {
        let m: Vec<f64> = figures[w].iter().map(|v| measure::median(v)).collect();
        println!(
            "| {workload} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
            units[w],
            m[0],
            m[1],
            m[2],
            m[0] / m[1],
            m[0] / m[2]
        );
        if *workload == "B3" {
            let over = [KEEP_ALIVE, KEEP_ALIVE, SMOL_KEEP_ALIVE];
            let beyond: Vec<f64> = (0..3).map(|i| m[i] - measure::ms(over[i])).collect();
            println!(
                "| B3 beyond keep-alive | ms | {:.1} | {:.1} | {:.1} | | |",
                beyond[0], beyond[1], beyond[2]
            );
        }
    }
}

/// One cell: returns its figure.
fn cell(runtime: &str, workload: &str) -> f64 {
    let file = test_file();
    let figure = match (runtime, workload) {
        ("nbio", w) => {
            let mut builder = nbio::Runtime::builder().blocking_keep_alive(KEEP_ALIVE);
            if let Some(max) = env::var("NBIO_BENCH_MAX_BLOCKING")
                .ok()
                .and_then(|v| v.parse().ok())
            {
                builder = builder.max_blocking_threads(max);
            }
            let rt = builder.build().unwrap();
            run_workload(w, &file, |f| rt.block_on(f), Nbio)
        }
        ("tokio", w) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .thread_keep_alive(KEEP_ALIVE)
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            run_workload(w, &file, |f| local.block_on(&rt, f), Tokio)
        }
        ("smol", w) => {
            let executor = Rc::new(async_executor::LocalExecutor::new());
            let spawner = Smol(Rc::clone(&executor));
            run_workload(w, &file, |f| async_io::block_on(executor.run(f)), spawner)
        }
        other => panic!("unknown cell {other:?}"),
    };
    let _ = std::fs::remove_file(&file);
    figure
}

/// A 4 KiB file of its own for this process.
fn test_file() -> PathBuf {
    let path = env::temp_dir().join(format!("nbio-bench-blocking-{}", std::process::id()));
    std::fs::write(&path, vec![7u8; FILE_SIZE]).unwrap();
    path
}

/// What each runtime offers the workloads.
trait Peer: Clone + 'static {
    /// How the pool's threads are named, as far as the kernel keeps the name.
    const POOL_THREAD: &'static str;

    fn unblock<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = T>;
    fn read(&self, path: PathBuf) -> impl Future<Output = Vec<u8>> + 'static;
    fn spawn_local<T: 'static>(
        &self,
        f: impl Future<Output = T> + 'static,
    ) -> impl Future<Output = T>;
}

#[derive(Clone)]
struct Nbio;

impl Peer for Nbio {
    const POOL_THREAD: &'static str = "nbio-blocking-";

    fn unblock<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = T> {
        let job = nbio::spawn_blocking(f);
        async { job.await.unwrap() }
    }

    fn read(&self, path: PathBuf) -> impl Future<Output = Vec<u8>> + 'static {
        async move { nbio::fs::read(path).await.unwrap() }
    }

    fn spawn_local<T: 'static>(
        &self,
        f: impl Future<Output = T> + 'static,
    ) -> impl Future<Output = T> {
        let task = nbio::spawn_local(f);
        async { task.await.unwrap() }
    }
}

#[derive(Clone)]
struct Tokio;

impl Peer for Tokio {
    const POOL_THREAD: &'static str = "tokio-rt-worker";

    fn unblock<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = T> {
        let job = tokio::task::spawn_blocking(f);
        async { job.await.unwrap() }
    }

    fn read(&self, path: PathBuf) -> impl Future<Output = Vec<u8>> + 'static {
        async move { tokio::fs::read(path).await.unwrap() }
    }

    fn spawn_local<T: 'static>(
        &self,
        f: impl Future<Output = T> + 'static,
    ) -> impl Future<Output = T> {
        let task = tokio::task::spawn_local(f);
        async { task.await.unwrap() }
    }
}

#[derive(Clone)]
struct Smol(Rc<async_executor::LocalExecutor<'static>>);

impl Peer for Smol {
    const POOL_THREAD: &'static str = "blocking-";

    fn unblock<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = T> {
        blocking::unblock(f)
    }

    fn read(&self, path: PathBuf) -> impl Future<Output = Vec<u8>> + 'static {
        async move { async_fs::read(path).await.unwrap() }
    }

    fn spawn_local<T: 'static>(
        &self,
        f: impl Future<Output = T> + 'static,
    ) -> impl Future<Output = T> {
        self.0.spawn(f)
    }
}

/// Runs workload `w` with `block_on`, returning its figure.
fn run_workload<P: Peer>(
    w: &str,
    file: &Path,
    block_on: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = f64>>>) -> f64,
    peer: P,
) -> f64 {
    let file = file.to_path_buf();
    match w {
        "B1" => block_on(Box::pin(async move {
            // Warm: the first job starts the pool's thread.
            peer.unblock(|| ()).await;
            let started = Instant::now();
            for _ in 0..ROUND_TRIPS {
                peer.unblock(|| ()).await;
            }
            measure::ns_per(started.elapsed(), ROUND_TRIPS)
        })),
        "B2" => block_on(Box::pin(async move {
            peer.read(file.clone()).await;
            let started = Instant::now();
            let readers: Vec<_> = (0..READERS)
                .map(|_| {
                    let (reader, file) = (peer.clone(), file.clone());
                    let reading = async move {
                        let mut bytes = 0;
                        for _ in 0..READS_EACH {
                            bytes += reader.read(file.clone()).await.len();
                        }
                        bytes
                    };
                    peer.spawn_local(reading)
                })
                .collect();
            let mut total = 0;
            for reader in readers {
                total += reader.await;
            }
            assert_eq!(total, READERS * READS_EACH * FILE_SIZE);
            measure::ms(started.elapsed())
        })),
        "B3" => block_on(Box::pin(async move {
            let prefix = P::POOL_THREAD;
            assert_eq!(
                pool_threads(prefix),
                0,
                "no pool thread before the first job"
            );
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(BURST));
            let jobs: Vec<_> = (0..BURST)
                .map(|_| {
                    let barrier = std::sync::Arc::clone(&barrier);
                    peer.unblock(move || {
                        barrier.wait();
                    })
                })
                .collect();
            for job in jobs {
                job.await;
            }
            let burst_ended = Instant::now();
            let started = pool_threads(prefix);
            assert!(
                started >= BURST,
                "the burst started {started} threads named {prefix}"
            );
            while pool_threads(prefix) > 0 {
                std::thread::sleep(Duration::from_millis(1));
                if burst_ended.elapsed() > GIVE_UP {
                    return f64::INFINITY; // the pool keeps its threads
                }
            }
            measure::ms(burst_ended.elapsed())
        })),
        other => panic!("unknown workload {other}"),
    }
}

/// How many of the process's threads have a name starting with `prefix` (as the kernel keeps
/// it: 15 bytes at most).
fn pool_threads(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    // The main thread bears the binary's name ("blocking-…"): it is not a pool thread.
    let main = std::process::id().to_string();
    tasks
        .filter_map(|task| task.ok())
        .filter(|task| task.file_name().to_str() != Some(main.as_str()))
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}
