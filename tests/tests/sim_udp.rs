//! Simulated UDP inside `nbio::sim`: the production `AsyncUdpSocket`, inside simulated hosts,
//! loses datagrams at the seeded `loss` rate, duplicates them at the `duplicate` rate, reorders
//! them by their latencies, loses what crosses a partition and keeps what a `hold` holds.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nbio::net::AsyncUdpSocket;
use nbio::sim::{Sim, SimBuilder};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Sends `count` numbered datagrams from a client to a host, one per 2 ms, calling `between`
/// after the first half; returns the numbers the host received, in order.
fn run(builder: SimBuilder, count: u32, between: fn()) -> Vec<u32> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&got);
    let mut sim = builder.build();
    sim.host("sink", move || {
        let kept = Arc::clone(&kept);
        async move {
            let socket = AsyncUdpSocket::bind("0.0.0.0:9000")?;
            let mut buf = [0u8; 4];
            loop {
                let (n, from) = socket.recv_from(&mut buf).await?;
                assert_eq!((n, from.ip().to_string()), (4, "10.0.0.2".to_string()));
                kept.lock().unwrap().push(u32::from_be_bytes(buf));
            }
            #[allow(unreachable_code)]
            io::Result::Ok(())
        }
    });
    sim.client("source", async move {
        let socket = AsyncUdpSocket::bind("0.0.0.0:0")?;
        for n in 0..count {
            if n == count / 2 {
                between();
            }
            socket.send_to(&n.to_be_bytes(), "sink:9000").await?;
            // Paced, so that the sink's queue (256 datagrams, as a kernel's) never fills.
            nbio::time::sleep(ms(2)).await;
        }
        nbio::time::sleep(Duration::from_secs(10)).await;
        io::Result::Ok(())
    });
    sim.run().unwrap_or_else(|err| panic!("{err}"));
    let got = got.lock().unwrap().clone();
    got
}

fn calm(seed: u64) -> SimBuilder {
    Sim::builder().seed(seed).latency(ms(1)..=ms(1))
}

#[test]
fn datagrams_arrive_whole_and_in_order_on_a_calm_network() {
    assert_eq!(run(calm(1), 100, || {}), (0..100).collect::<Vec<_>>());
}

#[test]
fn loss_drops_datagrams_at_its_seeded_rate() {
    let got = run(calm(2).loss(0.3), 1000, || {});
    assert!(
        (600..800).contains(&got.len()),
        "{} of 1,000 arrived at 30% loss",
        got.len()
    );
    assert_eq!(
        got,
        run(calm(2).loss(0.3), 1000, || {}),
        "the same seed, the same losses"
    );
}

#[test]
fn duplication_delivers_some_datagrams_twice() {
    let got = run(calm(3).duplicate(0.5), 1000, || {});
    assert!(
        (1400..1600).contains(&got.len()),
        "{} arrived of 1,000 at 50%",
        got.len()
    );
}

#[test]
fn spread_latencies_reorder_datagrams() {
    let got = run(Sim::builder().seed(4).latency(ms(1)..=ms(50)), 100, || {});
    assert_eq!(got.len(), 100);
    assert_ne!(got, (0..100).collect::<Vec<_>>(), "no reordering");
}

#[test]
fn a_partition_loses_datagrams_and_a_hold_keeps_them() {
    let got = run(calm(5), 100, || nbio::sim::partition("source", "sink"));
    assert_eq!(got, (0..50).collect::<Vec<_>>(), "crossed a partition");
    let got = run(calm(5), 100, || {
        nbio::sim::hold("source", "sink");
        nbio::spawn(async {
            nbio::time::sleep(Duration::from_secs(1)).await;
            nbio::sim::release("source", "sink");
        });
    });
    assert_eq!(got.len(), 100, "a hold lost datagrams");
}
