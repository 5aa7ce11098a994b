//! Writes to a peer that went away are errors, never `SIGPIPE`.
//!
//! DESIGN.md: "Writes never raise SIGPIPE; a peer that resets mid-`write_all` yields an error,
//! not a dead process." A Rust program ignores `SIGPIPE` from start-up, which would hide a
//! write that raises it; so this file (its own test process) puts the signal back to its
//! default action first. A write without `MSG_NOSIGNAL` would then kill the whole test binary.

use std::io::{self, ErrorKind, Read};
use std::net::{Shutdown, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Once};
use std::thread;
use std::time::Duration;

use futures_lite::io::AsyncWriteExt;
use nbio::net::{AsyncTcpStream, AsyncUnixStream};
use nbio::time::sleep;
use nbio_tests::{restore_default_sigpipe, set_linger_zero, watched};

fn sigpipe_kills() {
    static ONCE: Once = Once::new();
    ONCE.call_once(restore_default_sigpipe);
}

/// The kinds a write to a vanished peer may fail with, depending on what the kernel saw first.
fn is_peer_gone(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}

#[test]
fn a_peer_that_resets_mid_write_all_gives_an_error_and_other_tasks_run_on() {
    sigpipe_kills();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // The peer reads a little, so that the transfer is well under way, then resets.
    let peer = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut start = vec![0u8; 64 * 1024];
        conn.read_exact(&mut start).unwrap();
        set_linger_zero(&conn).unwrap();
        drop(conn);
    });
    let (result, counted_after_error, answer) = watched(move || {
        nbio::block_on(async {
            let count = Arc::new(AtomicU64::new(0));
            let counter = nbio::spawn({
                let count = Arc::clone(&count);
                async move {
                    loop {
                        count.fetch_add(1, SeqCst);
                        sleep(Duration::from_micros(500)).await;
                    }
                }
            });
            let sock = AsyncTcpStream::connect(addr).await.unwrap();
            // Far more than any socket buffer holds: the reset lands mid-transfer.
            let data = vec![b'x'; 64 << 20];
            let result = sock.write_all(&data).await;
            let at_error = count.load(SeqCst);
            sleep(Duration::from_millis(5)).await;
            let counted_after_error = count.load(SeqCst) - at_error;
            counter.abort();
            let answer = nbio::spawn(async { 6 * 7 }).await.unwrap();
            (result, counted_after_error, answer)
        })
    });
    peer.join().unwrap();
    let err = result.expect_err("write_all to a reset peer must fail");
    assert!(is_peer_gone(&err), "unexpected error: {err:?}");
    assert!(
        counted_after_error > 0,
        "the counter stopped after the error"
    );
    assert_eq!(answer, 42, "the runtime must keep working after the error");
}

#[test]
fn writing_to_a_closed_unix_peer_is_broken_pipe_through_every_write_path() {
    sigpipe_kills();
    let errors = watched(|| {
        nbio::block_on(async {
            let (mut a, b) = AsyncUnixStream::pair().unwrap();
            drop(b);
            let inherent_write = a.write(b"x").await.unwrap_err();
            let inherent_write_all = a.write_all(b"xyz").await.unwrap_err();
            let trait_write_all = AsyncWriteExt::write_all(&mut a, b"xyz").await.unwrap_err();
            [inherent_write, inherent_write_all, trait_write_all]
        })
    });
    for err in errors {
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err:?}");
    }
}

#[test]
fn writing_to_a_tcp_peer_that_shut_down_fails_without_killing_the_process() {
    sigpipe_kills();
    let err = watched(|| {
        nbio::block_on(async {
            let listener = nbio::net::AsyncTcpListener::bind("127.0.0.1:0").unwrap();
            let client = AsyncTcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            drop(server);
            client.shutdown(Shutdown::Read).unwrap();
            // The first write may still be accepted by the kernel; the peer answers it with a
            // reset, and a later one fails. Bounded: a few rounds are plenty.
            for _ in 0..100 {
                if let Err(err) = client.write_all(&[0u8; 4096]).await {
                    return err;
                }
                sleep(Duration::from_millis(1)).await;
            }
            panic!("writes to a closed peer kept succeeding");
        })
    });
    assert!(is_peer_gone(&err), "unexpected error: {err:?}");
}
