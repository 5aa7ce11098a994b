//! TCP: the article's 7 MB send to a slow reader, connect errors, end of stream, and sockets
//! waited on in both directions at once.
//!
//! DESIGN.md: "`write_all` is the article's loop … It never blocks the thread", "Readiness is
//! re-armed correctly in oneshot mode", "connect failures name the address".

use std::io::{self, ErrorKind};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::time::sleep;
use nbio_tests::{closed_port, set_recv_buffer, watched};

/// The article's payload: "foobar\n" a million times, 7,340,032 bytes.
fn article_payload() -> Vec<u8> {
    let payload = b"foobar\n".repeat(1_048_576);
    assert_eq!(payload.len(), 7_340_032);
    payload
}

/// A listener whose accepted connections have a small, fixed receive buffer (no autotuning),
/// so that a writer of a few megabytes surely fills the path and has to wait.
fn small_window_listener() -> AsyncTcpListener {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    set_recv_buffer(&listener, 64 * 1024).unwrap();
    AsyncTcpListener::from_std(listener).unwrap()
}

/// Where two byte strings first differ, for a failure message that does not print megabytes.
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or((a.len() != b.len()).then(|| a.len().min(b.len())))
}

#[test]
fn write_all_of_7_mib_to_a_slow_reader_arrives_byte_exact_while_a_counter_keeps_counting() {
    let report = watched(|| {
        nbio::block_on(async {
            let payload = article_payload();
            let listener = small_window_listener();
            let addr = listener.local_addr()?;
            // The slow reader: 1,024 bytes at a time (the article's conn.recv(1024)), and a
            // 1 ms nap every 256 reads.
            let reader = nbio::spawn(async move {
                let (conn, _) = listener.accept().await?;
                let mut received = Vec::with_capacity(7_340_032);
                let mut buf = [0u8; 1024];
                for reads in 1.. {
                    match conn.read(&mut buf).await? {
                        0 => break,
                        n => received.extend_from_slice(&buf[..n]),
                    }
                    if reads % 256 == 0 {
                        sleep(Duration::from_millis(1)).await;
                    }
                }
                io::Result::Ok(received)
            });
            // The article's counter: always ready, yielding after each count.
            let count = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let counter = nbio::spawn({
                let (count, stop) = (Arc::clone(&count), Arc::clone(&stop));
                async move {
                    while !stop.load(SeqCst) {
                        count.fetch_add(1, SeqCst);
                        nbio::yield_now().await;
                    }
                }
            });
            let sock = AsyncTcpStream::connect(addr).await?;
            let counted_before = count.load(SeqCst);
            sock.write_all(&payload).await?;
            let counted_during = count.load(SeqCst) - counted_before;
            sock.shutdown(Shutdown::Write)?;
            let received = reader.await??;
            stop.store(true, SeqCst);
            counter.await?;
            io::Result::Ok((
                first_difference(&received, &payload),
                received.len(),
                counted_during,
                nbio::stats(),
            ))
        })
    });
    let (difference, received, counted_during, stats) = report.unwrap();
    assert_eq!(received, 7_340_032, "wrong length");
    assert_eq!(
        difference, None,
        "the bytes differ from the first one there"
    );
    assert!(
        counted_during > 0,
        "the counter made no progress while write_all was in flight"
    );
    assert!(
        stats.would_block > 0,
        "the writer never had to wait: {stats}"
    );
}

#[test]
fn connect_to_a_closed_port_is_connection_refused_and_names_the_address() {
    let addr = closed_port();
    let err = nbio::block_on(AsyncTcpStream::connect(addr)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&addr.to_string()),
        "the message does not name {addr}: {message}"
    );
}

#[test]
fn connect_by_host_name_tries_each_address_until_one_answers() {
    let listener = AsyncTcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = watched(move || {
        nbio::block_on(async move {
            let accepting = nbio::spawn(async move { listener.accept().await.map(|(_, a)| a) });
            let stream = AsyncTcpStream::connect(("localhost", port)).await?;
            let accepted = accepting.await??;
            assert_eq!(accepted, stream.local_addr()?);
            stream.peer_addr()
        })
    });
    let peer = peer.unwrap();
    assert_eq!(peer, SocketAddr::from(([127, 0, 0, 1], port)));
}

/// A connected pair on the loopback: (client, server side).
async fn connected_pair() -> io::Result<(AsyncTcpStream, AsyncTcpStream)> {
    let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
    let client = AsyncTcpStream::connect(listener.local_addr()?).await?;
    let (server, peer) = listener.accept().await?;
    assert_eq!(peer, client.local_addr()?);
    Ok((client, server))
}

#[test]
fn read_at_end_of_stream_returns_zero_and_keeps_returning_zero() {
    let result = watched(|| {
        nbio::block_on(async {
            let (client, server) = connected_pair().await?;
            client.write_all(b"last words").await?;
            client.shutdown(Shutdown::Write)?;
            let mut buf = [0u8; 64];
            let n = server.read(&mut buf).await?;
            assert_eq!(&buf[..n], b"last words");
            for _ in 0..3 {
                assert_eq!(server.read(&mut buf).await?, 0);
            }
            // The other direction still works after a half close.
            server.write_all(b"reply").await?;
            let mut reply = [0u8; 5];
            client.read_exact(&mut reply).await?;
            assert_eq!(&reply, b"reply");
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn read_that_waits_and_then_sees_the_peer_close_returns_zero() {
    let result = watched(|| {
        nbio::block_on(async {
            let (client, server) = connected_pair().await?;
            let reading = nbio::spawn(async move {
                let mut buf = [0u8; 16];
                server.read(&mut buf).await
            });
            sleep(Duration::from_millis(5)).await;
            drop(client);
            reading.await?
        })
    });
    assert_eq!(result.unwrap(), 0);
}

#[test]
fn read_exact_on_early_end_of_stream_is_unexpected_eof() {
    let err = watched(|| {
        nbio::block_on(async {
            let (client, server) = connected_pair().await?;
            client.write_all(b"12345").await?;
            drop(client);
            let mut buf = [0u8; 10];
            server.read_exact(&mut buf).await
        })
    })
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnexpectedEof, "{err}");
    assert!(err.to_string().contains("5 of the 10"), "{err}");
}

#[test]
fn read_exact_gathers_a_message_that_arrives_one_byte_at_a_time() {
    let received = watched(|| {
        nbio::block_on(async {
            let (client, server) = connected_pair().await?;
            client.set_nodelay(true)?;
            assert!(client.nodelay()?);
            let trickle = nbio::spawn(async move {
                for byte in b"trickled, byte by byte" {
                    client.write_all(&[*byte]).await?;
                    sleep(Duration::from_micros(200)).await;
                }
                io::Result::Ok(())
            });
            let mut buf = [0u8; 22];
            server.read_exact(&mut buf).await?;
            trickle.await??;
            io::Result::Ok(buf)
        })
    });
    assert_eq!(&received.unwrap(), b"trickled, byte by byte");
}

#[test]
fn readable_and_writable_resolve_when_the_socket_is_ready() {
    let result = watched(|| {
        nbio::block_on(async {
            let (client, server) = connected_pair().await?;
            client.writable().await?;
            let waiting = nbio::spawn(async move {
                server.readable().await?;
                let mut buf = [0u8; 4];
                let n = server.read(&mut buf).await?;
                io::Result::Ok(buf[..n].to_vec())
            });
            sleep(Duration::from_millis(2)).await;
            client.write_all(b"ping").await?;
            waiting.await?
        })
    });
    assert_eq!(result.unwrap(), b"ping");
}

#[test]
fn from_std_wraps_a_blocking_std_stream_without_blocking_the_thread() {
    let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let std_client = std::net::TcpStream::connect(addr).unwrap();
    let (std_server, _) = std_listener.accept().unwrap();
    let result = watched(move || {
        nbio::block_on(async move {
            let client = AsyncTcpStream::from_std(std_client)?;
            let server = AsyncTcpStream::from_std(std_server)?;
            // Nothing to read yet: a blocking socket would stall the thread right here and
            // the writer below would never run.
            let reading = nbio::spawn(async move {
                let mut buf = [0u8; 5];
                server.read_exact(&mut buf).await.map(|()| buf)
            });
            nbio::yield_now().await;
            client.write_all(b"hello").await?;
            reading.await?
        })
    });
    assert_eq!(&result.unwrap(), b"hello");
}

/// Both ends write and read a few megabytes at the same time, each through one socket shared
/// by a writer task and a reader task. With small windows both directions of each socket are
/// waited on at once; oneshot mode switches the whole fd off after one event, so the other
/// direction must be re-armed or its task waits forever.
#[test]
fn a_socket_waited_on_for_reading_and_writing_at_once_serves_both_directions() {
    const BYTES: usize = 3 << 20;
    let result = watched(|| {
        nbio::block_on(async {
            let listener = small_window_listener();
            let client = AsyncTcpStream::connect(listener.local_addr()?).await?;
            let (server, _) = listener.accept().await?;
            let mut tasks = Vec::new();
            for (side, stream) in [(1u8, client), (2u8, server)] {
                let stream = Arc::new(stream);
                let writer = Arc::clone(&stream);
                tasks.push(nbio::spawn(async move {
                    let data: Vec<u8> = (0..BYTES).map(|i| (i % 251) as u8 ^ side).collect();
                    writer.write_all(&data).await?;
                    writer.shutdown(Shutdown::Write)?;
                    io::Result::Ok(0)
                }));
                tasks.push(nbio::spawn(async move {
                    let peer = 3 - side;
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut total = 0;
                    loop {
                        let n = stream.read(&mut buf).await?;
                        if n == 0 {
                            return io::Result::Ok(total);
                        }
                        for (k, byte) in buf[..n].iter().enumerate() {
                            let expected = ((total + k) % 251) as u8 ^ peer;
                            assert_eq!(*byte, expected, "byte {} from side {peer}", total + k);
                        }
                        total += n;
                    }
                }));
            }
            let mut totals = Vec::new();
            for task in tasks {
                totals.push(task.await??);
            }
            io::Result::Ok((totals, nbio::stats()))
        })
    });
    let (totals, stats) = result.unwrap();
    assert_eq!(totals, [0, BYTES, 0, BYTES]);
    assert!(
        stats.io_events > 0,
        "neither side ever waited for the kernel: {stats}"
    );
}

/// A writer waits for room on a socket while a reader of the same socket waits for data. The
/// data comes first: oneshot mode switches the whole fd off with that read event, and the
/// reader then finishes without waiting again. Only the reactor's re-arm of the still-waited
/// write direction lets the writer hear that room came later.
#[test]
fn a_read_event_does_not_switch_off_a_pending_wait_for_writability() {
    const BYTES: usize = 4 << 20;
    let result = watched(|| {
        nbio::block_on(async {
            let listener = small_window_listener();
            let near = Arc::new(AsyncTcpStream::connect(listener.local_addr()?).await?);
            let (far, _) = listener.accept().await?;
            let writer = nbio::spawn({
                let near = Arc::clone(&near);
                async move { near.write_all(&vec![7u8; BYTES]).await }
            });
            let reader = nbio::spawn({
                let near = Arc::clone(&near);
                async move {
                    let mut buf = [0u8; 2];
                    near.read_exact(&mut buf).await.map(|()| buf)
                }
            });
            // Both are parked on the socket, one in each direction.
            while nbio::stats().io_waiters < 2 {
                sleep(Duration::from_millis(1)).await;
            }
            far.write_all(b"go").await?;
            assert_eq!(&reader.await??, b"go");
            // Now drain: the writer must be told about the room this makes.
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0;
            while total < BYTES {
                total += far.read(&mut buf).await?;
            }
            writer.await??;
            io::Result::Ok(total)
        })
    });
    assert_eq!(result.unwrap(), 4 << 20);
}

#[test]
fn many_clients_echo_through_one_listener() {
    const CLIENTS: usize = 20;
    const MESSAGES: usize = 10;
    let result = watched(|| {
        nbio::block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let server = nbio::spawn(async move {
                let mut sessions = Vec::new();
                for _ in 0..CLIENTS {
                    let (conn, _) = listener.accept().await?;
                    sessions.push(nbio::spawn(async move {
                        let mut buf = [0u8; 256];
                        loop {
                            let n = conn.read(&mut buf).await?;
                            if n == 0 {
                                return io::Result::Ok(());
                            }
                            conn.write_all(&buf[..n]).await?;
                        }
                    }));
                }
                for session in sessions {
                    session.await??;
                }
                io::Result::Ok(())
            });
            let clients: Vec<_> = (0..CLIENTS)
                .map(|c| {
                    nbio::spawn(async move {
                        let stream = AsyncTcpStream::connect(addr).await?;
                        for m in 0..MESSAGES {
                            let message = format!("client {c:02} message {m:02}");
                            stream.write_all(message.as_bytes()).await?;
                            let mut echo = vec![0u8; message.len()];
                            stream.read_exact(&mut echo).await?;
                            assert_eq!(echo, message.as_bytes());
                        }
                        io::Result::Ok(())
                    })
                })
                .collect();
            for client in clients {
                client.await??;
            }
            server.await?
        })
    });
    result.unwrap();
}

#[test]
fn a_read_waiting_on_the_runtime_is_woken_by_a_write_from_a_plain_thread() {
    let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    let writer = thread::spawn(move || {
        use std::io::Write;
        let (mut conn, _) = std_listener.accept().unwrap();
        for chunk in [&b"from "[..], b"another ", b"thread"] {
            thread::sleep(Duration::from_millis(2));
            conn.write_all(chunk).unwrap();
        }
    });
    let received = watched(move || {
        nbio::block_on(async move {
            let stream = AsyncTcpStream::connect(addr).await?;
            let mut received = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                match stream.read(&mut buf).await? {
                    0 => return io::Result::Ok(received),
                    n => received.extend_from_slice(&buf[..n]),
                }
            }
        })
    });
    writer.join().unwrap();
    assert_eq!(received.unwrap(), b"from another thread");
}
