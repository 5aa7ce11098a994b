//! Faults on the wire: peers that reset, peers that vanish mid-transfer, ports nobody listens
//! on. Each is an error the caller gets back, never a hang, a panic or a dead process.
//!
//! `sigpipe.rs` covers one reset mid-`write_all` against a plain-thread peer and writes to a
//! peer that is already gone; `tcp.rs` covers end of stream and the refused connect's message.
//! This file adds what they leave open: the difference between end of stream and a reset on
//! the reading side, a reset that must wake tasks already waiting, many transfers of which
//! some are reset while the rest must arrive intact, what a socket does after a reset, and how
//! fast a refused connect fails. As in `sigpipe.rs`, `SIGPIPE` is put back to its default
//! action first, so a write that raised it would kill this test process.

use std::io::{self, ErrorKind};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Once;
use std::time::{Duration, Instant};

use nbio::net::{AsyncTcpStream, AsyncUnixStream};
use nbio_tests::{
    closed_port, restore_default_sigpipe, set_linger_zero, set_recv_buffer, set_send_buffer,
    until_idle, watched,
};

fn sigpipe_kills() {
    static ONCE: Once = Once::new();
    ONCE.call_once(restore_default_sigpipe);
}

/// The kinds a write to or read from a vanished peer may fail with, depending on what the
/// kernel saw first.
fn is_peer_gone(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}

/// A connected pair of std streams on the loopback: (client, server side). Std sockets, so
/// that the test can set options nbio's sockets do not expose (SO_LINGER) before wrapping one.
fn std_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// Closes `stream` with a reset (RST) instead of an orderly end of stream (FIN).
fn reset(stream: TcpStream) {
    set_linger_zero(&stream).unwrap();
    drop(stream);
}

#[test]
fn a_read_of_end_of_stream_is_ok_zero_and_a_read_of_a_reset_is_an_error() {
    sigpipe_kills();
    let (closing_peer, closed) = std_pair();
    let (resetting_peer, was_reset) = std_pair();
    drop(closing_peer);
    reset(resetting_peer);
    let (at_end, at_reset) = watched(|| {
        nbio::block_on(async {
            let mut buf = [0u8; 16];
            let closed = AsyncTcpStream::from_std(closed).unwrap();
            let was_reset = AsyncTcpStream::from_std(was_reset).unwrap();
            (closed.read(&mut buf).await, was_reset.read(&mut buf).await)
        })
    });
    assert_eq!(at_end.unwrap(), 0, "end of stream must read as Ok(0)");
    let err = at_reset.expect_err("a reset must not read as end of stream");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err:?}");
}

#[test]
fn a_reset_wakes_a_reader_and_a_writer_already_waiting_on_the_socket_with_errors() {
    sigpipe_kills();
    let (peer, ours) = std_pair();
    // Small buffers both ways: the writer below fills them and has to wait.
    set_send_buffer(&ours, 16 * 1024).unwrap();
    set_recv_buffer(&peer, 16 * 1024).unwrap();
    let (read, write) = watched(move || {
        nbio::block_on(async move {
            let ours = std::sync::Arc::new(AsyncTcpStream::from_std(ours).unwrap());
            let reader = nbio::spawn({
                let ours = std::sync::Arc::clone(&ours);
                async move { ours.read(&mut [0u8; 16]).await }
            });
            let writer = nbio::spawn({
                let ours = std::sync::Arc::clone(&ours);
                async move { ours.write_all(&vec![7u8; 8 << 20]).await }
            });
            // Reset only once both are parked with the reactor.
            until_idle(&[reader.id(), writer.id()]).await;
            reset(peer);
            (reader.await.unwrap(), writer.await.unwrap())
        })
    });
    let read_err = read.expect_err("the waiting read must fail after the reset");
    assert!(is_peer_gone(&read_err), "{read_err:?}");
    let write_err = write.expect_err("the waiting write_all must fail after the reset");
    assert!(is_peer_gone(&write_err), "{write_err:?}");
}

#[test]
fn after_a_reset_further_reads_and_writes_complete_at_once_instead_of_waiting() {
    sigpipe_kills();
    let (peer, ours) = std_pair();
    let (first, again, write) = watched(|| {
        nbio::block_on(async {
            let ours = std::sync::Arc::new(AsyncTcpStream::from_std(ours).unwrap());
            // A read that waits first, so that the socket is registered with the reactor and
            // its readiness is what the reactor reported, not a fresh socket's optimism.
            let reader = nbio::spawn({
                let ours = std::sync::Arc::clone(&ours);
                async move { ours.read(&mut [0u8; 16]).await }
            });
            until_idle(&[reader.id()]).await;
            reset(peer);
            let first = reader.await.unwrap();
            // The error was reported once; the socket is now dead, and every further
            // operation must say so (or read as end of stream), not wait for an event that
            // will never come: the reset was the last one.
            let again = ours.read(&mut [0u8; 16]).await;
            let write = ours.write_all(b"anyone there?").await;
            (first, again, write)
        })
    });
    assert_eq!(first.unwrap_err().kind(), ErrorKind::ConnectionReset);
    match again {
        Ok(0) => {}
        Err(err) if is_peer_gone(&err) => {}
        other => panic!("a second read after a reset gave {other:?}"),
    }
    let err = write.expect_err("writing to a reset socket must fail");
    assert!(is_peer_gone(&err), "{err:?}");
}

/// Bytes of connection `id`'s transfer: a pattern that differs between connections and does
/// not repeat within one, so that a lost, repeated or misrouted chunk cannot compare equal.
fn pattern(id: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32 ^ (i as u32 >> 9) ^ (id as u32 * 0x9E37)).wrapping_mul(2_654_435_761) as u8
        })
        .collect()
}

#[test]
fn transfers_whose_peers_reset_mid_write_all_fail_and_the_others_arrive_byte_exact() {
    const PAIRS: usize = 16;
    const PAYLOAD: usize = 2 << 20;
    const READ_BEFORE_RESET: usize = 64 * 1024;
    sigpipe_kills();
    // Small buffers, so that the kernel cannot hold a whole transfer: every write_all is
    // still waiting for room when its peer resets.
    let pairs: Vec<_> = (0..PAIRS)
        .map(|_| {
            let (writer, reader) = std_pair();
            set_send_buffer(&writer, 32 * 1024).unwrap();
            set_recv_buffer(&reader, 32 * 1024).unwrap();
            (writer, reader)
        })
        .collect();
    let results = watched(move || {
        nbio::block_on(async move {
            let mut tasks = Vec::new();
            for (id, (writer, reader)) in pairs.into_iter().enumerate() {
                let resets = id % 4 == 0;
                let write = nbio::spawn(async move {
                    let writer = AsyncTcpStream::from_std(writer).unwrap();
                    writer.write_all(&pattern(id, PAYLOAD)).await?;
                    writer.shutdown(Shutdown::Write)
                });
                let read = nbio::spawn(async move {
                    if resets {
                        // Linger zero now: the drop below then sends a reset.
                        set_linger_zero(&reader).unwrap();
                    }
                    let reader = AsyncTcpStream::from_std(reader).unwrap();
                    if resets {
                        reader.read_exact(&mut vec![0u8; READ_BEFORE_RESET]).await?;
                        return io::Result::Ok(Vec::new());
                    }
                    let mut received = Vec::with_capacity(PAYLOAD);
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match reader.read(&mut buf).await? {
                            0 => return Ok(received),
                            n => received.extend_from_slice(&buf[..n]),
                        }
                    }
                });
                tasks.push((id, resets, write, read));
            }
            let mut results = Vec::new();
            for (id, resets, write, read) in tasks {
                results.push((id, resets, write.await.unwrap(), read.await.unwrap()));
            }
            results
        })
    });
    for (id, resets, written, read) in results {
        if resets {
            let err = written.expect_err("write_all to a peer that reset must fail");
            assert!(is_peer_gone(&err), "connection {id}: {err:?}");
        } else {
            written.unwrap_or_else(|err| panic!("connection {id}: {err}"));
            let received = read.unwrap_or_else(|err| panic!("connection {id}: {err}"));
            assert_eq!(received.len(), PAYLOAD, "connection {id}");
            assert!(
                received == pattern(id, PAYLOAD),
                "connection {id}: bytes differ"
            );
        }
    }
}

#[test]
fn a_unix_peer_that_goes_away_mid_write_all_wakes_the_waiting_writer_with_an_error() {
    sigpipe_kills();
    let result = watched(|| {
        nbio::block_on(async {
            let (writer, reader) = AsyncUnixStream::pair().unwrap();
            let writing = nbio::spawn(async move { writer.write_all(&vec![1u8; 32 << 20]).await });
            reader.read_exact(&mut vec![0u8; 64 * 1024]).await.unwrap();
            // Go away only once the writer is parked on a full buffer.
            until_idle(&[writing.id()]).await;
            drop(reader);
            writing.await.unwrap()
        })
    });
    let err = result.expect_err("write_all to a vanished peer must fail");
    assert!(is_peer_gone(&err), "{err:?}");
}

/// The loopback's IPv6 address, if this machine has one.
fn ipv6_loopback() -> Option<SocketAddr> {
    TcpListener::bind("[::1]:0")
        .and_then(|listener| listener.local_addr())
        .ok()
}

#[test]
fn connect_to_a_closed_port_fails_within_seconds_naming_the_address_on_ipv4_and_ipv6() {
    // A refused connect is answered by a reset at once. A runtime that missed it would wait
    // for the kernel's connect timeout instead: SYN retries at 1, 3, 7, ... seconds, over two
    // minutes in all. The bound sits far below that and far above any loopback delay.
    const FAST: Duration = Duration::from_secs(10);
    let mut addrs = vec![closed_port()];
    match ipv6_loopback() {
        Some(addr) => addrs.push(addr), // bound a moment ago and released: closed now
        None => eprintln!("no IPv6 loopback here: checking IPv4 only"),
    }
    for addr in addrs {
        let started = Instant::now();
        let err = watched(move || nbio::block_on(AsyncTcpStream::connect(addr))).unwrap_err();
        let took = started.elapsed();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{addr}: {err}");
        assert!(
            err.to_string().contains(&addr.to_string()),
            "the message does not name {addr}: {err}"
        );
        assert!(took < FAST, "connect to {addr} took {took:?} to fail");
    }
}
