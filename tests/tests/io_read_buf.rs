//! `read_buf(&mut Vec<u8>)` on every stream: it appends into the spare capacity (reserving some
//! when there is none), returns the count and 0 at end of stream, and is cancel-safe: a
//! `read_buf` that loses a race (to a timer, in `select!`) leaves the vector as it was and the
//! bytes in the stream, so the next `read_buf` gets them all. (tokio's tests/io_read_buf.rs,
//! in nbio's words, and the cancellation case it lacks.)

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use futures_lite::AsyncWriteExt;
use nbio::net::{AsyncTcpListener, AsyncTcpStream, AsyncUnixStream};
use nbio::process::{Command, Stdio};
use nbio::time::sleep;

/// The streams' `read_buf`, behind one name for the test below.
trait ReadBuf {
    fn read_buf_boxed<'a>(
        &'a mut self,
        buf: &'a mut Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = io::Result<usize>> + 'a>>;
}

macro_rules! read_buf {
    ($($ty:ty),*) => {$(
        impl ReadBuf for $ty {
            fn read_buf_boxed<'a>(
                &'a mut self,
                buf: &'a mut Vec<u8>,
            ) -> Pin<Box<dyn Future<Output = io::Result<usize>> + 'a>> {
                Box::pin(self.read_buf(buf))
            }
        }
    )*};
}

read_buf!(
    AsyncTcpStream,
    AsyncUnixStream,
    nbio::process::ChildStdout,
    nbio::io::DuplexStream
);

/// Races `read_buf` with a 20 ms timer while nothing has arrived: the timer
/// wins and the read is dropped. Then `send` delivers `data`, and the next `read_buf` calls
/// collect all of it: no byte lost, no zero left in `buf` by the dropped read.
async fn a_lost_race_loses_nothing(mut stream: impl ReadBuf, send: impl Future<Output = ()>) {
    let mut buf = b"kept".to_vec();
    let won = nbio::select! {
        n = stream.read_buf_boxed(&mut buf) => panic!("read {n:?} before anything was sent"),
        _ = sleep(Duration::from_millis(20)) => "timer",
    };
    assert_eq!(won, "timer");
    assert_eq!(buf, b"kept", "a dropped read_buf changed the vector");
    send.await;
    while buf.len() < 4 + 10 {
        let n = stream.read_buf_boxed(&mut buf).await.unwrap();
        assert_ne!(n, 0, "end of stream before all the data: got {buf:?}");
    }
    assert_eq!(buf, b"kept0123456789");
}

#[test]
fn tcp_read_buf_raced_with_a_timer_loses_nothing() {
    nbio::block_on(async {
        let listener = AsyncTcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = AsyncTcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let send = async move { client.write_all(b"0123456789").await.unwrap() };
        a_lost_race_loses_nothing(server, send).await;
    });
}

#[test]
fn unix_read_buf_raced_with_a_timer_loses_nothing() {
    nbio::block_on(async {
        let (a, b) = AsyncUnixStream::pair().unwrap();
        let send = async move { a.write_all(b"0123456789").await.unwrap() };
        a_lost_race_loses_nothing(b, send).await;
    });
}

#[test]
fn child_stdout_read_buf_raced_with_a_timer_loses_nothing() {
    nbio::block_on(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let send = async move {
            stdin.write_all(b"0123456789").await.unwrap();
            stdin.close().await.unwrap();
        };
        a_lost_race_loses_nothing(stdout, send).await;
        child.wait().await.unwrap();
    });
}

#[test]
fn duplex_read_buf_raced_with_a_timer_loses_nothing() {
    nbio::block_on(async {
        let (mut a, b) = nbio::io::duplex(64);
        let send = async move { a.write_all(b"0123456789").await.unwrap() };
        a_lost_race_loses_nothing(b, send).await;
    });
}

#[test]
fn read_buf_fills_at_most_the_spare_capacity_and_reserves_when_there_is_none() {
    nbio::block_on(async {
        let (a, b) = AsyncUnixStream::pair().unwrap();
        a.write_all(&[7u8; 100]).await.unwrap();
        let mut buf = Vec::with_capacity(10);
        buf.extend_from_slice(&[1, 2, 3]);
        let capacity = buf.capacity();
        let n = b.read_buf(&mut buf).await.unwrap();
        assert_eq!(n, capacity - 3, "it read into the spare room only");
        assert_eq!(
            buf.capacity(),
            capacity,
            "with room spare, nothing is reserved"
        );
        assert_eq!(&buf[..3], &[1, 2, 3]);
        let mut empty = Vec::new();
        let n = b.read_buf(&mut empty).await.unwrap();
        assert_eq!(n, 100 - (capacity - 3));
        assert!(empty.capacity() >= 8 * 1024, "no room: 8 KiB reserved");
        drop(a);
        assert_eq!(b.read_buf(&mut empty).await.unwrap(), 0, "end of stream");
    });
}

#[test]
fn read_buf_reads_a_large_stream_whole() {
    nbio::block_on(async {
        let (a, b) = AsyncUnixStream::pair().unwrap();
        let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 253) as u8).collect();
        let expected = data.clone();
        let writer = nbio::spawn(async move {
            a.write_all(&data).await.unwrap();
        });
        let mut got = Vec::new();
        while b.read_buf(&mut got).await.unwrap() != 0 {}
        writer.await.unwrap();
        assert!(got == expected, "the bytes read differ from those sent");
    });
}
