//! `nbio::io::copy` and `copy_bidirectional`: every byte, in order, with the count; the writer
//! flushed at the end and whenever the reader must wait; `WriteZero` for a writer that takes
//! nothing; a drop loses what was read and not yet written (and nothing else); and a TCP proxy
//! that passes half-closes through in each direction. (In the spirit of tokio's
//! tests/io_copy.rs and io_copy_bidirectional.rs.)

use std::io;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};

use futures_lite::io::BufWriter;
use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use nbio::io::{copy, copy_bidirectional, duplex};
use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::process::{Command, Stdio};
use nbio_tests::WakeCounter;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn copy_moves_every_byte_and_counts_them() {
    nbio::block_on(async {
        let data = pattern(1 << 20);
        let mut source: &[u8] = &data;
        let mut sink = Vec::new();
        assert_eq!(copy(&mut source, &mut sink).await.unwrap(), 1 << 20);
        assert!(sink == data);
    });
}

#[test]
fn copy_through_cat_is_byte_exact() {
    nbio::block_on(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let data = pattern(8 << 20);
        let sent = data.clone();
        let writer = nbio::spawn(async move {
            let mut source: &[u8] = &sent;
            let n = copy(&mut source, &mut stdin).await.unwrap();
            stdin.close().await.unwrap();
            n
        });
        let mut got = Vec::new();
        assert_eq!(copy(&mut stdout, &mut got).await.unwrap(), 8 << 20);
        assert_eq!(writer.await.unwrap(), 8 << 20);
        assert!(got == data, "cat gave back other bytes");
        assert!(child.wait().await.unwrap().success());
    });
}

/// A writer that takes nothing.
struct Full;

impl AsyncWrite for Full {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(0))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[test]
fn a_writer_that_takes_nothing_fails_the_copy_with_write_zero() {
    nbio::block_on(async {
        let mut source: &[u8] = b"abc";
        let err = copy(&mut source, &mut Full).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
    });
}

/// A reader that fails after some bytes.
struct FailsAfter(usize);

impl AsyncRead for FailsAfter {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.0 == 0 {
            return Poll::Ready(Err(io::Error::other("the disk is on fire")));
        }
        let n = self.0.min(buf.len());
        self.0 -= n;
        Poll::Ready(Ok(n))
    }
}

#[test]
fn a_read_error_ends_the_copy_with_that_error() {
    nbio::block_on(async {
        let err = copy(&mut FailsAfter(100), &mut Vec::new())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "the disk is on fire");
    });
}

#[test]
fn a_buffered_writer_is_flushed_when_the_reader_waits() {
    nbio::block_on(async {
        let (mut feed, mut source) = duplex(64);
        let (sink, mut out) = duplex(64);
        let copier = nbio::spawn(async move {
            let mut sink = BufWriter::new(sink);
            copy(&mut source, &mut sink).await
        });
        feed.write_all(b"hello").await.unwrap();
        // The copy now waits for more: it must have flushed "hello" out of its BufWriter, or
        // this read would wait forever.
        let mut buf = [0u8; 5];
        out.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        drop(feed);
        assert_eq!(copier.await.unwrap().unwrap(), 5);
    });
}

#[test]
fn a_dropped_copy_loses_the_bytes_it_read_and_had_not_written_and_no_others() {
    let (mut feed, mut source) = duplex(64);
    let (mut sink, mut out) = duplex(4);
    futures_lite::future::block_on(feed.write_all(b"0123456789")).unwrap();
    let counter = WakeCounter::new();
    {
        let mut copying = pin!(copy(&mut source, &mut sink));
        assert!(
            counter.poll(copying.as_mut()).is_pending(),
            "4 of 10 fit the sink"
        );
    } // dropped: the 6 bytes in its buffer are gone
    futures_lite::future::block_on(feed.write_all(b"after")).unwrap();
    drop(feed);
    drop(sink);
    let mut got = Vec::new();
    futures_lite::future::block_on(out.read_to_end(&mut got)).unwrap();
    assert_eq!(got, b"0123", "the sink holds what the copy wrote");
    let mut rest = Vec::new();
    futures_lite::future::block_on(source.read_to_end(&mut rest)).unwrap();
    assert_eq!(rest, b"after", "the source lost what the copy read: 456789");
}

async fn tcp_pair(listener: &AsyncTcpListener) -> (AsyncTcpStream, AsyncTcpStream) {
    let client = AsyncTcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

/// client <-> (proxy_a | proxy_b) <-> server, over four TCP sockets; the proxy is
/// `copy_bidirectional(proxy_a, proxy_b)`.
#[test]
fn a_tcp_proxy_passes_each_half_close_through_and_counts_both_ways() {
    nbio::block_on(async {
        let listener = AsyncTcpListener::bind("127.0.0.1:0").unwrap();
        let (client, mut proxy_a) = tcp_pair(&listener).await;
        let (mut proxy_b, server) = tcp_pair(&listener).await;
        let proxy =
            nbio::spawn(async move { copy_bidirectional(&mut proxy_a, &mut proxy_b).await });
        let request = pattern(3 << 20);
        let response = pattern(1 << 20);
        // The client sends its request and half-closes; the server reads to end of stream
        // (which only the proxy's shutdown can give it), then answers and closes.
        let client_side = nbio::spawn({
            let request = request.clone();
            async move {
                client.write_all(&request).await.unwrap();
                client.shutdown(std::net::Shutdown::Write).unwrap();
                let mut got = Vec::new();
                (&client).read_to_end(&mut got).await.unwrap();
                got
            }
        });
        let mut got = Vec::new();
        (&server).read_to_end(&mut got).await.unwrap();
        assert!(got == request, "the server got other bytes");
        server.write_all(&response).await.unwrap();
        server.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(
            client_side.await.unwrap() == response,
            "the client got other bytes"
        );
        assert_eq!(proxy.await.unwrap().unwrap(), (3 << 20, 1 << 20));
    });
}

#[test]
fn copy_bidirectional_goes_on_in_one_direction_after_the_other_ended() {
    nbio::block_on(async {
        let (mut client, mut proxy_a) = duplex(16);
        let (mut proxy_b, mut server) = duplex(16);
        let proxy =
            nbio::spawn(async move { copy_bidirectional(&mut proxy_a, &mut proxy_b).await });
        client.close().await.unwrap(); // nothing to send
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert!(got.is_empty());
        let answer = nbio::spawn(async move {
            for _ in 0..100 {
                server.write_all(b"0123456789").await.unwrap(); // 1,000 bytes, 16-byte pipes
            }
            server.close().await.unwrap();
        });
        let mut back = Vec::new();
        client.read_to_end(&mut back).await.unwrap();
        assert_eq!(back.len(), 1000);
        answer.await.unwrap();
        assert_eq!(proxy.await.unwrap().unwrap(), (0, 1000));
    });
}

#[test]
fn copy_bidirectional_returns_the_first_error() {
    nbio::block_on(async {
        let (mut a, mut proxy_a) = duplex(16);
        let (mut proxy_b, b) = duplex(16);
        drop(b); // writes to proxy_b fail with BrokenPipe
        a.write_all(b"x").await.unwrap();
        let err = copy_bidirectional(&mut proxy_a, &mut proxy_b)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    });
}
