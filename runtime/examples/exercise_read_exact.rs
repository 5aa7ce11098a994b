//! The answer to the exercise of the guide's chapter 5, "`write_all`, line by line".
//!
//! The exercise: write `read_exact` the way chapter 5 writes `write_all`, with nothing but
//! nbio's one-attempt operation (`try_read`) and its wait for readiness (`readable`): read
//! until the buffer is full, wait whenever the socket has nothing, and fail with
//! `UnexpectedEof` if the peer closes first. What does a drop of your future lose?
//!
//! The answer is `read_exact` below; nbio's own is `Registered::read_exact` in
//! `runtime/src/net/stream.rs`. What a drop loses: the bytes already read into `buf` are
//! consumed from the socket, and whoever reads next will not see them. So `read_exact` is not
//! cancel safe, and neither is nbio's (a `select!` branch or a `timeout` around it can lose
//! part of a message); `read` is, since it consumes only in the poll that returns.
//!
//! Run it with `cargo run -p nbio --example exercise_read_exact`.

use std::io;
use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream};

/// Fills `buf` from `stream`, waiting for readiness whenever the socket has nothing.
async fn read_exact(stream: &AsyncTcpStream, mut buf: &mut [u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match stream.try_read(buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the peer closed with {} bytes still to read", buf.len()),
                ))
            }
            Ok(n) => buf = &mut buf[n..],
            // Nothing now: the readiness bit is cleared; wait for the poller's next edge.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => stream.readable().await?,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    nbio::block_on(async {
        let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let writer = nbio::spawn(async move {
            let stream = AsyncTcpStream::connect(addr).await?;
            // Three pieces, apart: the reader must wait between them.
            for piece in [&b"he"[..], b"llo, ", b"world"] {
                stream.write_all(piece).await?;
                nbio::time::sleep(Duration::from_millis(5)).await;
            }
            io::Result::Ok(())
        });
        let (conn, _) = listener.accept().await?;
        let waits = nbio::stats().would_block;
        let mut buf = [0u8; 12];
        read_exact(&conn, &mut buf).await?;
        println!(
            "read {:?} after {} waits for readability",
            String::from_utf8_lossy(&buf),
            nbio::stats().would_block - waits
        );
        assert_eq!(&buf, b"hello, world");
        writer.await.expect("the writer task")?;
        // The peer is gone now: a read for more ends in UnexpectedEof.
        let err = read_exact(&conn, &mut [0u8; 1]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        Ok(())
    })
}
