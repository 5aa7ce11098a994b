//! A task that is always ready cannot starve timers, sockets, or the `block_on` future.
//!
//! The scheduler looks at the reactor (without blocking) every `event_interval` polls even
//! while the run queue never empties. Without that, each test here hangs; the watchdog turns
//! the hang into a failure.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::future::poll_once;
use nbio::net::AsyncUdpSocket;
use nbio::time::sleep;
use nbio_tests::watched;

/// Spawns a task that counts and yields until `stop` is set: always ready, never waiting.
fn spawn_busy(stop: &Arc<AtomicBool>) -> (nbio::JoinHandle<()>, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let (stop, counted) = (Arc::clone(stop), Arc::clone(&count));
    let handle = nbio::spawn(async move {
        while !stop.load(SeqCst) {
            counted.fetch_add(1, SeqCst);
            nbio::yield_now().await;
        }
    });
    (handle, count)
}

#[test]
fn an_always_ready_task_does_not_starve_a_timer() {
    let counted = watched(|| {
        nbio::block_on(async {
            let stop = Arc::new(AtomicBool::new(false));
            let (busy, count) = spawn_busy(&stop);
            let waiter = nbio::spawn(async {
                let start = Instant::now();
                sleep(Duration::from_millis(5)).await;
                start.elapsed()
            });
            let slept = waiter.await.unwrap();
            assert!(slept >= Duration::from_millis(5));
            stop.store(true, SeqCst);
            busy.await.unwrap();
            count.load(SeqCst)
        })
    });
    assert!(counted > 0, "the busy task never ran");
}

#[test]
fn an_always_ready_task_does_not_starve_socket_readiness() {
    let socket = AsyncUdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let (go, wait_for_go) = mpsc::channel::<()>();
    // Sends only once the receiver is waiting, a datagram a millisecond: each receive has to
    // wait for the reactor, which only a look at it between the busy task's polls can serve.
    let sender = thread::spawn(move || {
        wait_for_go.recv().unwrap();
        let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..5 {
            thread::sleep(Duration::from_millis(1));
            plain.send_to(b"hi", addr).unwrap();
        }
    });
    watched(move || {
        nbio::block_on(async move {
            let stop = Arc::new(AtomicBool::new(false));
            let (busy, _) = spawn_busy(&stop);
            let receiving = nbio::spawn(async move {
                let mut buf = [0u8; 4];
                assert!(poll_once(socket.recv_from(&mut buf)).await.is_none());
                go.send(()).unwrap();
                for _ in 0..5 {
                    socket.recv_from(&mut buf).await.unwrap();
                }
            });
            receiving.await.unwrap();
            stop.store(true, SeqCst);
            busy.await.unwrap();
        })
    });
    sender.join().unwrap();
}

#[test]
fn a_busy_block_on_future_does_not_starve_spawned_tasks() {
    let counted = watched(|| {
        nbio::block_on(async {
            let done = Arc::new(AtomicBool::new(false));
            let flag = Arc::clone(&done);
            drop(nbio::spawn(async move {
                sleep(Duration::from_millis(2)).await;
                nbio::yield_now().await;
                flag.store(true, SeqCst);
            }));
            let mut spins = 0u64;
            while !done.load(SeqCst) {
                spins += 1;
                nbio::yield_now().await;
            }
            spins
        })
    });
    assert!(counted > 0);
}

#[test]
fn two_always_ready_tasks_take_turns() {
    watched(|| {
        // Each records the other's count when it runs: with a FIFO run queue and yields, neither
        // can run twice in a row while the other is ready.
        let (a, b) = nbio::block_on(async {
            let turns = Arc::new(std::sync::Mutex::new(Vec::new()));
            let spawn_turner = |name: char| {
                let turns = Arc::clone(&turns);
                nbio::spawn(async move {
                    for _ in 0..100 {
                        turns.lock().unwrap().push(name);
                        nbio::yield_now().await;
                    }
                })
            };
            let (a, b) = (spawn_turner('a'), spawn_turner('b'));
            a.await.unwrap();
            b.await.unwrap();
            let turns = turns.lock().unwrap().clone();
            let a_twice = turns.windows(2).filter(|w| w == &['a', 'a']).count();
            let b_twice = turns.windows(2).filter(|w| w == &['b', 'b']).count();
            (a_twice, b_twice)
        });
        assert_eq!(
            (a, b),
            (0, 0),
            "a ready task ran twice while the other waited"
        );
    });
}
