//! Socket options on `AsyncTcpStream` and `TcpSocket`: each set, then read back from the
//! kernel; bad values refused with an error a caller can match.

use std::io;
use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream, TcpSocket};
use nbio_tests::watched;

fn connected() -> io::Result<(AsyncTcpListener, AsyncTcpStream)> {
    nbio::block_on(async {
        let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
        let stream = AsyncTcpStream::connect(listener.local_addr()?).await?;
        Ok((listener, stream))
    })
}

#[test]
fn keepalive_on_with_an_idle_time_then_off() {
    let result = watched(|| {
        let (_listener, stream) = connected()?;
        assert_eq!(stream.keepalive()?, None);
        stream.set_keepalive(Some(Duration::from_secs(30)))?;
        assert_eq!(stream.keepalive()?, Some(Duration::from_secs(30)));
        // A fraction of a second is rounded up to the kernel's whole seconds.
        stream.set_keepalive(Some(Duration::from_millis(1500)))?;
        assert_eq!(stream.keepalive()?, Some(Duration::from_secs(2)));
        stream.set_keepalive(None)?;
        assert_eq!(stream.keepalive()?, None);

        let socket = TcpSocket::new_v4()?;
        socket.set_keepalive(Some(Duration::from_secs(7)))?;
        assert_eq!(socket.keepalive()?, Some(Duration::from_secs(7)));
        io::Result::Ok(())
    });
    result.unwrap();
}

#[test]
fn keepalive_out_of_range_is_invalid_input_and_changes_nothing() {
    let result = watched(|| {
        let (_listener, stream) = connected()?;
        for idle in [Duration::ZERO, Duration::from_secs(40_000)] {
            let err = stream.set_keepalive(Some(idle)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(
                err.to_string().contains("None to turn keepalive off"),
                "{err}"
            );
        }
        assert_eq!(stream.keepalive()?, None);
        io::Result::Ok(())
    });
    result.unwrap();
}

#[test]
fn linger_set_read_back_and_cleared() {
    let result = watched(|| {
        let (_listener, stream) = connected()?;
        assert_eq!(stream.linger()?, None);
        stream.set_linger(Some(Duration::from_secs(3)))?;
        assert_eq!(stream.linger()?, Some(Duration::from_secs(3)));
        stream.set_linger(Some(Duration::ZERO))?;
        assert_eq!(stream.linger()?, Some(Duration::ZERO));
        stream.set_linger(None)?;
        assert_eq!(stream.linger()?, None);

        let socket = TcpSocket::new_v4()?;
        socket.set_linger(Some(Duration::from_secs(1)))?;
        assert_eq!(socket.linger()?, Some(Duration::from_secs(1)));
        io::Result::Ok(())
    });
    result.unwrap();
}

#[test]
fn linger_zero_resets_the_connection_on_drop() {
    let result = watched(|| {
        nbio::block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let stream = AsyncTcpStream::connect(listener.local_addr()?).await?;
            let (accepted, _) = listener.accept().await?;
            stream.set_linger(Some(Duration::ZERO))?;
            drop(stream);
            let mut buf = [0u8; 8];
            let err = accepted.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn ttl_on_v4_and_v6_sockets() {
    let result = watched(|| {
        let (_listener, stream) = connected()?;
        stream.set_ttl(17)?;
        assert_eq!(stream.ttl()?, 17);

        let socket = TcpSocket::new_v4()?;
        socket.set_ttl(255)?;
        assert_eq!(socket.ttl()?, 255);

        // An IPv6 socket takes the hop limit; skip where the host has no IPv6.
        if let Ok(v6) = TcpSocket::new_v6() {
            v6.set_ttl(9)?;
            assert_eq!(v6.ttl()?, 9);
        }
        io::Result::Ok(())
    });
    result.unwrap();
}

#[test]
fn ttl_out_of_range_is_invalid_input() {
    let result = watched(|| {
        let socket = TcpSocket::new_v4()?;
        let before = socket.ttl()?;
        for ttl in [0, 256] {
            let err = socket.set_ttl(ttl).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("between 1 and 255"), "{err}");
        }
        assert_eq!(socket.ttl()?, before);
        io::Result::Ok(())
    });
    result.unwrap();
}

#[test]
fn buffer_sizes_read_back_what_the_kernel_chose() {
    let result = watched(|| {
        let (_listener, stream) = connected()?;
        stream.set_send_buffer_size(64 * 1024)?;
        stream.set_recv_buffer_size(64 * 1024)?;
        // Linux doubles what it is asked for (within its limits); at least the request holds.
        assert!(stream.send_buffer_size()? >= 64 * 1024);
        assert!(stream.recv_buffer_size()? >= 64 * 1024);

        let socket = TcpSocket::new_v4()?;
        socket.set_send_buffer_size(8 * 1024)?;
        socket.set_recv_buffer_size(8 * 1024)?;
        if cfg!(target_os = "linux") {
            assert_eq!(socket.send_buffer_size()?, 16 * 1024);
            assert_eq!(socket.recv_buffer_size()?, 16 * 1024);
        }
        // A tiny request is raised to the kernel's minimum, not refused.
        socket.set_send_buffer_size(1)?;
        assert!(socket.send_buffer_size()? > 1);
        io::Result::Ok(())
    });
    result.unwrap();
}

#[test]
fn options_set_on_a_socket_carry_to_its_connection() {
    let result = watched(|| {
        nbio::block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let socket = TcpSocket::new_v4()?;
            socket.set_keepalive(Some(Duration::from_secs(45)))?;
            socket.set_ttl(33)?;
            let stream = socket.connect(listener.local_addr()?).await?;
            assert_eq!(stream.keepalive()?, Some(Duration::from_secs(45)));
            assert_eq!(stream.ttl()?, 33);
            io::Result::Ok(())
        })
    });
    result.unwrap();
}
