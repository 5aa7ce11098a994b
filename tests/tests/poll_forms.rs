//! The poll forms libraries build their own futures on: `poll_read_ready`/`poll_write_ready`
//! on streams and UDP sockets, `poll_accept` on listeners, and `incoming()`, a `Stream` of
//! connections.
//!
//! DESIGN.md, "What libraries build on": "poll_read_ready / poll_write_ready(cx)",
//! "AsyncTcpListener::poll_accept(cx), incoming() -> impl Stream<Item =
//! io::Result<AsyncTcpStream>>".

use std::future::Future;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::future::poll_once;
use futures_lite::StreamExt;
use nbio::net::{
    AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, AsyncUnixListener, AsyncUnixStream,
};
use nbio_tests::{watched, TempDir};

/// A future written by hand, as a library would: accepts `left` connections with
/// `poll_accept` and returns their peers' addresses.
struct AcceptAll<'a> {
    listener: &'a AsyncTcpListener,
    left: usize,
    peers: Vec<SocketAddr>,
}

impl Future for AcceptAll<'_> {
    type Output = io::Result<Vec<SocketAddr>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        while self.left > 0 {
            match self.listener.poll_accept(cx) {
                Poll::Ready(Ok((stream, peer))) => {
                    assert_eq!(stream.peer_addr()?, peer);
                    self.peers.push(peer);
                    self.left -= 1;
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(std::mem::take(&mut self.peers)))
    }
}

#[test]
fn poll_accept_in_a_hand_written_future_accepts_every_client() {
    watched(|| {
        nbio::block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            // The clients connect later, from another task: the future must wait for them.
            let clients = nbio::spawn(async move {
                let mut clients = Vec::new();
                for _ in 0..5 {
                    nbio::time::sleep(Duration::from_millis(2)).await;
                    clients.push(AsyncTcpStream::connect(addr).await?);
                }
                io::Result::Ok(clients)
            });
            let mut peers = AcceptAll {
                listener: &listener,
                left: 5,
                peers: Vec::new(),
            }
            .await?;
            let clients = clients.await.unwrap()?;
            let mut expected: Vec<SocketAddr> =
                clients.iter().map(|c| c.local_addr().unwrap()).collect();
            peers.sort();
            expected.sort();
            assert_eq!(peers, expected);
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn poll_accept_with_no_client_is_pending() {
    watched(|| {
        nbio::block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let polled = poll_once(std::future::poll_fn(|cx| listener.poll_accept(cx))).await;
            assert!(polled.is_none(), "nobody connected");
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn incoming_serves_50_clients_each_on_its_own_task() {
    const CLIENTS: usize = 50;
    watched(|| {
        nbio::block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let server = nbio::spawn(async move {
                let mut incoming = listener.incoming();
                let mut served = 0;
                while served < CLIENTS {
                    let conn = incoming.next().await.expect("incoming never ends")?;
                    // An echo of one line per connection.
                    nbio::spawn(async move {
                        let mut buf = [0u8; 64];
                        let n = conn.read(&mut buf).await?;
                        conn.write_all(&buf[..n]).await
                    });
                    served += 1;
                }
                io::Result::Ok(served)
            });
            let mut clients = Vec::new();
            for i in 0..CLIENTS {
                clients.push(nbio::spawn(async move {
                    let conn = AsyncTcpStream::connect(addr).await?;
                    let message = format!("client {i}");
                    conn.write_all(message.as_bytes()).await?;
                    let mut got = vec![0u8; message.len()];
                    conn.read_exact(&mut got).await?;
                    assert_eq!(got, message.as_bytes());
                    io::Result::Ok(())
                }));
            }
            for client in clients {
                client.await.unwrap()?;
            }
            assert_eq!(server.await.unwrap()?, CLIENTS);
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn dropping_a_pending_incoming_takes_its_waker_back() {
    watched(|| {
        nbio::block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let mut incoming = listener.incoming();
            assert!(poll_once(incoming.next()).await.is_none());
            assert_eq!(
                nbio::stats().io_waiters,
                1,
                "the stream waits on the listener"
            );
            drop(incoming);
            assert_eq!(nbio::stats().io_waiters, 0, "and stops when dropped");
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn unix_listeners_offer_poll_accept_and_incoming_too() {
    let dir = TempDir::new();
    let path = dir.path().join("poll.sock");
    watched(move || {
        nbio::block_on(async {
            let listener = AsyncUnixListener::bind(&path)?;
            let first = AsyncUnixStream::connect(&path).await?;
            let (conn, _) = std::future::poll_fn(|cx| listener.poll_accept(cx)).await?;
            first.write_all(b"1").await?;
            let mut buf = [0u8; 1];
            conn.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"1");
            let second = AsyncUnixStream::connect(&path).await?;
            let conn = listener.incoming().next().await.expect("never ends")?;
            conn.write_all(b"2").await?;
            second.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"2");
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn poll_read_ready_is_pending_until_data_arrives_then_try_read_takes_it() {
    watched(|| {
        nbio::block_on(async {
            let (a, b) = AsyncUnixStream::pair()?;
            // Nothing was sent: not readable (a new socket's guess does not count).
            let polled = poll_once(std::future::poll_fn(|cx| b.poll_read_ready(cx))).await;
            assert!(polled.is_none(), "a silent peer is not readable");
            let writer = nbio::spawn(async move {
                nbio::time::sleep(Duration::from_millis(5)).await;
                a.write_all(b"late").await?;
                io::Result::Ok(a)
            });
            std::future::poll_fn(|cx| b.poll_read_ready(cx)).await?;
            let mut buf = [0u8; 8];
            let n = b.try_read(&mut buf)?;
            assert_eq!(&buf[..n], b"late");
            // Drained: the next try clears the readiness, and the poll waits again.
            assert_eq!(
                b.try_read(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            let polled = poll_once(std::future::poll_fn(|cx| b.poll_read_ready(cx))).await;
            assert!(polled.is_none(), "readiness was cleared by WouldBlock");
            drop(writer.await.unwrap()?);
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn poll_write_ready_resolves_on_a_connected_stream() {
    watched(|| {
        nbio::block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let client = AsyncTcpStream::connect(listener.local_addr()?).await?;
            std::future::poll_fn(|cx| client.poll_write_ready(cx)).await?;
            assert_eq!(client.try_write(b"x")?, 1);
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn udp_poll_read_ready_waits_for_a_datagram_and_poll_write_ready_resolves() {
    watched(|| {
        nbio::block_on(async {
            let a = AsyncUdpSocket::bind("127.0.0.1:0")?;
            let b = AsyncUdpSocket::bind("127.0.0.1:0")?;
            let polled = poll_once(std::future::poll_fn(|cx| b.poll_read_ready(cx))).await;
            assert!(polled.is_none(), "no datagram yet");
            std::future::poll_fn(|cx| a.poll_write_ready(cx)).await?;
            a.try_send_to(b"ping", b.local_addr()?)?;
            std::future::poll_fn(|cx| b.poll_read_ready(cx)).await?;
            let mut buf = [0u8; 8];
            let (n, from) = b.try_recv_from(&mut buf)?;
            assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
            io::Result::Ok(())
        })
    })
    .unwrap();
}
