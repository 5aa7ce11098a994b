//! UDP: datagrams both ways, addressed and connected, and a receive that has to wait.

use std::io;
use std::net::UdpSocket;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use futures_lite::future::poll_once;
use nbio::net::AsyncUdpSocket;
use nbio_tests::watched;

#[test]
fn send_to_and_recv_from_round_trip_with_the_senders_address() {
    let result = watched(|| {
        nbio::block_on(async {
            let client = AsyncUdpSocket::bind("127.0.0.1:0")?;
            let server = AsyncUdpSocket::bind("127.0.0.1:0")?;
            let server_addr = server.local_addr()?;
            let echo = nbio::spawn(async move {
                let mut buf = [0u8; 64];
                let (n, from) = server.recv_from(&mut buf).await?;
                let reply = [&b"echo: "[..], &buf[..n]].concat();
                server.send_to(&reply, from).await?;
                io::Result::Ok(from)
            });
            client.send_to(b"ping", server_addr).await?;
            let mut buf = [0u8; 64];
            let (n, from) = client.recv_from(&mut buf).await?;
            assert_eq!(&buf[..n], b"echo: ping");
            assert_eq!(from, server_addr);
            assert_eq!(echo.await??, client.local_addr()?);
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn connected_send_and_recv_round_trip() {
    let result = watched(|| {
        nbio::block_on(async {
            let a = AsyncUdpSocket::bind("127.0.0.1:0")?;
            let b = AsyncUdpSocket::bind("127.0.0.1:0")?;
            a.connect(b.local_addr()?)?;
            b.connect(a.local_addr()?)?;
            assert_eq!(a.peer_addr()?, b.local_addr()?);
            let replying = nbio::spawn(async move {
                let mut buf = [0u8; 16];
                let n = b.recv(&mut buf).await?;
                b.send(&buf[..n].repeat(2)).await
            });
            assert_eq!(a.send(b"hey").await?, 3);
            let mut buf = [0u8; 16];
            let n = a.recv(&mut buf).await?;
            assert_eq!(replying.await??, 6);
            io::Result::Ok(buf[..n].to_vec())
        })
    });
    assert_eq!(result.unwrap(), b"heyhey");
}

#[test]
fn a_waiting_recv_is_woken_by_datagrams_from_a_plain_thread() {
    let socket = AsyncUdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let (go, wait_for_go) = mpsc::channel::<()>();
    let sender = thread::spawn(move || {
        wait_for_go.recv().unwrap();
        let plain = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..20u8 {
            thread::sleep(Duration::from_micros(300));
            plain.send_to(&[i], addr).unwrap();
        }
    });
    let received = watched(move || {
        nbio::block_on(async move {
            let mut buf = [0u8; 4];
            // Nothing has been sent yet, so this first attempt surely has to wait.
            assert!(poll_once(socket.recv_from(&mut buf)).await.is_none());
            go.send(()).unwrap();
            let mut received = Vec::new();
            while received.len() < 20 {
                let (n, _) = socket.recv_from(&mut buf).await?;
                received.extend_from_slice(&buf[..n]);
            }
            io::Result::Ok((received, nbio::stats()))
        })
    });
    sender.join().unwrap();
    let (received, stats) = received.unwrap();
    assert_eq!(received, (0..20).collect::<Vec<u8>>());
    assert!(
        stats.io_events > 0,
        "no readiness event was delivered: {stats}"
    );
}

#[test]
fn readable_resolves_once_a_datagram_is_waiting() {
    let result = watched(|| {
        nbio::block_on(async {
            let a = AsyncUdpSocket::bind("127.0.0.1:0")?;
            let b = AsyncUdpSocket::bind("127.0.0.1:0")?;
            let b_addr = b.local_addr()?;
            let waiting = nbio::spawn(async move {
                b.readable().await?;
                let mut buf = [0u8; 8];
                b.recv_from(&mut buf).await.map(|(n, _)| buf[..n].to_vec())
            });
            nbio::time::sleep(Duration::from_millis(2)).await;
            a.writable().await?;
            a.send_to(b"ready", b_addr).await?;
            waiting.await?
        })
    });
    assert_eq!(result.unwrap(), b"ready");
}
