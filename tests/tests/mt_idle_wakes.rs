//! What a multi-thread runtime that keeps falling idle costs its threads that have nothing to
//! do: a server's workers fall asleep between requests, and that must not wake the `block_on`
//! thread each time (its deadlock look has nothing to find while a socket is awaited).

use std::net::UdpSocket;
use std::thread;
use std::time::Duration;

use nbio::net::AsyncUdpSocket;
use nbio::Runtime;
use nbio_tests::watched;

/// Packets sent, one per millisecond: the workers fall asleep between any two.
const ROUNDS: u64 = 100;

/// How often the calling thread has blocked so far (Linux: `/proc/thread-self/status`).
fn voluntary_switches() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a voluntary_ctxt_switches line")
}

#[test]
fn workers_falling_asleep_between_packets_leave_the_block_on_thread_asleep() {
    watched(|| {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (switches, received) = rt.block_on(async move {
            let socket = AsyncUdpSocket::bind("127.0.0.1:0").unwrap();
            let to = socket.local_addr().unwrap();
            let reader = nbio::spawn(async move {
                let mut buf = [0u8; 8];
                for _ in 0..ROUNDS {
                    socket.recv(&mut buf).await.unwrap();
                }
                ROUNDS
            });
            let before = voluntary_switches();
            let writer = thread::spawn(move || {
                for _ in 0..ROUNDS {
                    sender.send_to(b"x", to).unwrap();
                    thread::sleep(Duration::from_millis(1));
                }
            });
            // This thread sleeps in here until the reader is done: once, not once a packet.
            let received = reader.await.unwrap();
            let switches = voluntary_switches() - before;
            writer.join().unwrap();
            (switches, received)
        });
        assert_eq!(received, ROUNDS);
        assert!(
            switches < ROUNDS / 5,
            "the block_on thread blocked {switches} times over {ROUNDS} packets"
        );
    });
}
