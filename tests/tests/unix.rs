//! Unix domain stream sockets: a listener in a temporary directory, and `pair()`.

use std::io::{self, ErrorKind};
use std::net::Shutdown;

use nbio::net::{AsyncUnixListener, AsyncUnixStream};
use nbio_tests::{watched, TempDir};

#[test]
fn bind_accept_connect_round_trip_in_a_temp_dir() {
    let dir = TempDir::new();
    let path = dir.path().join("server.sock");
    let result = watched(move || {
        nbio::block_on(async move {
            let listener = AsyncUnixListener::bind(&path)?;
            assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
            let server = nbio::spawn(async move {
                let (conn, _) = listener.accept().await?;
                let mut request = [0u8; 5];
                conn.read_exact(&mut request).await?;
                conn.write_all(&[&request[..], b" back"].concat()).await?;
                conn.shutdown(Shutdown::Write)?;
                io::Result::Ok(())
            });
            let client = AsyncUnixStream::connect(&path).await?;
            assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
            client.write_all(b"hello").await?;
            let mut reply = Vec::new();
            let mut buf = [0u8; 4];
            loop {
                match client.read(&mut buf).await? {
                    0 => break,
                    n => reply.extend_from_slice(&buf[..n]),
                }
            }
            server.await??;
            io::Result::Ok(reply)
        })
    });
    assert_eq!(result.unwrap(), b"hello back");
}

#[test]
fn a_pair_carries_a_megabyte_each_way() {
    const BYTES: usize = 1 << 20;
    let result = watched(|| {
        nbio::block_on(async {
            let (a, b) = AsyncUnixStream::pair()?;
            let a_sends = nbio::spawn(async move {
                let data: Vec<u8> = (0..BYTES).map(|i| (i % 253) as u8).collect();
                a.write_all(&data).await?;
                let mut back = vec![0u8; BYTES];
                a.read_exact(&mut back).await?;
                io::Result::Ok(back == data)
            });
            let mut got = vec![0u8; BYTES];
            b.read_exact(&mut got).await?;
            b.write_all(&got).await?;
            let round_trip_exact = a_sends.await??;
            io::Result::Ok((round_trip_exact, nbio::stats()))
        })
    });
    let (round_trip_exact, stats) = result.unwrap();
    assert!(round_trip_exact, "the bytes came back changed");
    assert!(
        stats.would_block > 0,
        "a megabyte fit without waiting: {stats}"
    );
}

#[test]
fn connect_to_a_missing_socket_file_fails_and_names_the_path() {
    let dir = TempDir::new();
    let path = dir.path().join("nobody-here.sock");
    let err = nbio::block_on(AsyncUnixStream::connect(&path)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "the message does not name the path: {err}"
    );
}

#[test]
fn bind_to_a_path_in_use_fails_and_names_the_path() {
    let dir = TempDir::new();
    let path = dir.path().join("taken.sock");
    let _first = AsyncUnixListener::bind(&path).unwrap();
    let err = AsyncUnixListener::bind(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn read_at_end_of_a_unix_stream_returns_zero_and_read_exact_reports_unexpected_eof() {
    let result = watched(|| {
        nbio::block_on(async {
            let (a, b) = AsyncUnixStream::pair()?;
            a.write_all(b"abc").await?;
            drop(a);
            let mut buf = [0u8; 8];
            let err = b.read_exact(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
            b.read(&mut buf).await
        })
    });
    assert_eq!(result.unwrap(), 0);
}
