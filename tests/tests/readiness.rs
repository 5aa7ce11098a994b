//! No readiness is lost between a `WouldBlock` and the wait that follows it.
//!
//! The reactor's classic race: a read fails with `WouldBlock`, and the data arrives before the
//! task has told the reactor it waits. If that readiness is lost, the task waits forever. Here
//! a plain thread answers each message at once, so across thousands of round trips its answer
//! lands at every point of that window. A lost event is a hang; the watchdog reports it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, UdpSocket};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use futures_lite::future::poll_once;
use nbio::net::{AsyncTcpStream, AsyncUdpSocket};
use nbio_tests::{oneshot, watched};

const ROUND_TRIPS: usize = 2_000;

/// Holds the thread for `duration` without sleeping (a sleep would last at least ~50 µs).
fn spin(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

#[test]
fn udp_round_trips_with_a_plain_thread_never_lose_a_readiness_event() {
    let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
    let plain_addr = plain.local_addr().unwrap();
    let echo = thread::spawn(move || {
        let mut buf = [0u8; 64];
        for _ in 0..ROUND_TRIPS {
            let (n, from) = plain.recv_from(&mut buf).unwrap();
            plain.send_to(&buf[..n], from).unwrap();
        }
    });
    let stats = watched(move || {
        nbio::block_on(async move {
            let socket = AsyncUdpSocket::bind("127.0.0.1:0")?;
            socket.connect(plain_addr)?;
            let mut buf = [0u8; 64];
            for round in 0..ROUND_TRIPS {
                let message = round.to_le_bytes();
                socket.send(&message).await?;
                let n = socket.recv(&mut buf).await?;
                assert_eq!(&buf[..n], &message, "round {round}");
            }
            io::Result::Ok(nbio::stats())
        })
    })
    .unwrap();
    echo.join().unwrap();
    assert!(
        stats.would_block > 0,
        "no receive ever had to wait: {stats}"
    );
}

#[test]
fn tcp_round_trips_with_a_plain_thread_never_lose_a_readiness_event() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Echoes each message back as soon as it has read it, in whatever pieces it arrives.
    let echo = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_nodelay(true).unwrap();
        let mut buf = [0u8; 256];
        loop {
            match conn.read(&mut buf).unwrap() {
                0 => return,
                n => conn.write_all(&buf[..n]).unwrap(),
            }
        }
    });
    let stats = watched(move || {
        nbio::block_on(async move {
            let stream = AsyncTcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            for round in 0..ROUND_TRIPS {
                // 1 to 97 bytes, read back through a 32-byte buffer: some reads fill it, some
                // return short (the socket is then taken to be drained), some come in pieces.
                let message: Vec<u8> = (0..1 + round % 97).map(|i| (round + i) as u8).collect();
                stream.write_all(&message).await?;
                let mut echoed = Vec::with_capacity(message.len());
                let mut buf = [0u8; 32];
                while echoed.len() < message.len() {
                    let n = stream.read(&mut buf).await?;
                    assert_ne!(n, 0, "round {round}: the echo closed early");
                    echoed.extend_from_slice(&buf[..n]);
                }
                assert_eq!(echoed, message, "round {round}");
            }
            stream.shutdown(Shutdown::Write)?;
            io::Result::Ok(nbio::stats())
        })
    })
    .unwrap();
    echo.join().unwrap();
    assert!(stats.would_block > 0, "no read ever had to wait: {stats}");
}

#[test]
fn a_writer_is_woken_each_time_a_plain_thread_makes_room() {
    // More than the largest send buffer the kernel will grow to (4 MiB by default), so the
    // writer surely has to wait.
    const BYTES: usize = 12 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    nbio_tests::set_recv_buffer(&listener, 32 * 1024).unwrap();
    let addr = listener.local_addr().unwrap();
    // Reads in small, uneven pieces with short pauses: room appears a little at a time, from
    // another thread, at moments unrelated to the runtime's.
    let reader = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut received = Vec::with_capacity(BYTES);
        let mut buf = [0u8; 4096];
        for reads in 0.. {
            let piece = 512 + (reads * 389) % 3584;
            match conn.read(&mut buf[..piece]).unwrap() {
                0 => return received,
                n => received.extend_from_slice(&buf[..n]),
            }
            if reads % 64 == 0 {
                thread::sleep(Duration::from_micros(200));
            }
        }
        unreachable!()
    });
    let data: Vec<u8> = (0..BYTES).map(|i| (i % 241) as u8).collect();
    let expected = data.clone();
    let stats = watched(move || {
        nbio::block_on(async move {
            let stream = AsyncTcpStream::connect(addr).await?;
            stream.write_all(&data).await?;
            stream.shutdown(Shutdown::Write)?;
            io::Result::Ok(nbio::stats())
        })
    })
    .unwrap();
    let received = reader.join().unwrap();
    assert!(received == expected, "the bytes arrived changed");
    assert!(
        stats.would_block > 0,
        "the writer never had to wait: {stats}"
    );
}

/// The same race, with the reactor on another thread. The socket is registered with runtime A,
/// whose loop keeps dispatching events on its own thread, while a task on runtime B, on this
/// thread, does the round trips: its failed receive, its clearing of the ready bit and its
/// filing of a waker now interleave with A's dispatcher for real, which is what the readiness
/// word's tick and the re-check after filing the waker exist for. (Edge-triggered epoll
/// reports a socket again at its next change of state, which can hide a single lost event: this
/// proves the cross-thread path end to end more than it pins either guard.)
#[test]
fn a_socket_awaited_on_another_thread_than_its_reactor_never_loses_an_event() {
    let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
    let plain_addr = plain.local_addr().unwrap();
    let echo = thread::spawn(move || {
        let mut buf = [0u8; 64];
        for _ in 0..ROUND_TRIPS {
            let (n, from) = plain.recv_from(&mut buf).unwrap();
            plain.send_to(&buf[..n], from).unwrap();
        }
    });
    let socket = Arc::new(AsyncUdpSocket::bind("127.0.0.1:0").unwrap());
    socket.connect(plain_addr).unwrap();
    let (registered, wait_for_registration) = mpsc::channel();
    let (stop, stopped) = oneshot::<()>();
    let runtime_a = thread::spawn({
        let socket = Arc::clone(&socket);
        move || {
            nbio::block_on(async move {
                // One wait registers the socket with this runtime's reactor for good.
                let mut buf = [0u8; 64];
                assert!(poll_once(socket.recv(&mut buf)).await.is_none());
                registered.send(()).unwrap();
                stopped.await;
            })
        }
    });
    wait_for_registration.recv().unwrap();
    watched(move || {
        nbio::block_on(async move {
            let mut buf = [0u8; 64];
            for round in 0..ROUND_TRIPS {
                let message = round.to_le_bytes();
                socket.send(&message).await?;
                // The reply reaches A's dispatcher some tens of microseconds from now; starting
                // the receive after a delay swept across that span makes the two meet.
                spin(Duration::from_nanos((round as u64 * 997) % 120_000));
                let n = socket.recv(&mut buf).await?;
                assert_eq!(&buf[..n], &message, "round {round}");
            }
            io::Result::Ok(())
        })
    })
    .unwrap();
    stop.send(());
    runtime_a.join().unwrap();
    echo.join().unwrap();
}
