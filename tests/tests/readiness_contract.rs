//! What `readable()`, `writable()` and the `try_*` methods promise: they wait for the kernel's
//! word, never for a guess, and a `readable()` + `try_read` loop sleeps while the peer is
//! silent instead of spinning.
//!
//! A new socket is guessed ready both ways so that a plain `read` or `write` tries its syscall
//! at once; these tests pin down that the guess never leaks into `readable()`/`writable()`, on
//! TCP, Unix and UDP sockets, fresh from `connect`, from `accept`, and adopted with `from_std`.

use std::future::Future;
use std::io::{self, ErrorKind, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, AsyncUnixStream};
use nbio::time::timeout;
use nbio_tests::{set_recv_buffer, set_send_buffer, thread_cpu_time, watched};

/// How long a test listens to a silent peer.
const SILENCE: Duration = Duration::from_millis(300);

/// Asserts that `wait` does not resolve within 50 ms: nothing has happened to resolve it.
async fn still_waiting<F: Future<Output = io::Result<()>>>(what: &str, wait: F) {
    let outcome = timeout(Duration::from_millis(50), wait).await;
    assert!(
        outcome.is_err(),
        "{what} resolved although nothing happened"
    );
}

/// A connected pair: one nbio stream, one std stream for the test to drive.
async fn tcp_pair() -> io::Result<(AsyncTcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let stream = AsyncTcpStream::connect(listener.local_addr()?).await?;
    let (peer, _) = listener.accept()?;
    Ok((stream, peer))
}

#[test]
fn readable_on_a_freshly_connected_tcp_stream_waits_for_the_peer_to_speak() {
    watched(|| {
        nbio::block_on(async {
            let (stream, mut peer) = tcp_pair().await?;
            still_waiting("readable() of a silent peer", stream.readable()).await;
            peer.write_all(b"hi")?;
            stream.readable().await?;
            let mut buf = [0u8; 8];
            assert_eq!(stream.try_read(&mut buf)?, 2);
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn readable_on_an_accepted_stream_waits_for_the_client_to_speak() {
    watched(|| {
        nbio::block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let mut client = TcpStream::connect(listener.local_addr()?)?;
            let (accepted, _) = listener.accept().await?;
            still_waiting("readable() of an accepted stream", accepted.readable()).await;
            client.write_all(b"x")?;
            accepted.readable().await?;
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn readable_on_a_tcp_stream_adopted_with_from_std_waits_for_data() {
    watched(|| {
        nbio::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let mine = TcpStream::connect(listener.local_addr()?)?;
            let (mut peer, _) = listener.accept()?;
            let stream = AsyncTcpStream::from_std(mine)?;
            still_waiting("readable() of an adopted stream", stream.readable()).await;
            peer.write_all(b"x")?;
            stream.readable().await?;
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn readable_on_a_unix_pair_waits_until_the_other_end_writes() {
    watched(|| {
        nbio::block_on(async {
            let (a, b) = AsyncUnixStream::pair()?;
            still_waiting("readable() of a unix stream", a.readable()).await;
            b.write_all(b"x").await?;
            a.readable().await?;
            let std_pair = UnixStream::pair()?;
            let adopted = AsyncUnixStream::from_std(std_pair.0)?;
            still_waiting("readable() of an adopted unix stream", adopted.readable()).await;
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn readable_on_a_udp_socket_waits_for_a_datagram() {
    watched(|| {
        nbio::block_on(async {
            let socket = AsyncUdpSocket::bind("127.0.0.1:0")?;
            still_waiting("readable() of a udp socket", socket.readable()).await;
            let sender = UdpSocket::bind("127.0.0.1:0")?;
            sender.send_to(b"d", socket.local_addr()?)?;
            socket.readable().await?;
            let mut buf = [0u8; 4];
            let (n, from) = socket.try_recv_from(&mut buf)?;
            assert_eq!((n, from), (1, sender.local_addr()?));
            let again = socket.try_recv_from(&mut buf).unwrap_err();
            assert_eq!(again.kind(), ErrorKind::WouldBlock);
            still_waiting(
                "readable() after the only datagram was read",
                socket.readable(),
            )
            .await;
            io::Result::Ok(())
        })
    })
    .unwrap();
}

/// Runs `body` as a task and returns what it returns and how much CPU the runtime's thread
/// spent meanwhile.
fn cpu_of<T, F>(body: F) -> (T, Duration)
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
{
    watched(move || {
        let before = thread_cpu_time();
        let out = nbio::block_on(body);
        (out, thread_cpu_time() - before)
    })
}

/// The loop users write: wait for readability, then read without blocking until `WouldBlock`.
/// Returns the bytes read and how many times it woke up.
async fn read_loop(stream: &AsyncTcpStream) -> io::Result<(usize, u32)> {
    let (mut total, mut wakeups) = (0, 0);
    let mut buf = [0u8; 64];
    loop {
        stream.readable().await?;
        wakeups += 1;
        match stream.try_read(&mut buf) {
            Ok(0) => return Ok((total, wakeups)),
            Ok(n) => total += n,
            Err(err) if err.kind() == ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
}

#[test]
fn a_readable_and_try_read_loop_sleeps_while_the_tcp_peer_is_silent() {
    let ((total, wakeups), cpu) = cpu_of(async {
        let (stream, mut peer) = tcp_pair().await.unwrap();
        let talker = thread::spawn(move || {
            thread::sleep(SILENCE);
            peer.write_all(b"late").unwrap();
        });
        let result = read_loop(&stream).await.unwrap();
        talker.join().unwrap();
        result
    });
    assert_eq!(total, 4);
    // One wake for the data, one for the end of stream, maybe one spurious: not thousands.
    assert!(
        wakeups <= 4,
        "the loop woke {wakeups} times while the peer was silent"
    );
    assert!(
        cpu < SILENCE / 3,
        "the runtime's thread spent {cpu:?} of CPU waiting {SILENCE:?} for a silent peer"
    );
}

#[test]
fn a_readable_and_try_recv_loop_sleeps_while_no_datagram_comes() {
    let (wakeups, cpu) = cpu_of(async {
        let socket = AsyncUdpSocket::bind("127.0.0.1:0").unwrap();
        let to = socket.local_addr().unwrap();
        let talker = thread::spawn(move || {
            thread::sleep(SILENCE);
            UdpSocket::bind("127.0.0.1:0")
                .unwrap()
                .send_to(b"late", to)
                .unwrap();
        });
        let mut wakeups = 0;
        let mut buf = [0u8; 16];
        loop {
            socket.readable().await.unwrap();
            wakeups += 1;
            match socket.try_recv(&mut buf) {
                Ok(n) => {
                    assert_eq!(&buf[..n], b"late");
                    break;
                }
                Err(err) if err.kind() == ErrorKind::WouldBlock => {}
                Err(err) => panic!("{err}"),
            }
        }
        talker.join().unwrap();
        wakeups
    });
    assert!(wakeups <= 2, "the loop woke {wakeups} times");
    assert!(cpu < SILENCE / 3, "spent {cpu:?} of CPU on a silent socket");
}

#[test]
fn writable_waits_while_the_send_buffer_is_full_and_try_write_says_when_it_is() {
    watched(|| {
        nbio::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            set_recv_buffer(&listener, 16 * 1024)?; // a small window: the peer fills up soon
            let stream = AsyncTcpStream::connect(listener.local_addr()?).await?;
            let (peer, _) = listener.accept()?;
            set_send_buffer(&stream, 16 * 1024)?;
            stream.writable().await?; // a fresh connection has room
            let chunk = [7u8; 4096];
            let mut sent = 0;
            // Fill both buffers: write until WouldBlock, let what moved to the peer settle,
            // and again, until a write after the pause still finds no room.
            loop {
                let mut wrote = false;
                loop {
                    match stream.try_write(&chunk) {
                        Ok(n) => (sent, wrote) = (sent + n, true),
                        Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                        Err(err) => return Err(err),
                    }
                }
                if !wrote {
                    break;
                }
                nbio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(sent > 0);
            still_waiting("writable() of a full socket", stream.writable()).await;
            // The peer drains everything: room again.
            let drain = thread::spawn(move || {
                let mut peer = peer;
                let mut buf = vec![0u8; sent];
                io::Read::read_exact(&mut peer, &mut buf)
            });
            stream.writable().await?;
            drain.join().unwrap()?;
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn try_read_outside_a_runtime_reports_would_block_not_a_missing_runtime() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mine = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let _peer = listener.accept().unwrap();
    let stream = AsyncTcpStream::from_std(mine).unwrap();
    let err = stream.try_read(&mut [0u8; 4]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WouldBlock, "{err}");
}

#[test]
fn write_all_to_a_slow_reader_waits_after_each_short_write_without_a_failed_send() {
    const BYTES: usize = 8 << 20;
    let stats = watched(|| {
        nbio::block_on(async {
            let (stream, peer) = tcp_pair().await?;
            let reader = thread::spawn(move || {
                let mut peer = peer;
                let mut buf = [0u8; 64 * 1024];
                let mut total = 0;
                while total < BYTES {
                    total += io::Read::read(&mut peer, &mut buf)?;
                    thread::sleep(Duration::from_micros(200)); // slow: the buffer fills
                }
                io::Result::Ok(total)
            });
            stream.write_all(&vec![1u8; BYTES]).await?;
            assert_eq!(reader.join().unwrap()?, BYTES);
            io::Result::Ok(nbio::stats())
        })
    })
    .unwrap();
    assert!(
        stats.short_writes > 0,
        "the send never filled the buffer: {stats}"
    );
    // Each wait began at a short write: no send failed with EAGAIN first.
    assert_eq!(stats.would_block, stats.short_writes, "{stats}");
}
