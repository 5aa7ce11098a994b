//! Faults in `nbio::sim` really happen: a partitioned segment is not delivered until the link
//! is repaired, a crash drops every task of the host (their destructors run) and resets its
//! connections, a restart runs the host's factory again, and a failure names the seed that
//! replays it and the faults so far.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::sim::{Sim, SimFailure};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A client connects to a server, calls `cut`, writes 3 bytes, waits 3 s, calls `mend` and
/// waits 1 s more: when (from the start) the bytes reached the server, and the report.
fn arrival(seed: u64, cut: fn(), mend: fn()) -> (Duration, nbio::sim::SimReport) {
    let arrived = Arc::new(Mutex::new(None));
    let noted = Arc::clone(&arrived);
    let mut sim = Sim::builder().seed(seed).build();
    sim.host("server", move || {
        let noted = Arc::clone(&noted);
        async move {
            let start = nbio::time::now();
            let listener = AsyncTcpListener::bind("0.0.0.0:7")?;
            let (conn, _) = listener.accept().await?;
            let mut buf = [0u8; 3];
            conn.read_exact(&mut buf).await?;
            *noted.lock().unwrap() = Some(nbio::time::now() - start);
            io::Result::Ok(())
        }
    });
    sim.client("c", async move {
        let conn = AsyncTcpStream::connect("server:7").await?;
        cut();
        conn.write_all(b"abc").await?;
        nbio::time::sleep(secs(3)).await;
        mend();
        nbio::time::sleep(secs(1)).await;
        io::Result::Ok(())
    });
    let report = sim.run().unwrap_or_else(|err| panic!("{err}"));
    let arrived = arrived.lock().unwrap().expect("delivered after the mend");
    (arrived, report)
}

#[test]
fn a_partitioned_message_is_not_delivered_until_repair() {
    let (arrived, report) = arrival(
        11,
        || nbio::sim::partition("c", "server"),
        || nbio::sim::repair("c", "server"),
    );
    assert!(
        (secs(3)..secs(4)).contains(&arrived),
        "arrived at {arrived:?}"
    );
    assert_eq!(report.faults.len(), 2, "{:?}", report.faults);
    assert!(report.faults[0].starts_with("partition(c, server)"));
    assert!(report
        .log()
        .iter()
        .any(|line| line.contains("Stalled c->server")));
}

#[test]
fn a_hold_delays_tcp_until_release_and_loses_nothing() {
    let (arrived, report) = arrival(
        17,
        || nbio::sim::hold("c", "server"),
        || nbio::sim::release("c", "server"),
    );
    assert!(
        (secs(3)..secs(4)).contains(&arrived),
        "arrived at {arrived:?}"
    );
    assert!(report.faults[1].starts_with("release(c, server)"));
}

/// Sets its flag when dropped: a destructor that must run when its host crashes.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

#[test]
fn a_crashed_hosts_destructors_run_and_its_peer_sees_connection_reset() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&dropped);
    let mut sim = Sim::builder().seed(12).build();
    sim.host("db", move || {
        let flag = Arc::clone(&flag);
        async move {
            let listener = AsyncTcpListener::bind("0.0.0.0:5432")?;
            let (conn, _) = listener.accept().await?;
            // A task of the host, spawned from it: the crash must reach it too.
            let guard = SetOnDrop(Arc::clone(&flag));
            nbio::spawn(async move {
                let _guard = guard;
                let _conn = conn;
                std::future::pending::<()>().await
            });
            std::future::pending::<io::Result<()>>().await
        }
    });
    let seen = Arc::clone(&dropped);
    sim.client("c", async move {
        let conn = AsyncTcpStream::connect("db:5432").await?;
        nbio::time::sleep(secs(1)).await;
        nbio::sim::crash("db");
        let mut buf = [0u8; 1];
        let err = conn.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        // Not at the end of the run, when every task is dropped: by the time the reset
        // arrived.
        assert!(seen.load(SeqCst), "the crashed host's task was not dropped");
        let err = AsyncTcpStream::connect("db:5432").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        io::Result::Ok(())
    });
    let report = sim.run().unwrap_or_else(|err| panic!("{err}"));
    assert!(
        report.faults[0].starts_with("crash(db)"),
        "{:?}",
        report.faults
    );
}

/// Greets every connection on port 5432 with one byte.
async fn greet() -> io::Result<()> {
    let listener = AsyncTcpListener::bind("0.0.0.0:5432")?;
    loop {
        let (conn, _) = listener.accept().await?;
        conn.write_all(b"!").await?;
    }
}

#[test]
fn a_restarted_host_runs_its_factory_again_and_serves() {
    // Under every seed: whichever runs first, the new incarnation binding its port or the old
    // one's listener being dropped, the new listener stays.
    for seed in 0..64 {
        let starts = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&starts);
        let mut sim = Sim::builder().seed(seed).build();
        sim.host("db", move || {
            counted.fetch_add(1, SeqCst);
            greet()
        });
        sim.client("c", async {
            nbio::time::sleep(secs(1)).await;
            nbio::sim::restart("db");
            nbio::time::sleep(secs(1)).await;
            let conn = AsyncTcpStream::connect("db:5432").await?;
            let mut buf = [0u8; 1];
            conn.read_exact(&mut buf).await?;
            io::Result::Ok(())
        });
        sim.run().unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(starts.load(SeqCst), 2);
    }
}

#[test]
fn a_failed_run_names_its_seed_and_the_faults_so_far() {
    let mut sim = Sim::builder().seed(424242).build();
    sim.host("db", || async { std::future::pending::<()>().await });
    sim.client("c", async {
        nbio::sim::partition("c", "db");
        nbio::time::sleep(secs(2)).await;
        Err::<(), _>(io::Error::other("the write was lost"))
    });
    let err = sim.run().unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("NBIO_SEED=424242 replays this run"),
        "{text}"
    );
    assert!(text.contains("c failed: the write was lost"), "{text}");
    assert!(text.contains("partition(c, db) at 0ns"), "{text}");
    assert_eq!(err.at, secs(2));
}

#[test]
fn a_panic_in_a_hosts_task_fails_the_run() {
    let mut sim = Sim::builder().seed(14).build();
    sim.host("db", || async {
        nbio::spawn(async { panic!("an invariant broke") });
        std::future::pending::<()>().await
    });
    sim.client("c", nbio::time::sleep(secs(1)));
    let err = sim.run().unwrap_err();
    assert_eq!(
        err.failure,
        SimFailure::Panic {
            host: "db".into(),
            message: "an invariant broke".into()
        }
    );
}

#[test]
fn a_real_socket_inside_a_host_is_an_error_naming_its_call_site() {
    let mut sim = Sim::builder().seed(16).build();
    sim.client("c", async {
        let err = nbio::net::AsyncUnixStream::pair().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert!(err.to_string().contains("sim_faults.rs:"), "{err}");
    });
    let err = sim.run().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("AsyncUnixStream::pair at tests/tests/sim_faults.rs:"),
        "{text}"
    );
    assert!(text.contains("inside simulated host c"), "{text}");
    // Outside a simulation the same call is fine.
    nbio::block_on(async { nbio::net::AsyncUnixStream::pair().map(drop) }).unwrap();
}

#[test]
fn a_task_that_never_waits_fails_the_run_as_a_livelock_instead_of_hanging() {
    let mut sim = Sim::builder().seed(18).build();
    sim.host("spinner", || async {
        // A retry loop with no sleep: it yields, but the virtual clock can never move.
        loop {
            nbio::yield_now().await;
        }
        #[allow(unreachable_code)]
        ()
    });
    sim.client("c", nbio::time::sleep(secs(1)));
    let err = sim.run().unwrap_err();
    assert!(
        matches!(&err.failure, SimFailure::Livelock { host, .. } if host == "spinner"),
        "{err}"
    );
    assert!(err.to_string().contains("a livelock"), "{err}");
}
