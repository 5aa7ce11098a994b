//! An operation whose future is dropped before it completes (a timeout, a lost race, an aborted
//! task) takes its waker back from the socket.

use std::net::TcpListener;
use std::time::Duration;

use nbio::net::{AsyncTcpStream, AsyncUdpSocket};
use nbio::time::timeout;

#[test]
fn a_read_abandoned_by_a_timeout_leaves_no_waiter_on_the_socket() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    nbio::block_on(async move {
        let stream = AsyncTcpStream::connect(addr).await.unwrap();
        let _peer = listener.accept().unwrap();
        let mut buf = [0u8; 16];
        let read = timeout(Duration::from_millis(20), stream.read(&mut buf)).await;
        assert!(read.is_err(), "nothing was sent, the read must time out");
        assert_eq!(nbio::stats().io_waiters, 0, "{}", nbio::stats());
    });
}

#[test]
fn an_aborted_task_waiting_on_a_socket_leaves_no_waiter_and_the_socket_still_works() {
    nbio::block_on(async {
        let socket = std::sync::Arc::new(AsyncUdpSocket::bind("127.0.0.1:0").unwrap());
        let waiting = nbio::spawn({
            let socket = std::sync::Arc::clone(&socket);
            async move {
                let mut buf = [0u8; 16];
                socket.recv_from(&mut buf).await.map(|(n, _)| n)
            }
        });
        nbio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(nbio::stats().io_waiters, 1, "the task waits on the socket");
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        assert_eq!(nbio::stats().io_waiters, 0, "{}", nbio::stats());

        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sender
            .send_to(b"still here", socket.local_addr().unwrap())
            .unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = socket.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"still here");
    });
}
