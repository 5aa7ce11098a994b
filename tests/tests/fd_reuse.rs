//! A source is deleted from the poller before its fd is closed, so no event reaches a reused
//! fd number.
//!
//! What this proves, and how. Socket A is registered with the poller (it waited once) and has
//! a datagram waiting, so the poller has readiness to report for it. A second descriptor to
//! the same socket (a `dup`) keeps the socket itself open after A's fd is closed. Had nbio
//! closed A's fd without deleting it from the poller first, epoll would keep the registration
//! (it lives as long as the socket, not the fd number) and report A's readiness under A's old
//! key at the next wait: `io_events` would count it while no socket is registered at all.
//! Socket B then gets A's fd number and waits to read; an event of A's delivered to B would
//! wake it for nothing and cost it a second `WouldBlock`.
//!
//! The file holds a single test: fd numbers are handed out lowest-first per process, and
//! another test's sockets opening and closing in parallel would make the reuse a matter of luck.

use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Duration;

use futures_lite::future::poll_once;
use nbio::net::AsyncUdpSocket;
use nbio::time::sleep;
use nbio::Stats;
use nbio_tests::watched;

/// Lets the runtime park in the reactor a few times, so that the poller reports whatever it
/// has to report.
async fn let_the_reactor_wait() {
    for _ in 0..5 {
        sleep(Duration::from_millis(2)).await;
    }
}

struct Observed {
    /// After A was closed and B made (not yet registered): only A's leftovers could be events.
    after_a_closed: Stats,
    /// After B has been waiting to read for a while with nothing sent to it.
    while_b_waits: Stats,
    b_received: Vec<u8>,
    a_leftover: Vec<u8>,
}

#[test]
fn no_event_of_a_closed_socket_reaches_the_socket_that_reuses_its_fd_number() {
    let seen = watched(|| {
        nbio::block_on(async {
            let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
            let std_a = UdpSocket::bind("127.0.0.1:0").unwrap();
            let a_fd = std_a.as_raw_fd();
            let a_addr = std_a.local_addr().unwrap();
            let same_socket_as_a = std_a.try_clone().unwrap();
            let a = AsyncUdpSocket::from_std(std_a).unwrap();

            // A waits once: it is registered with the poller.
            let mut buf = [0u8; 16];
            assert!(poll_once(a.recv_from(&mut buf)).await.is_none());
            // Now A is readable: the poller has an event to report for it.
            sender.send_to(b"for A", a_addr).unwrap();
            drop(a);

            let std_b = UdpSocket::bind("127.0.0.1:0").unwrap();
            assert_eq!(
                std_b.as_raw_fd(),
                a_fd,
                "the new socket did not reuse the fd number; the test proves nothing"
            );
            let b_addr = std_b.local_addr().unwrap();
            let b = AsyncUdpSocket::from_std(std_b).unwrap();
            let_the_reactor_wait().await;
            let after_a_closed = nbio::stats();

            let waiting = nbio::spawn(async move {
                let mut buf = [0u8; 16];
                let (n, _) = b.recv_from(&mut buf).await.unwrap();
                buf[..n].to_vec()
            });
            let_the_reactor_wait().await;
            let while_b_waits = nbio::stats();
            sender.send_to(b"for B", b_addr).unwrap();
            let b_received = waiting.await.unwrap();

            // A's datagram was there all along, unread, in the socket A's fd pointed to.
            same_socket_as_a.set_nonblocking(true).unwrap();
            let n = same_socket_as_a.recv(&mut buf).unwrap();
            Observed {
                after_a_closed,
                while_b_waits,
                b_received,
                a_leftover: buf[..n].to_vec(),
            }
        })
    });
    assert_eq!(seen.a_leftover, b"for A");
    assert_eq!(seen.b_received, b"for B");
    let stats = seen.after_a_closed;
    assert_eq!(
        stats.io_events, 0,
        "an event was reported for the closed socket's registration: {stats}"
    );
    let stats = seen.while_b_waits;
    assert_eq!(
        stats.would_block, 2,
        "A waited once and B once; more means B was woken by an event that was not its own: \
         {stats}"
    );
}
