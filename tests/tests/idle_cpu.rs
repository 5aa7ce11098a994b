//! An idle runtime sleeps in the kernel: (almost) no CPU while nothing is ready.
//!
//! DESIGN.md: "An idle runtime sleeps in the kernel: 0% CPU while nothing is ready and no
//! timer is due." This file holds a single test on purpose: cargo runs each file in `tests/`
//! as its own process, and process CPU time would count any other test's threads too.

use std::time::{Duration, Instant};

use nbio::net::AsyncUdpSocket;
use nbio::time::{sleep, timeout};
use nbio_tests::{process_cpu_time, watched};

/// How long each idle phase lasts, and the CPU it may use: a spinning loop would use about
/// all of `IDLE`; one that sleeps in the kernel uses microseconds. The bound is loose so that
/// a busy machine cannot make it flake.
const IDLE: Duration = Duration::from_millis(200);
const CPU_BOUND: Duration = Duration::from_millis(20);

/// Runs `phase` on `runtime` and returns the CPU time and reactor waits it took.
fn measure<F: std::future::Future>(runtime: &nbio::Runtime, phase: F) -> (Duration, u64) {
    let waits_before = runtime.stats().reactor_waits;
    let cpu_before = process_cpu_time();
    let wall = Instant::now();
    runtime.block_on(phase);
    let cpu = process_cpu_time() - cpu_before;
    assert!(wall.elapsed() >= IDLE, "the phase ended early");
    (cpu, runtime.stats().reactor_waits - waits_before)
}

#[test]
fn an_idle_runtime_uses_almost_no_cpu_while_sleeping_or_waiting_on_a_socket() {
    watched(|| {
        let runtime = nbio::Runtime::new().unwrap();
        // Warm up, so that one-time costs (first allocations, lazy statics) are not measured.
        runtime.block_on(sleep(Duration::from_millis(1)));
        let socket = AsyncUdpSocket::bind("127.0.0.1:0").unwrap();

        // Phase 1: one timer, nothing else.
        let (cpu, waits) = measure(&runtime, sleep(IDLE));
        assert!(cpu < CPU_BOUND, "sleeping {IDLE:?} used {cpu:?} of CPU");
        // Waiting for one timer is one blocking wait (a few more if the kernel wakes early).
        assert!(
            waits <= 10,
            "{waits} reactor waits for one timer: the loop spins"
        );

        // Phase 2: a receive that never completes, given up by a timeout.
        let (cpu, waits) = measure(&runtime, async {
            let mut buf = [0u8; 8];
            let gave_up = timeout(IDLE, socket.recv_from(&mut buf)).await;
            assert!(gave_up.is_err(), "nothing was sent");
        });
        assert!(
            cpu < CPU_BOUND,
            "waiting on a socket for {IDLE:?} used {cpu:?} of CPU"
        );
        assert!(
            waits <= 10,
            "{waits} reactor waits while idle on a socket: the loop spins"
        );
    });
}
