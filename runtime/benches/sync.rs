//! `nbio::sync` side by side with `tokio::sync`, async-channel, async-lock and futures'
//! oneshot, in one run, as ratios.
//!
//! ```text
//! cargo bench -p nbio --bench sync
//! ```
//!
//! | environment variable | effect |
//! |---|---|
//! | `NBIO_BENCH_RUNS=5` | processes per cell; the table shows their median (default 5, quick 3) |
//! | `NBIO_BENCH_QUICK=1` | a tenth of every count, for a fast look |
//! | `NBIO_BENCH_ONLY=mutex,oneshot` | only these workloads |
//!
//! # Method
//!
//! As `compare.rs`: the binary re-executes itself once per cell (workload, implementation,
//! runtime, run) as `sync --cell <workload> <implementation> <runtime>`, so every cell runs in
//! a fresh process; runs are interleaved (run 1 of every cell, then run 2, …) so that load
//! from elsewhere spreads over all cells; the table shows the median over processes.
//!
//! Each primitive runs on its own runtime (nbio's on nbio's current-thread runtime, tokio's on
//! tokio's current_thread) and also on the other one, so that a ratio can be read both ways:
//! "each on its own runtime" is what a user of either gets; "both on one runtime" isolates the
//! primitive from the scheduler under it. async-channel, async-lock and futures-channel need no
//! runtime and run on both. The body always runs as a spawned task, its runtime built before
//! the clock starts.
//!
//! Workloads (counts are per process):
//! - `oneshot`: make a channel, send, await the receiver (the value is there): 1,000,000 times.
//! - `oneshot_wait`: make a channel, poll the receiver once (it waits: a waker is stored),
//!   send (which wakes it), await it: 1,000,000 times.
//! - `mpsc_1p`: a bounded(128) channel, one producer task, the consumer in the body: 1,000,000
//!   messages.
//! - `mpsc_4p`: the same with four producer tasks of 250,000 messages each.
//! - `mutex`: lock and unlock an uncontended mutex: 1,000,000 times.
//! - `broadcast`: a channel of capacity 128, four receiver tasks, the sender in the body sends
//!   1,000,000 values and yields after every 64 (so no receiver falls behind); each receiver
//!   checks the sum of what it got. The peer is async-broadcast.
//! - `watch`: the body sends 1,000,000 values, yielding after each so that the receiver task
//!   sees each change (`changed` then `borrow_and_update`). No runtime-free peer.
//! - `rwlock_read`, `rwlock_write`: an uncontended read (write) lock and unlock, 1,000,000 times.
//!
//! This prints figures and asserts nothing about time; it checks only that each workload did
//! its job (every message arrived, the counter counted).

use std::env;
use std::future::Future;
use std::pin::Pin;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[path = "compare/measure.rs"]
#[allow(dead_code)]
mod measure;

use measure::median;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

const WORKLOADS: [&str; 9] = [
    "oneshot",
    "oneshot_wait",
    "mpsc_1p",
    "mpsc_4p",
    "mutex",
    "broadcast",
    "watch",
    "rwlock_read",
    "rwlock_write",
];
const RUNTIMES: [&str; 2] = ["nbio", "tokio_ct"];
const CAPACITY: usize = 128;

/// The implementations measured for a workload: nbio's, tokio's, and a runtime-free peer
/// where one is in common use (`None`: none is).
fn implementations(workload: &str) -> (&'static str, &'static str, Option<&'static str>) {
    let peer = match workload {
        "oneshot" | "oneshot_wait" => Some("futures"),
        "mpsc_1p" | "mpsc_4p" => Some("async-channel"),
        "broadcast" => Some("async-broadcast"),
        "watch" => None,
        _ => Some("async-lock"),
    };
    ("nbio", "tokio", peer)
}

fn count(quick: bool) -> usize {
    if quick {
        100_000
    } else {
        1_000_000
    }
}

fn quick_from_env() -> bool {
    env::var("NBIO_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|arg| arg == "--cell") {
        let cell = (args.get(at + 1), args.get(at + 2), args.get(at + 3));
        let (Some(workload), Some(implementation), Some(runtime)) = cell else {
            eprintln!("usage: sync --cell <workload> <implementation> <runtime>");
            return ExitCode::FAILURE;
        };
        let elapsed = run_cell(workload, implementation, runtime, count(quick_from_env()));
        println!(
            "ns_per_op={:.2}",
            elapsed.as_nanos() as f64 / count(quick_from_env()) as f64
        );
        return ExitCode::SUCCESS;
    }
    if !args.iter().any(|arg| arg == "--bench") {
        eprintln!("sync: a benchmark, not a test; run it with `cargo bench -p nbio --bench sync`");
        return ExitCode::SUCCESS;
    }
    conduct()
}

// ----- the conductor -----

struct Cell {
    workload: &'static str,
    implementation: &'static str,
    runtime: &'static str,
    runs: Vec<f64>,
}

fn conduct() -> ExitCode {
    let quick = quick_from_env();
    let runs: usize = env::var("NBIO_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(if quick { 3 } else { 5 });
    let only: Option<Vec<String>> = env::var("NBIO_BENCH_ONLY")
        .ok()
        .map(|list| list.split(',').map(|s| s.trim().to_lowercase()).collect());
    let mut cells: Vec<Cell> = Vec::new();
    for workload in WORKLOADS {
        if only
            .as_ref()
            .is_some_and(|only| !only.iter().any(|w| w == workload))
        {
            continue;
        }
        let (nbio, tokio, peer) = implementations(workload);
        for implementation in [Some(nbio), Some(tokio), peer].into_iter().flatten() {
            for runtime in RUNTIMES {
                cells.push(Cell {
                    workload,
                    implementation,
                    runtime,
                    runs: Vec::new(),
                });
            }
        }
    }
    let loadavg = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load_before = loadavg();
    eprintln!(
        "sync: {} cells × {runs} runs; load average {}",
        cells.len(),
        load_before.trim()
    );
    let exe = env::current_exe().expect("the benchmark's own path");
    let mut failed = false;
    for run in 1..=runs {
        for cell in &mut cells {
            let output = Command::new(&exe)
                .args(["--cell", cell.workload, cell.implementation, cell.runtime])
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .expect("start a cell");
            let text = String::from_utf8_lossy(&output.stdout);
            let figure = text
                .lines()
                .find_map(|line| line.strip_prefix("ns_per_op="))
                .and_then(|value| value.trim().parse::<f64>().ok());
            match figure {
                Some(ns) if output.status.success() => {
                    eprintln!(
                        "[run {run}] {} {}@{}: {ns:.1} ns/op",
                        cell.workload, cell.implementation, cell.runtime
                    );
                    cell.runs.push(ns);
                }
                _ => {
                    eprintln!(
                        "[run {run}] {} {}@{}: FAILED ({})",
                        cell.workload, cell.implementation, cell.runtime, output.status
                    );
                    failed = true;
                }
            }
        }
    }
    report(&cells, runs, quick, &load_before, &loadavg());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn report(cells: &[Cell], runs: usize, quick: bool, before: &str, after: &str) {
    let figure = |workload: &str, implementation: &str, runtime: &str| {
        cells
            .iter()
            .find(|c| {
                c.workload == workload && c.implementation == implementation && c.runtime == runtime
            })
            .map(|c| median(&c.runs))
            .filter(|v| !v.is_nan())
    };
    let show = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}×", a / b),
        _ => "—".to_string(),
    };
    println!(
        "\n## nbio::sync vs tokio::sync and peers: ns per operation, median of {runs} processes{}\n",
        if quick { " (QUICK)" } else { "" }
    );
    println!("`x@rt`: implementation x on runtime rt (nbio = nbio's current-thread runtime, tokio_ct = tokio's current_thread).\n");
    println!("| workload | nbio@nbio | tokio@tokio_ct | peer | peer@nbio | peer@tokio_ct | nbio@tokio_ct | tokio@nbio |");
    println!("|---|---|---|---|---|---|---|---|");
    let workloads: Vec<&str> = WORKLOADS
        .into_iter()
        .filter(|w| cells.iter().any(|c| c.workload == *w))
        .collect();
    for &w in &workloads {
        let peer = implementations(w).2.unwrap_or("—");
        println!(
            "| {w} | {} | {} | {peer} | {} | {} | {} | {} |",
            show(figure(w, "nbio", "nbio")),
            show(figure(w, "tokio", "tokio_ct")),
            show(figure(w, peer, "nbio")),
            show(figure(w, peer, "tokio_ct")),
            show(figure(w, "nbio", "tokio_ct")),
            show(figure(w, "tokio", "nbio")),
        );
    }
    println!("\nRatios (below 1: nbio is faster):\n");
    println!("| workload | nbio ÷ tokio, each on its own runtime | nbio ÷ tokio, both on nbio | nbio ÷ tokio, both on tokio_ct | nbio ÷ peer on nbio | nbio ÷ peer on tokio_ct | goal |");
    println!("|---|---|---|---|---|---|---|");
    for &w in &workloads {
        let peer = implementations(w).2.unwrap_or("—");
        let nbio = figure(w, "nbio", "nbio");
        let goal = match w {
            "oneshot" | "oneshot_wait" => "≤ 0.90× tokio",
            "mpsc_1p" | "mpsc_4p" => "≤ 0.50× tokio",
            "broadcast" | "watch" => "≤ 0.90× tokio",
            _ => "≤ 1.00× tokio",
        };
        println!(
            "| {w} | {} | {} | {} | {} | {} | {goal} |",
            ratio(nbio, figure(w, "tokio", "tokio_ct")),
            ratio(nbio, figure(w, "tokio", "nbio")),
            ratio(
                figure(w, "nbio", "tokio_ct"),
                figure(w, "tokio", "tokio_ct")
            ),
            ratio(nbio, figure(w, peer, "nbio")),
            ratio(figure(w, "nbio", "tokio_ct"), figure(w, peer, "tokio_ct")),
        );
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "\nmachine: {} CPUs, {cpu}\nload average before: {}\nload average after:  {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        before.trim(),
        after.trim()
    );
}

// ----- the cells -----

/// Runs one cell: builds the runtime, spawns the body as a task, returns the time it took.
fn run_cell(workload: &str, implementation: &str, runtime: &str, n: usize) -> Duration {
    let on_nbio = runtime == "nbio";
    let body = body(workload, implementation, n, on_nbio);
    match runtime {
        "nbio" => {
            // Without the slow-poll warning: the loops below run for many milliseconds
            // without waiting, by design, and would be reported (the watchdog itself costs a
            // poll two plain stores).
            let rt = nbio::Runtime::builder()
                .slow_poll_threshold(None)
                .build()
                .expect("an nbio runtime");
            rt.block_on(async { nbio::spawn(body).await.expect("the body ran") })
        }
        "tokio_ct" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a tokio runtime");
            rt.block_on(async { tokio::spawn(body).await.expect("the body ran") })
        }
        other => panic!("unknown runtime {other}"),
    }
}

/// Spawns `future` on the runtime running the body; the returned future waits for it.
fn spawn(on_nbio: bool, future: BoxFuture<()>) -> BoxFuture<()> {
    if on_nbio {
        let handle = nbio::spawn(future);
        Box::pin(async move { handle.await.expect("a spawned task") })
    } else {
        let handle = tokio::spawn(future);
        Box::pin(async move { handle.await.expect("a spawned task") })
    }
}

fn body(workload: &str, implementation: &str, n: usize, on_nbio: bool) -> BoxFuture<Duration> {
    match (workload, implementation) {
        ("oneshot", "nbio") => Box::pin(async move {
            let start = Instant::now();
            for i in 0..n {
                let (tx, rx) = nbio::sync::oneshot::channel();
                tx.send(i).unwrap();
                assert_eq!(rx.await.unwrap(), i);
            }
            start.elapsed()
        }),
        ("oneshot", "tokio") => Box::pin(async move {
            let start = Instant::now();
            for i in 0..n {
                let (tx, rx) = tokio::sync::oneshot::channel();
                tx.send(i).unwrap();
                assert_eq!(rx.await.unwrap(), i);
            }
            start.elapsed()
        }),
        ("oneshot", "futures") => Box::pin(async move {
            let start = Instant::now();
            for i in 0..n {
                let (tx, rx) = futures_channel::oneshot::channel();
                tx.send(i).unwrap();
                assert_eq!(rx.await.unwrap(), i);
            }
            start.elapsed()
        }),
        ("oneshot_wait", "nbio") => Box::pin(async move {
            let start = Instant::now();
            for i in 0..n {
                let (tx, mut rx) = nbio::sync::oneshot::channel();
                assert!(futures_lite::future::poll_once(&mut rx).await.is_none());
                tx.send(i).unwrap();
                assert_eq!(rx.await.unwrap(), i);
            }
            start.elapsed()
        }),
        ("oneshot_wait", "tokio") => Box::pin(async move {
            let start = Instant::now();
            for i in 0..n {
                let (tx, mut rx) = tokio::sync::oneshot::channel();
                assert!(futures_lite::future::poll_once(&mut rx).await.is_none());
                tx.send(i).unwrap();
                assert_eq!(rx.await.unwrap(), i);
            }
            start.elapsed()
        }),
        ("oneshot_wait", "futures") => Box::pin(async move {
            let start = Instant::now();
            for i in 0..n {
                let (tx, mut rx) = futures_channel::oneshot::channel();
                assert!(futures_lite::future::poll_once(&mut rx).await.is_none());
                tx.send(i).unwrap();
                assert_eq!(rx.await.unwrap(), i);
            }
            start.elapsed()
        }),
        ("mpsc_1p" | "mpsc_4p", _) => {
            let producers = if workload == "mpsc_1p" { 1 } else { 4 };
            mpsc_body(implementation, n, producers, on_nbio)
        }
        ("mutex", "nbio") => Box::pin(async move {
            let mutex = nbio::sync::Mutex::new(0usize);
            let start = Instant::now();
            for _ in 0..n {
                *mutex.lock().await += 1;
            }
            let elapsed = start.elapsed();
            assert_eq!(mutex.into_inner(), n);
            elapsed
        }),
        ("mutex", "tokio") => Box::pin(async move {
            let mutex = tokio::sync::Mutex::new(0usize);
            let start = Instant::now();
            for _ in 0..n {
                *mutex.lock().await += 1;
            }
            let elapsed = start.elapsed();
            assert_eq!(mutex.into_inner(), n);
            elapsed
        }),
        ("mutex", "async-lock") => Box::pin(async move {
            let mutex = async_lock::Mutex::new(0usize);
            let start = Instant::now();
            for _ in 0..n {
                *mutex.lock().await += 1;
            }
            let elapsed = start.elapsed();
            assert_eq!(mutex.into_inner(), n);
            elapsed
        }),
        ("broadcast", _) => broadcast_body(implementation, n, on_nbio),
        ("watch", _) => watch_body(implementation, n, on_nbio),
        ("rwlock_read" | "rwlock_write", _) => {
            rwlock_body(implementation, n, workload == "rwlock_write")
        }
        (w, i) => panic!("unknown cell {w} {i}"),
    }
}

/// `producers` tasks send `n` messages in all through a bounded channel of `CAPACITY`; the
/// body receives them and checks their sum.
fn mpsc_body(
    implementation: &str,
    n: usize,
    producers: usize,
    on_nbio: bool,
) -> BoxFuture<Duration> {
    let each = n / producers;
    let expected: u64 = (0..each as u64).sum::<u64>() * producers as u64;
    macro_rules! run {
        ($make:expr, |$rx:ident| $recv:expr) => {
            Box::pin(async move {
                let start = Instant::now();
                let (tx, mut rx) = $make;
                let mut joins = Vec::new();
                for _ in 0..producers {
                    let tx = tx.clone();
                    joins.push(spawn(
                        on_nbio,
                        Box::pin(async move {
                            for i in 0..each as u64 {
                                tx.send(i).await.unwrap();
                            }
                        }),
                    ));
                }
                drop(tx);
                let mut sum = 0u64;
                while let Some(value) = {
                    let $rx = &mut rx;
                    $recv
                } {
                    sum += value;
                }
                for join in joins {
                    join.await;
                }
                let elapsed = start.elapsed();
                assert_eq!(sum, expected, "every message arrived once");
                elapsed
            })
        };
    }
    match implementation {
        "nbio" => run!(nbio::sync::mpsc::channel::<u64>(CAPACITY), |rx| rx
            .recv()
            .await),
        "tokio" => run!(tokio::sync::mpsc::channel::<u64>(CAPACITY), |rx| rx
            .recv()
            .await),
        "async-channel" => run!(async_channel::bounded::<u64>(CAPACITY), |rx| rx
            .recv()
            .await
            .ok()),
        other => panic!("unknown mpsc implementation {other}"),
    }
}

/// How many receivers the broadcast workload has, and how often its sender yields.
const BROADCAST_RECEIVERS: usize = 4;
const BROADCAST_BATCH: usize = 64;

/// One sender (the body) and `BROADCAST_RECEIVERS` receiver tasks; the sender yields after
/// every `BROADCAST_BATCH` values, so that no receiver falls a ring behind.
fn broadcast_body(implementation: &str, n: usize, on_nbio: bool) -> BoxFuture<Duration> {
    let expected: u64 = (0..n as u64).sum();
    macro_rules! run {
        ($tx:ident, $make_rx:expr, |$rx:ident| $recv:expr, $send:expr) => {
            Box::pin(async move {
                let start = Instant::now();
                let mut joins = Vec::new();
                for _ in 0..BROADCAST_RECEIVERS {
                    let mut $rx = $make_rx;
                    joins.push(spawn(
                        on_nbio,
                        Box::pin(async move {
                            let mut sum = 0u64;
                            while let Some(value) = $recv {
                                sum += value;
                            }
                            assert_eq!(sum, expected, "every value reached every receiver");
                        }),
                    ));
                }
                for i in 0..n as u64 {
                    $send(i);
                    if (i as usize + 1) % BROADCAST_BATCH == 0 {
                        futures_lite::future::yield_now().await;
                    }
                }
                drop($tx);
                for join in joins {
                    join.await;
                }
                start.elapsed()
            })
        };
    }
    match implementation {
        "nbio" => {
            let (tx, _) = nbio::sync::broadcast::channel::<u64>(CAPACITY);
            run!(
                tx,
                tx.subscribe(),
                |rx| match rx.recv().await {
                    Ok(value) => Some(value),
                    Err(nbio::sync::broadcast::RecvError::Closed) => None,
                    Err(lagged) => panic!("a receiver fell behind: {lagged:?}"),
                },
                |i| {
                    tx.send(i).unwrap();
                }
            )
        }
        "tokio" => {
            let (tx, _) = tokio::sync::broadcast::channel::<u64>(CAPACITY);
            run!(
                tx,
                tx.subscribe(),
                |rx| match rx.recv().await {
                    Ok(value) => Some(value),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
                    Err(lagged) => panic!("a receiver fell behind: {lagged:?}"),
                },
                |i| {
                    tx.send(i).unwrap();
                }
            )
        }
        "async-broadcast" => {
            let (mut tx, rx) = async_broadcast::broadcast::<u64>(CAPACITY);
            tx.set_overflow(true);
            let rx = rx.deactivate();
            run!(
                tx,
                rx.activate_cloned(),
                |rx| match rx.recv().await {
                    Ok(value) => Some(value),
                    Err(async_broadcast::RecvError::Closed) => None,
                    Err(lagged) => panic!("a receiver fell behind: {lagged:?}"),
                },
                |i| {
                    tx.try_broadcast(i).unwrap();
                }
            )
        }
        other => panic!("unknown broadcast implementation {other}"),
    }
}

/// The body sends `n` values, yielding after each; a receiver task sees each change.
fn watch_body(implementation: &str, n: usize, on_nbio: bool) -> BoxFuture<Duration> {
    let last = n as u64 - 1;
    macro_rules! run {
        ($make:expr) => {
            Box::pin(async move {
                let start = Instant::now();
                let (tx, mut rx) = $make;
                let receiver = spawn(
                    on_nbio,
                    Box::pin(async move {
                        let mut seen = 0u64;
                        while rx.changed().await.is_ok() {
                            let value = *rx.borrow_and_update();
                            assert!(value >= seen, "values never go back");
                            seen = value;
                            if seen == last {
                                break;
                            }
                        }
                        assert_eq!(seen, last, "the last value was seen");
                    }),
                );
                for i in 1..=last {
                    tx.send(i).unwrap();
                    futures_lite::future::yield_now().await;
                }
                receiver.await;
                start.elapsed()
            })
        };
    }
    match implementation {
        "nbio" => run!(nbio::sync::watch::channel(0u64)),
        "tokio" => run!(tokio::sync::watch::channel(0u64)),
        other => panic!("unknown watch implementation {other}"),
    }
}

/// An uncontended read (or write) lock and unlock, `n` times.
fn rwlock_body(implementation: &str, n: usize, write: bool) -> BoxFuture<Duration> {
    macro_rules! run {
        ($lock:expr) => {
            Box::pin(async move {
                let lock = $lock;
                let start = Instant::now();
                let mut sum = 0usize;
                for _ in 0..n {
                    if write {
                        *lock.write().await += 1;
                    } else {
                        sum += *lock.read().await + 1;
                    }
                }
                let elapsed = start.elapsed();
                assert_eq!(lock.into_inner() + sum, n, "every lock was taken");
                elapsed
            })
        };
    }
    match implementation {
        "nbio" => run!(nbio::sync::RwLock::new(0usize)),
        "tokio" => run!(tokio::sync::RwLock::new(0usize)),
        "async-lock" => run!(async_lock::RwLock::new(0usize)),
        other => panic!("unknown rwlock implementation {other}"),
    }
}
