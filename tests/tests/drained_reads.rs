//! A TCP read that the kernel proves drained the socket (`TCP_INQ` on Linux) clears read
//! readiness, so the next read waits for the poller instead of paying an `EAGAIN`; a read
//! with the peer's FIN queued behind its data does not, so the end of stream is still seen.
//!
//! DESIGN.md: "Readiness is tracked correctly (sources are edge-triggered, with a readiness
//! word and an event tick); a spurious wake only costs a retried syscall".

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio_tests::watched;

/// Waits until at least `bytes` bytes wait in `stream`'s receive queue (peeking, so that
/// nothing is taken), without polling the runtime.
fn queued(stream: &impl AsRawFd, bytes: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut peek = vec![0u8; bytes + 1];
    loop {
        // SAFETY: `peek` is valid for `bytes + 1` bytes; the descriptor is open.
        let got = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                peek.as_mut_ptr().cast(),
                peek.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if got >= bytes as isize {
            return;
        }
        assert!(Instant::now() < deadline, "the data never arrived");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn request_response_rounds_pay_no_eagain_after_the_first() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // A std client: 20 rounds of a short request and its answer.
    let client = thread::spawn(move || {
        let mut stream = TcpStream::connect(addr)?;
        let mut answer = [0u8; 4];
        for _ in 0..20 {
            stream.write_all(b"ping")?;
            stream.read_exact(&mut answer)?;
            assert_eq!(&answer, b"pong");
        }
        io::Result::Ok(())
    });
    let would_block = watched(move || {
        nbio::block_on(async move {
            let listener = AsyncTcpListener::from_std(listener)?;
            let (conn, _) = listener.accept().await?;
            let mut buf = [0u8; 64];
            let before = nbio::stats().would_block;
            for _ in 0..20 {
                let n = conn.read(&mut buf).await?; // short: 4 of 64
                assert_eq!(&buf[..n], b"ping");
                conn.write_all(b"pong").await?;
            }
            io::Result::Ok(nbio::stats().would_block - before)
        })
    })
    .unwrap();
    client.join().unwrap().unwrap();
    if cfg!(target_os = "linux") {
        // The first wait registers the socket with an EAGAIN (none if the client was always
        // quicker); from then on every short read proved the socket drained, and the next
        // read waited without trying.
        assert!(
            would_block <= 1,
            "at most one EAGAIN in 20 rounds: {would_block}"
        );
    } else {
        assert!(would_block >= 19, "without TCP_INQ every round pays one");
    }
}

#[test]
fn a_fin_queued_behind_the_data_is_still_read_as_end_of_stream() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (go, ready) = std::sync::mpsc::channel::<()>();
    let client = thread::spawn(move || {
        let mut stream = TcpStream::connect(addr)?;
        // One round so that the server's socket is registered and has waited once.
        stream.write_all(b"first")?;
        ready.recv().unwrap();
        // The last data and the FIN together, while the server's thread is not looking.
        stream.write_all(b"last")?;
        stream.shutdown(Shutdown::Write)?;
        io::Result::Ok(stream)
    });
    let result = watched(move || {
        nbio::block_on(async move {
            let listener = AsyncTcpListener::from_std(listener)?;
            let (conn, _) = listener.accept().await?;
            let mut buf = [0u8; 64];
            // Wait once (registering the socket), then read the first message.
            conn.readable().await?;
            let n = conn.read(&mut buf).await?;
            assert_eq!(&buf[..n], b"first");
            go.send(()).unwrap();
            // Hold the thread (no poll, no reactor look) until data and FIN are both queued:
            // the poller will report them as one event.
            queued(&conn, 4);
            thread::sleep(Duration::from_millis(20));
            let n = conn.read(&mut buf).await?;
            assert_eq!(&buf[..n], b"last");
            // A short read, but the kernel said something (the FIN) is left: the next read
            // tries, and sees the end of stream instead of waiting for an event that never
            // comes.
            assert_eq!(conn.read(&mut buf).await?, 0, "end of stream");
            io::Result::Ok(())
        })
    });
    drop(client.join().unwrap().unwrap());
    result.unwrap();
}

#[test]
fn a_connecting_stream_drains_too_and_a_full_read_keeps_readiness() {
    watched(|| {
        nbio::block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let client = AsyncTcpStream::connect(listener.local_addr()?).await?;
            let (server, _) = listener.accept().await?;
            // 100 bytes read 10 at a time: full reads never clear, so no read waits.
            server.write_all(&[7u8; 100]).await?;
            queued(&client, 100);
            let before = nbio::stats().would_block;
            let mut buf = [0u8; 10];
            for _ in 0..10 {
                client.read_exact(&mut buf).await?;
            }
            assert_eq!(
                nbio::stats().would_block - before,
                0,
                "full reads kept readiness"
            );
            // Now rounds the other way: the client's short reads drain.
            let mut waits = Vec::new();
            for _ in 0..10 {
                server.write_all(b"x").await?;
                let before = nbio::stats().would_block;
                let mut one = [0u8; 16];
                assert_eq!(client.read(&mut one).await?, 1);
                waits.push(nbio::stats().would_block - before);
            }
            if cfg!(target_os = "linux") {
                // At most the first round pays an EAGAIN (the guess of a fresh socket).
                assert!(waits[1..].iter().all(|&w| w == 0), "{waits:?}");
            }
            io::Result::Ok(())
        })
    })
    .unwrap();
}
