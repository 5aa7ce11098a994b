//! The workloads W1–W7, each written once against [`Peer`] and run in a child process (W9 and
//! W9b, CPU work over the workers, are in `parallel.rs`).
//!
//! Every body runs as a spawned task (not as the future handed to `block_on`), on a runtime
//! built before the clock starts. Each returns its figures as `(metric key, value)` pairs; the
//! keys are the ones `report::METRICS` lists. Every runtime gets the same payloads, the same
//! servers and the same counts. Which runtime runs which workload is listed in `columns.rs`.
//!
//! # Reading the figures: where the runtimes differ by design
//!
//! - tokio's `yield_now` does not requeue the task at once: it defers the wake until the
//!   scheduler has polled its I/O driver. That is why its W5 figure includes a driver poll
//!   per yield, and why its W1 counter ticks so rarely on current_thread.
//! - tokio's timers live on a wheel with 1 ms slots, so W6's `sleep(1 ms)` overshoots by
//!   about a slot; nbio and async-io use precise deadlines (a timerfd through `polling`).
//! - On the two-worker runtimes (nbio_mt, tokio_mt, smol_mt) the W1 counter runs on the other
//!   worker in parallel with the senders, so its tick count is not comparable with the
//!   single-threaded runtimes'; the ticks are reported for information only.
//! - W6's CPU time is the whole process's (`getrusage(RUSAGE_SELF)`), every thread included:
//!   on the two-worker runtimes it counts what both workers spend, spinning or parking.
//! - W7's figure is everything resident that the idle tasks cost, run-queue capacity
//!   included, as a user would see it; on the two-worker runtimes, their workers' queues too.
//! - The two-worker columns are set up alike: two threads run tasks, and the thread that calls
//!   `block_on` only waits for the body. nbio_mt is `Builder::worker_threads(2)`, tokio_mt
//!   `new_multi_thread().worker_threads(2)`, and smol_mt one `async_executor::Executor` run by
//!   two threads, each in `async_io::block_on(executor.run(..))` until the runtime is dropped,
//!   the body spawned onto that executor (`smol.rs`). smol's two threads share one reactor
//!   (whichever blocks first polls it), as nbio's workers do; tokio's workers share its I/O
//!   driver the same way.
//! - W4's Rc variant needs `!Send` tasks: nbio_mt runs it on a worker (`spawn_local` from a
//!   task there pins both players to that worker), tokio_ct inside a `LocalSet`; tokio_mt and
//!   smol_mt have no `!Send` tasks on their workers and show "—".
//! - W9 and W9b busy-wait on the wall clock (see `parallel.rs`). Their floor is the sum of the
//!   work over two cores for every column, so a one-thread runtime shows about 2.0 × the floor
//!   and one core busy: what the second core is worth. On one thread W9b's blocked task holds
//!   the only thread, so none of its children can finish while it sleeps.
//! - W9 on std threads is two threads taking the next piece of work from a shared counter:
//!   no task, no queue, the limit for the schedulers. std has no W9b: a fixed pair of threads
//!   has no spawned children to place and no worker to steal from.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::batons::{LocalBaton, SharedBaton};
use crate::blocking;
use crate::measure::{median, ms, ns_per, process_cpu_time, resident_bytes, XorShift};
use crate::parallel;
use crate::peers::{
    NbioCurrentThread, NbioMultiThread, Peer, TokioCurrentThread, TokioMultiThread,
};
use crate::smol::{SmolMultiThread, SmolOneThread};

/// A child's figures: metric key and value.
pub type Figures = Vec<(&'static str, f64)>;

/// How big each workload is. `quick` shrinks the counts about tenfold (W1 keeps the demo's
/// 7 MiB payload and runs fewer rounds).
#[derive(Clone, Debug)]
pub struct Sizes {
    pub demo_rounds: usize,
    pub demo_repeats: usize,
    pub echo_clients: usize,
    pub echo_round_trips: usize,
    pub spawn_tasks: usize,
    pub handoffs: usize,
    pub yields: usize,
    pub timer_tasks: usize,
    pub sequential_sleeps: usize,
    pub idle_tasks: usize,
    pub spread_tasks: usize,
    pub tree_nodes: usize,
    pub blocked_rounds: usize,
}

impl Sizes {
    pub fn new(quick: bool) -> Sizes {
        let full = |normal: usize, small: usize| if quick { small } else { normal };
        Sizes {
            demo_rounds: full(20, 5),
            demo_repeats: 1 << 20,
            echo_clients: full(50, 20),
            echo_round_trips: full(2_000, 500),
            spawn_tasks: full(100_000, 10_000),
            handoffs: full(1_000_000, 100_000),
            yields: full(1_000_000, 100_000),
            timer_tasks: full(100_000, 10_000),
            sequential_sleeps: full(200, 50),
            idle_tasks: full(100_000, 10_000),
            spread_tasks: full(40_000, 4_000),
            tree_nodes: full(10_000, 1_000),
            blocked_rounds: full(10, 3),
        }
    }

    /// `(name, value)` pairs, for the JSON.
    pub fn entries(&self) -> [(&'static str, usize); 16] {
        [
            ("demo_rounds", self.demo_rounds),
            ("demo_repeats_of_foobar", self.demo_repeats),
            ("echo_clients", self.echo_clients),
            ("echo_round_trips_per_client", self.echo_round_trips),
            ("spawn_tasks", self.spawn_tasks),
            ("handoffs", self.handoffs),
            ("yields", self.yields),
            ("timer_tasks", self.timer_tasks),
            ("sequential_sleeps", self.sequential_sleeps),
            ("idle_tasks", self.idle_tasks),
            ("spread_tasks", self.spread_tasks),
            ("tree_nodes", self.tree_nodes),
            ("blocked_rounds", self.blocked_rounds),
            ("blocked_children", parallel::BLOCKED_CHILDREN),
            (
                "blocked_child_work_us",
                parallel::BLOCKED_CHILD_WORK.as_micros() as usize,
            ),
            ("blocked_sleep_ms", parallel::BLOCK_FOR.as_millis() as usize),
        ]
    }
}

/// Runs one (runtime, workload) cell in this process.
pub fn run_cell(runtime: &str, workload: &str, sizes: &Sizes) -> Result<Figures, String> {
    if !crate::columns::runs_in(runtime, workload) {
        return Err(format!(
            "{runtime} does not run {workload} (see columns.rs)"
        ));
    }
    match runtime {
        "nbio" => run_on::<NbioCurrentThread>(workload, sizes),
        "tokio_ct" => run_on::<TokioCurrentThread>(workload, sizes),
        "smol" => run_on::<SmolOneThread>(workload, sizes),
        "nbio_mt" => run_on::<NbioMultiThread>(workload, sizes),
        "tokio_mt" => run_on::<TokioMultiThread>(workload, sizes),
        "smol_mt" => run_on::<SmolMultiThread>(workload, sizes),
        "std" => match workload {
            "W1" => Ok(blocking::demo(
                blocking::start_count_servers(),
                demo_payload(sizes),
                sizes.demo_rounds,
            )),
            "W2" => Ok(blocking::echo(sizes.echo_clients, sizes.echo_round_trips)),
            "W9" => Ok(parallel::spread_on_threads(sizes)),
            _ => Err(format!("std threads do not run {workload}")),
        },
        _ => Err(format!("unknown runtime {runtime:?}")),
    }
}

fn run_on<P: Peer>(workload: &str, sizes: &Sizes) -> Result<Figures, String> {
    Ok(match workload {
        "W1" => demo::<P>(sizes),
        "W2" => echo::<P>(sizes),
        "W3" => vec![("ns_per_task", spawn_join::<P>(sizes.spawn_tasks))],
        "W4" => ping_pong::<P>(sizes.handoffs),
        "W5" => vec![("ns_per_yield", yields::<P>(sizes.yields))],
        "W6" => timers::<P>(sizes),
        "W7" => vec![("bytes_per_task", idle_memory::<P>(sizes.idle_tasks))],
        "W9" => parallel::spread::<P>(sizes),
        "W9b" => parallel::tree_and_block::<P>(sizes),
        _ => return Err(format!("unknown workload {workload:?}")),
    })
}

/// Builds a runtime (untimed), then runs `body` as a spawned task on it.
pub fn in_task<P, F>(body: F) -> F::Output
where
    P: Peer,
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let runtime = P::build();
    let output = runtime.block_on(async { P::spawn(body).await });
    if stats_wanted() {
        runtime.print_stats();
    }
    output
}

/// `NBIO_BENCH_STATS=1`: print nbio's own counters after each body (to stderr).
fn stats_wanted() -> bool {
    std::env::var("NBIO_BENCH_STATS").is_ok_and(|v| !v.is_empty() && v != "0")
}

// ---------------------------------------------------------------------------------------------
// W1 demo

/// b"foobar\n" × `demo_repeats` (7 MiB by default), built once, before any clock starts.
pub fn demo_payload(sizes: &Sizes) -> &'static [u8] {
    b"foobar\n".repeat(sizes.demo_repeats).leak()
}

fn demo<P: Peer>(sizes: &Sizes) -> Figures {
    let addrs = blocking::start_count_servers();
    let payload = demo_payload(sizes);
    let rounds = sizes.demo_rounds;
    let (round_ms, ticks) = in_task::<P, _>(demo_rounds::<P>(addrs, payload, rounds));
    let fewest_ticks = ticks.iter().copied().fold(f64::INFINITY, f64::min);
    vec![
        ("round_ms", median(&round_ms)),
        ("counter_ticks", median(&ticks)),
        // "The counter advances every round": this is above zero.
        ("counter_ticks_min", fewest_ticks),
    ]
}

/// 1 warm-up round, then `rounds` timed ones: milliseconds and counter ticks of each.
async fn demo_rounds<P: Peer>(
    addrs: [SocketAddr; 2],
    payload: &'static [u8],
    rounds: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (mut round_ms, mut round_ticks) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        let start = Instant::now();
        let sends_done = Arc::new(AtomicUsize::new(0));
        let counter = P::spawn(count_until::<P>(Arc::clone(&sends_done), 2));
        let senders =
            addrs.map(|addr| P::spawn(send_and_check::<P>(addr, payload, Arc::clone(&sends_done))));
        for sender in senders {
            sender.await;
        }
        let ticks = counter.await;
        if round > 0 {
            round_ms.push(ms(start.elapsed()));
            round_ticks.push(ticks as f64);
        }
    }
    (round_ms, round_ticks)
}

/// The article's counter: counts and yields until `target` sends have finished.
async fn count_until<P: Peer>(done: Arc<AtomicUsize>, target: usize) -> u64 {
    let mut ticks = 0;
    while done.load(Relaxed) < target {
        ticks += 1;
        P::yield_now().await;
    }
    ticks
}

async fn send_and_check<P: Peer>(addr: SocketAddr, payload: &'static [u8], done: Arc<AtomicUsize>) {
    let mut stream = P::connect(addr).await.expect("W1 connect");
    P::write_all(&mut stream, payload)
        .await
        .expect("W1 write_all");
    done.fetch_add(1, Relaxed);
    P::shutdown_write(&mut stream).await.expect("W1 shutdown");
    let mut reply = [0u8; 8];
    P::read_exact(&mut stream, &mut reply)
        .await
        .expect("W1 read the count");
    blocking::check_count(reply, payload.len());
}

// ---------------------------------------------------------------------------------------------
// W2 echo

/// The 64-byte message of W2.
pub fn echo_message() -> [u8; 64] {
    std::array::from_fn(|i| b'a' + (i % 26) as u8)
}

fn echo<P: Peer>(sizes: &Sizes) -> Figures {
    let (clients, round_trips) = (sizes.echo_clients, sizes.echo_round_trips);
    let rate = in_task::<P, _>(async move {
        let listener = P::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("W2 bind");
        let addr = P::local_addr(&listener).expect("W2 address");
        // Left running when the clients are done; dropped with the runtime.
        P::spawn_detached(echo_server::<P>(listener));
        let start = Instant::now();
        let handles: Vec<_> = (0..clients)
            .map(|_| P::spawn(echo_client::<P>(addr, round_trips)))
            .collect();
        for handle in handles {
            handle.await;
        }
        (clients * round_trips) as f64 / start.elapsed().as_secs_f64()
    });
    vec![("round_trips_per_s", rate)]
}

async fn echo_server<P: Peer>(listener: P::Listener) {
    loop {
        let stream = P::accept(&listener).await.expect("W2 accept");
        P::set_nodelay(&stream).expect("W2 server nodelay");
        P::spawn_detached(echo_connection::<P>(stream));
    }
}

async fn echo_connection<P: Peer>(mut stream: P::Stream) {
    let mut buf = [0u8; 1024];
    loop {
        match P::read(&mut stream, &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if P::write_all(&mut stream, &buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn echo_client<P: Peer>(addr: SocketAddr, round_trips: usize) {
    let mut stream = P::connect(addr).await.expect("W2 connect");
    P::set_nodelay(&stream).expect("W2 client nodelay");
    let message = echo_message();
    let mut reply = [0u8; 64];
    for _ in 0..round_trips {
        P::write_all(&mut stream, &message).await.expect("W2 write");
        P::read_exact(&mut stream, &mut reply)
            .await
            .expect("W2 read");
        assert_eq!(reply, message, "W2: the echo differs from the message");
    }
}

// ---------------------------------------------------------------------------------------------
// W3 spawn, W4 ping-pong, W5 yield

/// Spawns `tasks` tasks that return their index, then awaits every handle in order.
fn spawn_join<P: Peer>(tasks: usize) -> f64 {
    in_task::<P, _>(async move {
        let start = Instant::now();
        let handles: Vec<_> = (0..tasks).map(|i| P::spawn(async move { i })).collect();
        let mut sum = 0;
        for handle in handles {
            sum += handle.await;
        }
        let elapsed = start.elapsed();
        assert_eq!(sum, tasks * (tasks.saturating_sub(1)) / 2, "W3: wrong sum");
        ns_per(elapsed, tasks)
    })
}

fn ping_pong<P: Peer>(handoffs: usize) -> Figures {
    let per_player = handoffs / 2;
    let mut figures = vec![("ns_per_handoff_arc", ping_pong_shared::<P>(per_player))];
    if P::LOCAL_TASKS {
        figures.push(("ns_per_handoff_rc", ping_pong_local::<P>(per_player)));
    }
    figures
}

/// The Arc + Mutex variant: both players are `Send` tasks.
fn ping_pong_shared<P: Peer>(per_player: usize) -> f64 {
    in_task::<P, _>(async move {
        let baton = Arc::new(SharedBaton::new());
        let start = Instant::now();
        let players = [0, 1].map(|me| {
            let baton = Arc::clone(&baton);
            P::spawn(async move {
                for _ in 0..per_player {
                    baton.my_turn(me).await;
                    baton.pass(me);
                }
            })
        });
        for player in players {
            player.await;
        }
        ns_per(start.elapsed(), 2 * per_player)
    })
}

/// The Rc + Cell variant: body and players are `!Send` tasks (`spawn_local`), on the thread
/// where the runtime runs local tasks (`Peer::run_local`).
fn ping_pong_local<P: Peer>(per_player: usize) -> f64 {
    let runtime = P::build();
    let ns = runtime.run_local(move || async move {
        let baton = Rc::new(LocalBaton::new());
        let start = Instant::now();
        let players = [0, 1].map(|me| {
            let baton = Rc::clone(&baton);
            P::spawn_local(async move {
                for _ in 0..per_player {
                    baton.my_turn(me).await;
                    baton.pass(me);
                }
            })
        });
        for player in players {
            player.await;
        }
        ns_per(start.elapsed(), 2 * per_player)
    });
    if stats_wanted() {
        runtime.print_stats();
    }
    ns
}

/// One task yields `count` times with the runtime's own `yield_now`, alone on the runtime.
fn yields<P: Peer>(count: usize) -> f64 {
    in_task::<P, _>(async move {
        let start = Instant::now();
        for _ in 0..count {
            P::yield_now().await;
        }
        ns_per(start.elapsed(), count)
    })
}

// ---------------------------------------------------------------------------------------------
// W6 timers, W7 memory

/// The fixed seed of W6's sleep durations.
const TIMER_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

fn timers<P: Peer>(sizes: &Sizes) -> Figures {
    let mut rng = XorShift::new(TIMER_SEED);
    let durations: Vec<Duration> = (0..sizes.timer_tasks)
        .map(|_| Duration::from_millis(rng.in_range(1, 50)))
        .collect();
    let sleeps = sizes.sequential_sleeps;
    let (wall_ms, cpu_ms, overshoot_us) = in_task::<P, _>(async move {
        let cpu_before = process_cpu_time();
        let start = Instant::now();
        let handles: Vec<_> = durations
            .into_iter()
            .map(|d| P::spawn(P::sleep(d)))
            .collect();
        for handle in handles {
            handle.await;
        }
        let wall_ms = ms(start.elapsed());
        let cpu_ms = ms(process_cpu_time() - cpu_before);
        (wall_ms, cpu_ms, sleep_overshoot::<P>(sleeps).await)
    });
    vec![
        ("timers_wall_ms", wall_ms),
        ("timers_cpu_ms", cpu_ms),
        ("sleep_overshoot_us", overshoot_us),
    ]
}

/// Mean lateness of `count` sequential `sleep(1 ms)`, in microseconds.
async fn sleep_overshoot<P: Peer>(count: usize) -> f64 {
    let period = Duration::from_millis(1);
    let mut late = Duration::ZERO;
    for _ in 0..count {
        let start = Instant::now();
        P::sleep(period).await;
        late += start.elapsed().saturating_sub(period);
    }
    late.as_secs_f64() * 1e6 / count as f64
}

/// How many of W7's idle tasks have been polled. A fresh process runs one cell, so a static
/// is enough.
static IDLE_POLLED: AtomicUsize = AtomicUsize::new(0);

/// Resident bytes per idle task: `tasks` tasks that each count their first poll and then
/// wait forever, measured once every one of them was polled.
fn idle_memory<P: Peer>(tasks: usize) -> f64 {
    in_task::<P, _>(async move {
        P::yield_now().await;
        let before = resident_bytes();
        for _ in 0..tasks {
            P::spawn_detached(async {
                IDLE_POLLED.fetch_add(1, Relaxed);
                std::future::pending::<()>().await;
            });
        }
        while IDLE_POLLED.load(Relaxed) < tasks {
            P::yield_now().await;
        }
        let after = resident_bytes();
        after.saturating_sub(before) as f64 / tasks as f64
    })
}
