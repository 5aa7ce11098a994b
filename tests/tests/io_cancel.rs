//! What a dropped socket operation loses, as each one's "Cancel safety:" line says: `read` and
//! `write` nothing, `write_all` a prefix it does not report, `read_exact` what it had read.

use std::pin::pin;

use futures_lite::future::poll_once;
use nbio::net::AsyncUnixStream;

/// Fills `stream`'s send buffer (and the peer's receive buffer) until a write would wait;
/// returns how many bytes went in.
fn fill(stream: &AsyncUnixStream) -> usize {
    let chunk = [1u8; 64 * 1024];
    let mut total = 0;
    loop {
        match stream.try_write(&chunk) {
            Ok(n) => total += n,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return total,
            Err(err) => panic!("{err}"),
        }
    }
}

/// Reads everything `stream` holds now (the peer must have closed its write side).
async fn drain(stream: &AsyncUnixStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf).await.unwrap() {
            0 => return all,
            n => all.extend_from_slice(&buf[..n]),
        }
    }
}

#[test]
fn a_dropped_read_loses_nothing() {
    nbio::block_on(async {
        let (a, b) = AsyncUnixStream::pair().unwrap();
        let mut buf = [0u8; 8];
        {
            let read = pin!(b.read(&mut buf));
            assert!(poll_once(read).await.is_none(), "nothing yet: it waits");
        } // dropped while it waited
        a.write_all(b"kept").await.unwrap();
        let mut buf = [0u8; 8];
        let n = b.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"kept");
    });
}

#[test]
fn a_dropped_write_that_waited_wrote_nothing() {
    nbio::block_on(async {
        let (a, b) = AsyncUnixStream::pair().unwrap();
        let before = fill(&a);
        {
            let write = pin!(a.write(b"must not arrive"));
            assert!(poll_once(write).await.is_none(), "full: it waits");
        }
        a.shutdown(std::net::Shutdown::Write).unwrap();
        let got = drain(&b).await;
        assert_eq!(
            got.len(),
            before,
            "only what went in before the dropped write"
        );
        assert!(got.iter().all(|&byte| byte == 1));
    });
}

#[test]
fn a_dropped_write_all_may_have_written_a_prefix_and_nothing_else() {
    nbio::block_on(async {
        let (a, b) = AsyncUnixStream::pair().unwrap();
        let data: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
        {
            let mut write_all = pin!(a.write_all(&data));
            assert!(
                poll_once(write_all.as_mut()).await.is_none(),
                "4 MiB do not fit"
            );
        }
        a.shutdown(std::net::Shutdown::Write).unwrap();
        let got = drain(&b).await;
        assert!(
            !got.is_empty() && got.len() < data.len(),
            "a part: {}",
            got.len()
        );
        assert_eq!(
            got,
            data[..got.len()],
            "what arrived is a prefix of the data"
        );
    });
}

#[test]
fn a_dropped_read_exact_loses_what_it_had_read() {
    nbio::block_on(async {
        let (a, b) = AsyncUnixStream::pair().unwrap();
        a.write_all(b"first").await.unwrap();
        {
            let mut buf = [0u8; 10];
            let read_exact = pin!(b.read_exact(&mut buf));
            assert!(
                poll_once(read_exact).await.is_none(),
                "5 of 10 bytes: it waits"
            );
        } // dropped with "first" read into its buffer
        a.write_all(b"later").await.unwrap();
        let mut buf = [0u8; 16];
        let n = b.read(&mut buf).await.unwrap();
        assert_eq!(
            &buf[..n],
            b"later",
            "the first five bytes are gone with the future"
        );
    });
}
