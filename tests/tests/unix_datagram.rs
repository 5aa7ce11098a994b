//! Unix datagram sockets: a pair, bound sockets exchanging with addresses, a receiver that
//! waits, errors that name the path, and what a dropped `recv` or `send` loses (nothing).

use std::io::{self, ErrorKind};
use std::pin::pin;
use std::thread;
use std::time::Duration;

use futures_lite::future::poll_once;
use nbio::net::AsyncUnixDatagram;
use nbio_tests::{watched, TempDir};

#[test]
fn a_pair_plays_ping_pong_keeping_boundaries() {
    let result = watched(|| {
        nbio::block_on(async {
            let (a, b) = AsyncUnixDatagram::pair()?;
            let echo = nbio::spawn(async move {
                let mut buf = [0u8; 64];
                for _ in 0..3 {
                    let n = b.recv(&mut buf).await?;
                    b.send(&[&b"pong "[..], &buf[..n]].concat()).await?;
                }
                io::Result::Ok(())
            });
            let mut buf = [0u8; 64];
            for word in [&b"one"[..], b"two", b"three"] {
                assert_eq!(a.send(word).await?, word.len());
                let n = a.recv(&mut buf).await?;
                assert_eq!(&buf[..n], [&b"pong "[..], word].concat());
            }
            echo.await.unwrap()?;
            assert!(a.peer_addr()?.is_unnamed());
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn bound_sockets_exchange_with_addresses() {
    let dir = TempDir::new();
    let (path_a, path_b) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    let result = watched(move || {
        nbio::block_on(async move {
            let a = AsyncUnixDatagram::bind(&path_a)?;
            let b = AsyncUnixDatagram::bind(&path_b)?;
            assert_eq!(a.local_addr()?.as_pathname(), Some(path_a.as_path()));
            a.send_to(b"ping", &path_b).await?;
            let mut buf = [0u8; 16];
            let (n, from) = b.recv_from(&mut buf).await?;
            assert_eq!(&buf[..n], b"ping");
            assert_eq!(from.as_pathname(), Some(path_a.as_path()));
            // Reply to whoever sent it.
            b.send_to(b"pong", from.as_pathname().unwrap()).await?;
            let (n, from) = a.recv_from(&mut buf).await?;
            assert_eq!(
                (&buf[..n], from.as_pathname()),
                (&b"pong"[..], Some(path_b.as_path()))
            );

            // An unbound sender is unnamed to its receiver; connected, it gets the reply.
            let c = AsyncUnixDatagram::unbound()?;
            c.connect(&path_b)?;
            assert_eq!(c.peer_addr()?.as_pathname(), Some(path_b.as_path()));
            c.send(b"anon").await?;
            let (n, from) = b.recv_from(&mut buf).await?;
            assert_eq!(&buf[..n], b"anon");
            assert!(from.is_unnamed());
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn a_receiver_waits_for_a_datagram_sent_later_from_another_thread() {
    let result = watched(|| {
        nbio::block_on(async {
            let (plain, b) = std::os::unix::net::UnixDatagram::pair()?;
            let b = AsyncUnixDatagram::from_std(b)?;
            let thread = thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                plain.send(b"late")
            });
            let mut buf = [0u8; 16];
            let n = b.recv(&mut buf).await?;
            assert_eq!(&buf[..n], b"late");
            thread.join().unwrap()?;
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn a_dropped_recv_loses_no_datagram() {
    let result = watched(|| {
        nbio::block_on(async {
            let (a, b) = AsyncUnixDatagram::pair()?;
            let mut buf = [0u8; 16];
            {
                let mut recv = pin!(b.recv(&mut buf));
                assert!(poll_once(recv.as_mut()).await.is_none(), "nothing sent yet");
                // The datagram arrives while the receive is parked; it is dropped unpolled.
                a.send(b"kept").await?;
            }
            let n = b.recv(&mut buf).await?;
            assert_eq!(&buf[..n], b"kept");
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn a_dropped_send_has_sent_nothing() {
    let result = watched(|| {
        nbio::block_on(async {
            let (a, b) = AsyncUnixDatagram::pair()?;
            // Fill the receiver's queue.
            let mut sent = 0u64;
            loop {
                match a.try_send(&sent.to_le_bytes()) {
                    Ok(_) => sent += 1,
                    Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                    Err(err) => return Err(err),
                }
            }
            {
                let send = pin!(a.send(b"never"));
                assert!(poll_once(send).await.is_none(), "the queue is full");
            }
            let mut got = 0u64;
            let mut buf = [0u8; 16];
            loop {
                match b.try_recv(&mut buf) {
                    Ok(n) => {
                        assert_eq!(&buf[..n], got.to_le_bytes(), "in order, none extra");
                        got += 1;
                    }
                    Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                    Err(err) => return Err(err),
                }
            }
            assert_eq!(got, sent);
            // With room again, a send that waited goes through.
            a.send(b"now").await?;
            let n = b.recv(&mut buf).await?;
            assert_eq!(&buf[..n], b"now");
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn a_full_queue_makes_the_sender_wait_until_the_receiver_reads() {
    let result = watched(|| {
        nbio::block_on(async {
            let (a, b) = AsyncUnixDatagram::pair()?;
            while a.try_send(b"fill").is_ok() {}
            let sender = nbio::spawn(async move { a.send(b"last").await });
            nbio::time::sleep(Duration::from_millis(20)).await;
            let mut buf = [0u8; 16];
            let mut last = false;
            while !last {
                let n = b.recv(&mut buf).await?;
                last = &buf[..n] == b"last";
            }
            assert_eq!(sender.await.unwrap()?, 4);
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn try_forms_report_would_block_and_readable_waits() {
    let result = watched(|| {
        nbio::block_on(async {
            let (a, b) = AsyncUnixDatagram::pair()?;
            let mut buf = [0u8; 16];
            assert_eq!(
                b.try_recv(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            a.writable().await?;
            a.try_send(b"hi")?;
            b.readable().await?;
            let (n, from) = b.try_recv_from(&mut buf)?;
            assert_eq!(&buf[..n], b"hi");
            assert!(from.is_unnamed());
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn errors_name_the_path() {
    let dir = TempDir::new();
    let taken = dir.path().join("taken.sock");
    let missing = dir.path().join("missing.sock");
    let result = watched(move || {
        nbio::block_on(async move {
            let _first = AsyncUnixDatagram::bind(&taken)?;
            let err = AsyncUnixDatagram::bind(&taken).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AddrInUse);
            assert!(err.to_string().contains(&*taken.to_string_lossy()), "{err}");

            let socket = AsyncUnixDatagram::unbound()?;
            let err = socket.send_to(b"x", &missing).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert!(
                err.to_string().contains(&*missing.to_string_lossy()),
                "{err}"
            );
            let err = socket.try_send_to(b"x", &missing).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert!(err.to_string().contains("missing.sock"), "{err}");
            let err = socket.connect(&missing).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::NotFound);
            assert!(err.to_string().contains("missing.sock"), "{err}");
            assert_eq!(
                socket.peer_addr().unwrap_err().kind(),
                ErrorKind::NotConnected
            );
            io::Result::Ok(())
        })
    });
    result.unwrap();
}
