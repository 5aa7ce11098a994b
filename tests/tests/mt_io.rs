//! Sockets on the multi-thread flavour: a connection's tasks move between workers, its
//! readiness comes from the one reactor whichever worker drives it, and every byte arrives.

use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::Runtime;
use nbio_tests::{raise_fd_limit, watchdog};

const CONNECTIONS: usize = 500;
const MESSAGES: usize = 20;

#[test]
fn five_hundred_connections_echo_byte_exact_on_two_workers() {
    assert!(
        raise_fd_limit() > (CONNECTIONS * 2 + 64) as u64,
        "not enough descriptors"
    );
    let stats = watchdog("500-connection echo", Duration::from_secs(120), || {
        let rt = Runtime::builder()
            .worker_threads(2)
            .slow_poll_threshold(None)
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = nbio::spawn(async move {
                let mut sessions = Vec::new();
                for _ in 0..CONNECTIONS {
                    let (conn, _) = listener.accept().await.unwrap();
                    sessions.push(nbio::spawn(async move {
                        let mut buf = vec![0u8; 4096];
                        loop {
                            match conn.read(&mut buf).await.unwrap() {
                                0 => return,
                                n => conn.write_all(&buf[..n]).await.unwrap(),
                            }
                        }
                    }));
                }
                for session in sessions {
                    session.await.unwrap();
                }
            });
            let clients: Vec<_> = (0..CONNECTIONS)
                .map(|c| {
                    nbio::spawn(async move {
                        let stream = AsyncTcpStream::connect(addr).await.unwrap();
                        for m in 0..MESSAGES {
                            // Messages of different sizes, up to 64 KiB, each byte checkable.
                            let len = 1 + (c * 131 + m * 977) % 65_536;
                            let message: Vec<u8> = (0..len).map(|i| (i + c + m) as u8).collect();
                            stream.write_all(&message).await.unwrap();
                            let mut echoed = vec![0u8; len];
                            stream.read_exact(&mut echoed).await.unwrap();
                            assert_eq!(echoed, message, "connection {c}, message {m}");
                        }
                        stream.shutdown(std::net::Shutdown::Write).unwrap();
                    })
                })
                .collect();
            for client in clients {
                client.await.unwrap();
            }
            server.await.unwrap();
            nbio::stats()
        })
    });
    assert!(stats.io_events > 0, "{stats}");
    assert!(
        stats.workers.iter().all(|w| w.polls > 0),
        "both workers served: {stats:?}"
    );
}
