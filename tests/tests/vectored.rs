//! Vectored reads and writes on every stream type: one `sendmsg`/`readv` for many buffers,
//! byte-exact, with the readiness rule of plain writes (a write that takes less than all its
//! buffers offered clears write readiness), and never `SIGPIPE`.
//!
//! DESIGN.md, "What libraries build on": "every stream: write_vectored(&self, &[IoSlice]).await,
//! and futures-io poll_write_vectored / poll_read_vectored that really use writev/readv (not
//! the first-buffer default)".

use std::io::{self, ErrorKind, IoSlice, IoSliceMut};
use std::net::TcpListener;

use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use nbio::net::{AsyncTcpListener, AsyncTcpStream, AsyncUnixStream};
use nbio_tests::{restore_default_sigpipe, set_recv_buffer, set_send_buffer, watched};

/// A connected TCP pair on loopback.
async fn tcp_pair() -> io::Result<(AsyncTcpStream, AsyncTcpStream)> {
    let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
    let client = AsyncTcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    Ok((client, server))
}

/// `count` buffers of 1 to 300 bytes, each filled with bytes that say where they are, so a
/// byte out of place shows.
fn numbered_buffers(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let len = 1 + (i * 7919) % 300;
            (0..len).map(|j| (i * 31 + j) as u8).collect()
        })
        .collect()
}

/// Drops the first `written` bytes of `rest`: what is left to write after a write that took
/// `written`. (std's `IoSlice::advance_slices` is newer than the workspace's Rust.)
fn advance(rest: &mut Vec<&[u8]>, mut written: usize) {
    let mut done = 0;
    for bytes in rest.iter_mut() {
        if written < bytes.len() {
            *bytes = &bytes[written..];
            break;
        }
        written -= bytes.len();
        done += 1;
    }
    rest.drain(..done);
}

/// The `IoSlice`s of what is left to write.
fn slices<'a>(rest: &[&'a [u8]]) -> Vec<IoSlice<'a>> {
    rest.iter().map(|bytes| IoSlice::new(bytes)).collect()
}

/// Waits until at least `bytes` bytes wait in `stream`'s receive queue (peeking, so that
/// nothing is taken), so that the read that follows sees all of them at once.
async fn arrived(stream: &AsyncTcpStream, bytes: usize) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut peek = vec![0u8; bytes];
    loop {
        // SAFETY: `peek` is valid for `bytes` bytes; the descriptor stays open meanwhile.
        let got = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                peek.as_mut_ptr().cast(),
                bytes,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if got >= bytes as isize {
            return Ok(());
        }
        nbio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

#[test]
fn write_vectored_hands_every_buffer_to_the_kernel_at_once() {
    watched(|| {
        nbio::block_on(async {
            let (client, server) = tcp_pair().await?;
            let bufs = [
                IoSlice::new(b"HTTP/1.1 200 OK\r\n"),
                IoSlice::new(b"content-length: 5\r\n\r\n"),
                IoSlice::new(b"hello"),
            ];
            // futures-io's default would write only the first buffer (17 bytes).
            let written = client.write_vectored(&bufs).await?;
            assert_eq!(written, 17 + 21 + 5);
            let mut got = vec![0u8; written];
            server.read_exact(&mut got).await?;
            assert_eq!(got, b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn async_write_poll_write_vectored_is_vectored_not_the_first_buffer_default() {
    watched(|| {
        nbio::block_on(async {
            let (mut client, server) = tcp_pair().await?;
            let bufs = [
                IoSlice::new(b"one "),
                IoSlice::new(b"two "),
                IoSlice::new(b"three"),
            ];
            let written = AsyncWriteExt::write_vectored(&mut client, &bufs).await?;
            assert_eq!(written, 13);
            // Through a shared reference too.
            let written = AsyncWriteExt::write_vectored(&mut &client, &bufs[1..]).await?;
            assert_eq!(written, 9);
            let mut got = vec![0u8; 22];
            server.read_exact(&mut got).await?;
            assert_eq!(got, b"one two threetwo three");
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn one_vectored_write_takes_at_most_1024_buffers() {
    watched(|| {
        nbio::block_on(async {
            let (client, server) = tcp_pair().await?;
            let bytes = vec![7u8; 5000];
            let bufs: Vec<IoSlice<'_>> = bytes.chunks(1).map(IoSlice::new).collect();
            let written = client.write_vectored(&bufs).await?;
            assert_eq!(
                written, 1024,
                "the kernel refuses more than IOV_MAX buffers"
            );
            let mut got = vec![0u8; 1024];
            server.read_exact(&mut got).await?;
            assert!(got.iter().all(|&b| b == 7));
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn write_vectored_of_5000_slices_arrives_byte_exact() {
    watched(|| {
        nbio::block_on(async {
            let (client, server) = tcp_pair().await?;
            let buffers = numbered_buffers(5000);
            let expected: Vec<u8> = buffers.concat();
            let reader = nbio::spawn(async move {
                let mut got = Vec::new();
                let mut server = server;
                server.read_to_end(&mut got).await?;
                io::Result::Ok(got)
            });
            let mut rest: Vec<&[u8]> = buffers.iter().map(Vec::as_slice).collect();
            let mut calls = 0;
            while !rest.is_empty() {
                let written = client.write_vectored(&slices(&rest)).await?;
                assert!(written > 0);
                advance(&mut rest, written);
                calls += 1;
            }
            client.shutdown(std::net::Shutdown::Write)?;
            let got = reader.await.unwrap()?;
            assert_eq!(got.len(), expected.len());
            assert!(got == expected, "the bytes arrived out of order");
            assert!(
                calls >= 5,
                "5,000 buffers need at least 5 calls of 1,024: {calls}"
            );
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn a_short_vectored_write_clears_write_readiness_and_the_rest_arrives_after_a_wait() {
    watched(|| {
        nbio::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            set_recv_buffer(&listener, 32 * 1024)?;
            let listener = AsyncTcpListener::from_std(listener)?;
            let client = AsyncTcpStream::connect(listener.local_addr()?).await?;
            set_send_buffer(&client, 32 * 1024)?;
            let (server, _) = listener.accept().await?;
            // Four 1 MiB buffers: far more than both socket buffers hold.
            let buffers: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 1 << 20]).collect();
            let mut rest: Vec<&[u8]> = buffers.iter().map(Vec::as_slice).collect();
            let before = nbio::stats();
            let written = client.write_vectored(&slices(&rest)).await?;
            let after = nbio::stats();
            assert!(written > 0 && written < 4 << 20, "a short write: {written}");
            assert_eq!(
                after.short_writes - before.short_writes,
                1,
                "taking less than the total of the buffers is a short write"
            );
            // Readiness is cleared: the next write waits for the reader instead of trying.
            let reader = nbio::spawn(async move {
                let mut got = Vec::new();
                let mut server = server;
                server.read_to_end(&mut got).await?;
                io::Result::Ok(got)
            });
            advance(&mut rest, written);
            while !rest.is_empty() {
                let more = client.write_vectored(&slices(&rest)).await?;
                advance(&mut rest, more);
            }
            client.shutdown(std::net::Shutdown::Write)?;
            let got = reader.await.unwrap()?;
            assert_eq!(got.len(), 4 << 20);
            for (i, chunk) in got.chunks(1 << 20).enumerate() {
                assert!(
                    chunk.iter().all(|&b| b == i as u8),
                    "buffer {i} arrived intact"
                );
            }
            let waited = nbio::stats().would_block - after.would_block;
            assert!(waited > 0, "the rest of 4 MiB waited for the reader");
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn read_vectored_fills_the_buffers_in_order_inherent_and_async_read() {
    watched(|| {
        nbio::block_on(async {
            let (mut client, server) = tcp_pair().await?;
            server.write_all(b"abcdefghij").await?;
            arrived(&client, 10).await?;
            let (mut a, mut b, mut c) = ([0u8; 3], [0u8; 3], [0u8; 8]);
            let read = client
                .read_vectored(&mut [
                    IoSliceMut::new(&mut a),
                    IoSliceMut::new(&mut b),
                    IoSliceMut::new(&mut c),
                ])
                .await?;
            assert_eq!(read, 10);
            assert_eq!((&a, &b, &c[..4]), (b"abc", b"def", &b"ghij"[..]));
            server.write_all(b"0123").await?;
            arrived(&client, 4).await?;
            let (mut x, mut y) = ([0u8; 2], [0u8; 2]);
            let mut bufs = [IoSliceMut::new(&mut x[..]), IoSliceMut::new(&mut y[..])];
            let read = AsyncReadExt::read_vectored(&mut client, &mut bufs).await?;
            assert_eq!(read, 4);
            assert_eq!((&x, &y), (b"01", b"23"));
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn unix_streams_read_and_write_vectored_too() {
    watched(|| {
        nbio::block_on(async {
            let (mut a, b) = AsyncUnixStream::pair()?;
            let written = a
                .write_vectored(&[IoSlice::new(b"left "), IoSlice::new(b"right")])
                .await?;
            assert_eq!(written, 10);
            let written =
                AsyncWriteExt::write_vectored(&mut a, &[IoSlice::new(b"!"), IoSlice::new(b"?")])
                    .await?;
            assert_eq!(written, 2);
            let (mut head, mut tail) = ([0u8; 5], [0u8; 7]);
            let mut got = 0;
            while got < 12 {
                let mut bufs = [
                    IoSliceMut::new(&mut head[..]),
                    IoSliceMut::new(&mut tail[..]),
                ];
                let n = b.read_vectored(&mut bufs).await?;
                assert!(n > 0);
                got += n;
            }
            assert_eq!((&head, &tail), (b"left ", b"right!?"));
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn write_vectored_of_no_bytes_writes_nothing_and_returns_zero() {
    watched(|| {
        nbio::block_on(async {
            let (a, b) = AsyncUnixStream::pair()?;
            assert_eq!(a.write_vectored(&[]).await?, 0);
            assert_eq!(
                a.write_vectored(&[IoSlice::new(b""), IoSlice::new(b"")])
                    .await?,
                0
            );
            a.write_all(b"x").await?;
            let mut buf = [0u8; 4];
            assert_eq!(b.read(&mut buf).await?, 1, "nothing came before the x");
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn a_vectored_write_to_a_closed_peer_is_an_error_not_sigpipe() {
    // This file's own process: put SIGPIPE back to its default action (death), so that a
    // sendmsg without MSG_NOSIGNAL would end the test binary instead of failing quietly.
    restore_default_sigpipe();
    watched(|| {
        nbio::block_on(async {
            let (client, server) = tcp_pair().await?;
            drop(server);
            let payload = vec![1u8; 64 * 1024];
            let bufs = [IoSlice::new(&payload), IoSlice::new(&payload)];
            // The first writes may land in the buffer before the peer's RST arrives.
            for _ in 0..1000 {
                match client.write_vectored(&bufs).await {
                    Ok(_) => nbio::time::sleep(std::time::Duration::from_millis(1)).await,
                    Err(err) => {
                        assert!(
                            matches!(
                                err.kind(),
                                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
                            ),
                            "{err}"
                        );
                        return io::Result::Ok(());
                    }
                }
            }
            panic!("writing to a closed peer never failed");
        })
    })
    .unwrap();
}
