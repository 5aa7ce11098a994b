//! One seed, one run: two simulations under the same seed give the same log, event for event
//! (every connect, send, delivery and fault, with its virtual time), and another seed gives
//! another (other latencies, another order of polls).

use std::io;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::sim::Sim;

/// Echoes every connection on port 7000.
async fn serve() -> io::Result<()> {
    let listener = AsyncTcpListener::bind("0.0.0.0:7000")?;
    loop {
        let (conn, _) = listener.accept().await?;
        nbio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok(n @ 1..) = conn.read(&mut buf).await {
                conn.write_all(&buf[..n]).await?;
            }
            io::Result::Ok(())
        });
    }
}

/// A server, and three clients that each send a few messages and read the answers, with a
/// partition in the middle: enough concurrency for the seed to matter.
fn run(seed: u64) -> Vec<String> {
    let mut sim = Sim::builder()
        .seed(seed)
        .latency(Duration::from_micros(100)..=Duration::from_millis(20))
        .build();
    sim.host("server", serve);
    for name in ["a", "b", "c"] {
        sim.client(name, async move {
            let conn = AsyncTcpStream::connect("server:7000").await?;
            for round in 0..5u8 {
                if name == "b" && round == 2 {
                    nbio::sim::partition("b", "server");
                    nbio::time::sleep(Duration::from_millis(50)).await;
                    nbio::sim::repair("b", "server");
                }
                conn.write_all(&[round; 10]).await?;
                let mut buf = [0u8; 10];
                conn.read_exact(&mut buf).await?;
            }
            io::Result::Ok(())
        });
    }
    sim.run().unwrap_or_else(|err| panic!("{err}")).log()
}

#[test]
fn the_same_seed_gives_the_same_run_event_for_event() {
    let first = run(99);
    let second = run(99);
    assert!(
        first.len() > 50,
        "too few events to compare: {}",
        first.len()
    );
    assert_eq!(first, second);
}

#[test]
fn another_seed_gives_another_run() {
    assert_ne!(run(99), run(100));
}

/// The pattern of `buggify!` over 1,000 calls in a client, under `seed`.
fn buggify_pattern(seed: u64) -> Vec<bool> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = std::sync::Arc::clone(&seen);
    let mut sim = Sim::builder().seed(seed).buggify(0.5).build();
    sim.client("c", async move {
        let pattern = (0..1000).map(|_| nbio::sim::buggify!()).collect();
        *kept.lock().unwrap() = pattern;
    });
    sim.run().unwrap_or_else(|err| panic!("{err}"));
    let pattern = seen.lock().unwrap().clone();
    pattern
}

#[test]
fn buggify_is_true_at_its_seeded_rate_inside_and_never_outside() {
    let pattern = buggify_pattern(5);
    let hits = pattern.iter().filter(|hit| **hit).count();
    assert!((400..600).contains(&hits), "{hits} of 1,000 at 0.5");
    assert_eq!(pattern, buggify_pattern(5));
    assert_ne!(pattern, buggify_pattern(6));
    assert!(!(0..1000).any(|_| nbio::sim::buggify!()));
    nbio::block_on(async { assert!(!(0..1000).any(|_| nbio::sim::buggify!())) });
}

/// A simulation of `serve` and one client that sends `rounds` messages.
fn echo_sim(seed: u64, rounds: u8) -> Sim {
    let mut sim = Sim::builder()
        .seed(seed)
        .latency(Duration::from_micros(100)..=Duration::from_millis(20))
        .build();
    sim.host("server", serve);
    sim.client("a", async move {
        let conn = AsyncTcpStream::connect("server:7000").await?;
        for round in 0..rounds {
            conn.write_all(&[round; 10]).await?;
            let mut buf = [0u8; 10];
            conn.read_exact(&mut buf).await?;
        }
        io::Result::Ok(())
    });
    sim
}

#[test]
fn check_determinism_agrees_on_a_simulation_that_depends_only_on_its_seed() {
    let outcome = Sim::check_determinism(|| echo_sim(7, 5)).unwrap_or_else(|d| panic!("{d}"));
    assert!(outcome.is_ok(), "{outcome:?}");
}

#[test]
fn check_determinism_finds_a_simulation_that_looks_outside_its_seed() {
    // How many rounds the client sends depends on a counter outside the simulation.
    static BUILDS: AtomicU8 = AtomicU8::new(0);
    let divergence = Sim::check_determinism(|| echo_sim(7, 3 + BUILDS.fetch_add(1, Relaxed)))
        .expect_err("the second run sends one message more");
    assert_eq!(divergence.seed, 7);
    assert!(
        divergence.to_string().contains("diverged at decision"),
        "{divergence}"
    );
}
