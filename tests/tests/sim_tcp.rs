//! Simulated TCP inside `nbio::sim`: the production `nbio::net` calls, inside simulated hosts,
//! behave as a Linux socket does where a program can tell. Each test fails if the simulated
//! stream stops behaving that way: echo, short writes under bounded buffers, refused
//! connections, end of stream after a FIN, and half-close.

use std::io;
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::sim::Sim;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A host that echoes every connection on port 7000 until its peer shuts down.
async fn echo_server() -> io::Result<()> {
    let listener = AsyncTcpListener::bind("0.0.0.0:7000")?;
    loop {
        let (conn, _) = listener.accept().await?;
        nbio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                let n = conn.read(&mut buf).await?;
                if n == 0 {
                    return conn.shutdown(Shutdown::Write);
                }
                conn.write_all(&buf[..n]).await?;
            }
        });
    }
}

#[test]
fn echo_between_two_hosts_by_name() {
    let mut sim = Sim::builder().seed(1).latency(ms(1)..=ms(3)).build();
    sim.host("echo", echo_server);
    sim.client("c1", async {
        let conn = AsyncTcpStream::connect("echo:7000").await?;
        assert_eq!(conn.peer_addr()?, "10.0.0.1:7000".parse().unwrap());
        assert_eq!(
            conn.local_addr()?.ip(),
            "10.0.0.2".parse::<std::net::IpAddr>().unwrap()
        );
        conn.write_all(b"hello, simulated world").await?;
        let mut buf = [0u8; 22];
        conn.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"hello, simulated world");
        io::Result::Ok(())
    });
    let report = sim.run().unwrap_or_else(|err| panic!("{err}"));
    // SYN, SYN-ACK, the data, its echo: four one-way trips of at least 1 ms.
    assert!(report.elapsed >= ms(4), "{:?}", report.elapsed);
    assert!(report.delivered >= 2);
}

#[test]
fn a_write_larger_than_the_buffers_completes_through_short_writes() {
    let received = Arc::new(Mutex::new(0usize));
    let counted = Arc::clone(&received);
    let mut sim = Sim::builder().seed(2).buffers(4096, 4096).build();
    sim.host("sink", move || {
        let counted = Arc::clone(&counted);
        async move {
            let listener = AsyncTcpListener::bind("0.0.0.0:9000")?;
            let (conn, _) = listener.accept().await?;
            let mut buf = [0u8; 1000];
            loop {
                // A slow reader: the sender's window fills and empties.
                nbio::time::sleep(ms(1)).await;
                match conn.read(&mut buf).await? {
                    0 => return io::Result::Ok(()),
                    n => *counted.lock().unwrap() += n,
                }
            }
        }
    });
    sim.client("source", async {
        let conn = AsyncTcpStream::connect("sink:9000").await?;
        let data = vec![7u8; 256 * 1024];
        conn.write_all(&data).await?;
        conn.shutdown(Shutdown::Write)?;
        // Wait for the sink to have read it all: its reads end the connection.
        nbio::time::sleep(Duration::from_secs(5)).await;
        io::Result::Ok(())
    });
    let report = sim.run().unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(*received.lock().unwrap(), 256 * 1024);
    assert!(report.short_writes > 0, "no short write: {report:?}");
    assert!(report.would_block > 0, "no WouldBlock: {report:?}");
}

#[test]
fn try_write_says_would_block_when_the_window_is_full() {
    let mut sim = Sim::builder().seed(3).buffers(100, 100).build();
    sim.host("silent", || async {
        let listener = AsyncTcpListener::bind("0.0.0.0:1")?;
        let (_conn, _) = listener.accept().await?;
        std::future::pending::<io::Result<()>>().await
    });
    sim.client("c", async {
        let conn = AsyncTcpStream::connect("silent:1").await?;
        assert_eq!(conn.try_write(&[0u8; 150])?, 150);
        assert_eq!(conn.try_write(&[0u8; 150])?, 50, "a short write");
        let err = conn.try_write(&[0u8; 1]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        io::Result::Ok(())
    });
    let report = sim.run().unwrap_or_else(|err| panic!("{err}"));
    assert_eq!((report.short_writes, report.would_block), (1, 1));
}

#[test]
fn connecting_where_nothing_listens_is_refused() {
    let mut sim = Sim::builder().seed(4).build();
    sim.host("idle", || async { std::future::pending::<()>().await });
    sim.client("c", async {
        let err = AsyncTcpStream::connect("idle:5432").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert!(err.to_string().contains("10.0.0.1:5432"), "{err}");
        let err = AsyncTcpStream::connect("nowhere:5432").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("nowhere"), "{err}");
    });
    sim.run().unwrap_or_else(|err| panic!("{err}"));
}

#[test]
fn a_read_returns_the_data_then_zero_after_a_fin_and_half_close_keeps_the_other_way() {
    let mut sim = Sim::builder().seed(5).build();
    sim.host("server", || async {
        let listener = AsyncTcpListener::bind("0.0.0.0:80")?;
        let (conn, _) = listener.accept().await?;
        let mut request = Vec::new();
        let mut buf = [0u8; 3];
        loop {
            match conn.read(&mut buf).await? {
                0 => break,
                n => request.extend_from_slice(&buf[..n]),
            }
        }
        // The client shut its write half only: the answer still reaches it.
        conn.write_all(format!("got {} bytes", request.len()).as_bytes())
            .await?;
        io::Result::Ok(())
    });
    sim.client("c", async {
        let conn = AsyncTcpStream::connect("server:80").await?;
        conn.write_all(b"request").await?;
        conn.shutdown(Shutdown::Write)?;
        let mut answer = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match conn.read(&mut buf).await? {
                0 => break,
                n => answer.extend_from_slice(&buf[..n]),
            }
        }
        assert_eq!(answer, b"got 7 bytes");
        let err = conn.write(b"more").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        io::Result::Ok(())
    });
    sim.run().unwrap_or_else(|err| panic!("{err}"));
}

#[test]
fn lookup_host_inside_a_host_resolves_host_names() {
    let mut sim = Sim::builder().seed(6).build();
    sim.host("db1", || async { std::future::pending::<()>().await });
    sim.client("c", async {
        let addrs: Vec<_> = nbio::net::lookup_host("db1:7000")
            .await?
            .into_iter()
            .collect();
        assert_eq!(addrs, ["10.0.0.1:7000".parse().unwrap()]);
        let own: Vec<_> = nbio::net::lookup_host("localhost:1")
            .await?
            .into_iter()
            .collect();
        assert_eq!(own, ["10.0.0.2:1".parse().unwrap()]);
        io::Result::Ok(())
    });
    sim.run().unwrap_or_else(|err| panic!("{err}"));
}

#[test]
fn a_reader_whose_data_never_runs_out_still_lets_other_tasks_run() {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let ticks_while_reading = Arc::new(AtomicU64::new(0));
    let noted = Arc::clone(&ticks_while_reading);
    let mut sim = Sim::builder().seed(7).build();
    sim.host("sink", move || {
        let noted = Arc::clone(&noted);
        async move {
            let listener = AsyncTcpListener::bind("0.0.0.0:9")?;
            let (conn, _) = listener.accept().await?;
            let mut byte = [0u8; 1];
            conn.read_exact(&mut byte).await?; // all 10,000 bytes are in the buffer now
                                               // Ticks until the reading is over. (Started only now: while a task is always
                                               // runnable the virtual clock stands still, and the data would never arrive.)
            let ticks = Arc::new(AtomicU64::new(0));
            let ticking = Arc::clone(&ticks);
            nbio::spawn(async move {
                while ticking.fetch_add(1, Relaxed) != u64::MAX {
                    nbio::yield_now().await;
                }
            });
            let before = ticks.load(Relaxed);
            for _ in 1..10_000 {
                conn.read_exact(&mut byte).await?;
            }
            noted.store(ticks.swap(u64::MAX, Relaxed) - before, Relaxed);
            io::Result::Ok(())
        }
    });
    sim.client("source", async {
        let conn = AsyncTcpStream::connect("sink:9").await?;
        conn.write_all(&[1u8; 10_000]).await?;
        nbio::time::sleep(Duration::from_secs(1)).await;
        io::Result::Ok(())
    });
    sim.run().unwrap_or_else(|err| panic!("{err}"));
    // The budget makes a read that could go on return Pending now and then.
    assert!(
        ticks_while_reading.load(Relaxed) > 10,
        "{ticks_while_reading:?}"
    );
}
