//! `TcpSocket`: the options `bind` cannot say (`SO_REUSEADDR`, `SO_REUSEPORT`, the backlog),
//! and errors for what cannot work.
//!
//! DESIGN.md, "What libraries build on": "nbio::net::TcpSocket: new_v4(), new_v6(),
//! set_reuseaddr, set_reuseport, bind(addr), listen(backlog) -> AsyncTcpListener,
//! connect(addr).await -> AsyncTcpStream (as tokio's TcpSocket)".

use std::io::{self, ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nbio::net::{AsyncTcpListener, TcpSocket};
use nbio_tests::{closed_port, watched};

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Whether a connection on local `port` is in `TIME_WAIT`, from `/proc/net/tcp` (state 06).
fn in_time_wait(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local_port = fields[1].rsplit(':').next().unwrap();
        u16::from_str_radix(local_port, 16) == Ok(port) && fields[3] == "06"
    })
}

/// The listen backlog of a listening socket, as the kernel keeps it: Linux reports it in
/// `tcpi_sacked` of `TCP_INFO` for a socket in the LISTEN state.
fn kernel_backlog(listener: &AsyncTcpListener) -> u32 {
    // SAFETY: tcp_info is plain data; getsockopt writes at most `len` bytes into it, on a
    // descriptor the listener keeps open for the call.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        assert_eq!(rc, 0, "TCP_INFO: {}", io::Error::last_os_error());
        info.tcpi_sacked
    }
}

/// A connection whose server side closes first, leaving the server's port in `TIME_WAIT`.
/// Returns the port.
fn leave_a_port_in_time_wait() -> u16 {
    let socket = TcpSocket::new_v4().unwrap();
    // The lingering connection must have SO_REUSEADDR itself (it inherits the listener's),
    // as every server socket std or nbio binds does.
    socket.set_reuseaddr(true).unwrap();
    socket.bind(loopback(0)).unwrap();
    let port = socket.local_addr().unwrap().port();
    let listener = socket.listen(8).unwrap();
    let mut client = TcpStream::connect(loopback(port)).unwrap();
    let conn = nbio::block_on(async { listener.accept().await.map(|(conn, _)| conn) }).unwrap();
    // The server closes first: its side goes through FIN_WAIT to TIME_WAIT.
    drop(conn);
    drop(listener);
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !in_time_wait(port) {
        assert!(
            Instant::now() < deadline,
            "port {port} never reached TIME_WAIT"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    port
}

#[test]
fn reuseaddr_rebinds_a_port_whose_old_connection_is_in_time_wait() {
    let port = leave_a_port_in_time_wait();
    let plain = TcpSocket::new_v4().unwrap();
    let refused = plain.bind(loopback(port)).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::AddrInUse, "{refused}");
    assert!(refused.to_string().contains("set_reuseaddr"), "{refused}");
    let reusing = TcpSocket::new_v4().unwrap();
    reusing.set_reuseaddr(true).unwrap();
    assert!(reusing.reuseaddr().unwrap());
    reusing.bind(loopback(port)).unwrap();
    let listener = reusing.listen(16).unwrap();
    assert_eq!(listener.local_addr().unwrap().port(), port);
    watched(move || {
        nbio::block_on(async {
            let client = nbio::net::AsyncTcpStream::connect(loopback(port)).await?;
            let (conn, peer) = listener.accept().await?;
            assert_eq!(peer, client.local_addr()?);
            conn.write_all(b"back").await?;
            let mut buf = [0u8; 4];
            client.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"back");
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn listen_keeps_the_backlog_it_was_given() {
    for backlog in [1, 7, 300] {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(loopback(0)).unwrap();
        let listener = socket.listen(backlog).unwrap();
        assert_eq!(kernel_backlog(&listener), backlog);
    }
    // Beyond what an int holds: the kernel caps it (at net.core.somaxconn), no error.
    let socket = TcpSocket::new_v4().unwrap();
    let listener = socket.listen(u32::MAX).unwrap();
    assert!(kernel_backlog(&listener) >= 128);
    assert_ne!(
        listener.local_addr().unwrap().port(),
        0,
        "an unbound socket listens on a port the system picks"
    );
}

#[test]
fn reuseport_lets_two_listeners_share_a_port_and_both_accept() {
    let first = TcpSocket::new_v4().unwrap();
    first.set_reuseport(true).unwrap();
    assert!(first.reuseport().unwrap());
    first.bind(loopback(0)).unwrap();
    let port = first.local_addr().unwrap().port();
    let second = TcpSocket::new_v4().unwrap();
    second.set_reuseport(true).unwrap();
    second.bind(loopback(port)).unwrap();
    let (first, second) = (first.listen(64).unwrap(), second.listen(64).unwrap());
    // The kernel spreads connections by a hash of the client's address: with enough of them
    // both listeners get some.
    let clients: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect(loopback(port)).unwrap())
        .collect();
    let counts = watched(move || {
        nbio::block_on(async {
            let (mut a, mut b) = (0, 0);
            let deadline = Instant::now() + Duration::from_secs(10);
            while a + b < 64 && Instant::now() < deadline {
                let accept_a = nbio::time::timeout(Duration::from_millis(5), first.accept());
                if accept_a.await.is_ok() {
                    a += 1;
                }
                let accept_b = nbio::time::timeout(Duration::from_millis(5), second.accept());
                if accept_b.await.is_ok() {
                    b += 1;
                }
            }
            (a, b)
        })
    });
    drop(clients);
    assert_eq!(
        counts.0 + counts.1,
        64,
        "every connection accepted: {counts:?}"
    );
    assert!(
        counts.0 > 0 && counts.1 > 0,
        "both listeners served: {counts:?}"
    );
}

#[test]
fn without_reuseport_a_second_listener_on_the_port_is_addr_in_use() {
    let first = TcpSocket::new_v4().unwrap();
    first.bind(loopback(0)).unwrap();
    let port = first.local_addr().unwrap().port();
    let _listener = first.listen(8).unwrap();
    let second = TcpSocket::new_v4().unwrap();
    second.set_reuseaddr(true).unwrap();
    let err = second.bind(loopback(port)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&port.to_string()), "{err}");
}

#[test]
fn a_v4_socket_refuses_a_v6_address_and_says_which_constructor_to_use() {
    let v4 = TcpSocket::new_v4().unwrap();
    let err = v4.bind("[::1]:0".parse().unwrap()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("TcpSocket::new_v6"), "{err}");
    let err = nbio::block_on(v4.connect("[::1]:80".parse().unwrap())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let v6 = TcpSocket::new_v6().unwrap();
    let err = v6.bind(loopback(0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("TcpSocket::new_v4"), "{err}");
}

#[test]
fn binding_twice_is_invalid_input_naming_the_address() {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(loopback(0)).unwrap();
    let err = socket.bind(loopback(0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("bound already"), "{err}");
}

#[test]
fn connect_from_a_bound_socket_uses_its_address_and_options() {
    watched(|| {
        nbio::block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let socket = TcpSocket::new_v4()?;
            socket.set_nodelay(true)?;
            socket.bind(loopback(0))?;
            let from = socket.local_addr()?;
            let stream = socket.connect(listener.local_addr()?).await?;
            assert_eq!(stream.local_addr()?, from);
            assert!(stream.nodelay()?);
            let (_, peer) = listener.accept().await?;
            assert_eq!(peer, from);
            io::Result::Ok(())
        })
    })
    .unwrap();
}

#[test]
fn connect_to_a_closed_port_is_refused_naming_the_address() {
    let addr = closed_port();
    let err =
        watched(move || nbio::block_on(TcpSocket::new_v4().unwrap().connect(addr))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[test]
fn a_v6_socket_listens_and_connects_on_the_v6_loopback() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback on this machine: nothing to test");
        return;
    }
    watched(|| {
        nbio::block_on(async {
            let socket = TcpSocket::new_v6()?;
            socket.bind("[::1]:0".parse().unwrap())?;
            let listener = socket.listen(4)?;
            let addr = listener.local_addr()?;
            let client = TcpSocket::new_v6()?.connect(addr).await?;
            let (_, peer) = listener.accept().await?;
            assert_eq!(peer, client.local_addr()?);
            io::Result::Ok(())
        })
    })
    .unwrap();
}
