//! Liveness in `nbio::sim`: a run that can no longer move fails at once as a deadlock, naming
//! every host's tasks and what they wait on, with the seed that replays it; a cycle of tasks
//! waiting on each other fails the run even while other hosts' timers go on; a run that is
//! only slow still fails at the time limit; and `check_determinism` fails on a cycle instead
//! of hanging.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::sim::{Sim, SimFailure};
use nbio::sync::Mutex;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Two tasks of the calling host, each locking `a` and `b` in its own order, with a sleep
/// between the two locks so that each holds its first when it asks for its second.
async fn lock_in_opposite_orders() {
    let (a, b) = (Arc::new(Mutex::new(())), Arc::new(Mutex::new(())));
    let first = nbio::spawn({
        let (a, b) = (Arc::clone(&a), Arc::clone(&b));
        async move {
            let _a = a.lock().await;
            nbio::time::sleep(Duration::from_millis(10)).await;
            let _b = b.lock().await;
        }
    });
    let second = nbio::spawn(async move {
        let _b = b.lock().await;
        nbio::time::sleep(Duration::from_millis(10)).await;
        let _a = a.lock().await;
    });
    first.await.unwrap();
    second.await.unwrap();
}

/// A client's script: connects to `addr` and reads `n` bytes.
async fn read_from(addr: &str, n: usize) -> io::Result<()> {
    let conn = AsyncTcpStream::connect(addr).await?;
    let mut buf = vec![0u8; n];
    conn.read_exact(&mut buf).await
}

/// Runs `sim`, which must fail as a deadlock with a message that starts with the seed's line:
/// the message, the cycles and the tasks.
fn deadlock(sim: Sim) -> (nbio::sim::SimError, Vec<String>, Vec<String>) {
    let seed = sim.seed();
    let err = sim.run().unwrap_err();
    let text = err.to_string();
    let SimFailure::Deadlock { cycles, tasks } = err.failure.clone() else {
        panic!("not a deadlock: {text}");
    };
    let replay = format!("NBIO_SEED={seed} replays this run: a deadlock");
    assert!(text.starts_with(&replay), "{text}");
    (err, cycles, tasks)
}

#[test]
fn two_mutexes_locked_in_opposite_orders_fail_the_run_naming_the_tasks_and_their_host() {
    let mut sim = Sim::builder().seed(21).time_limit(secs(600)).build();
    sim.host("db1", || async {
        let listener = AsyncTcpListener::bind("0.0.0.0:7000")?;
        let (conn, _) = listener.accept().await?;
        lock_in_opposite_orders().await;
        conn.write_all(b"done").await?;
        io::Result::Ok(())
    });
    // A host whose timer never stops: the run is never quiet, yet the cycle is found.
    sim.host("heartbeat", || async {
        loop {
            nbio::time::sleep(secs(1)).await;
        }
        #[allow(unreachable_code)]
        ()
    });
    sim.client("c", read_from("db1:7000", 4));
    let (err, cycles, tasks) = deadlock(sim);
    let text = err.to_string();
    assert_eq!(cycles.len(), 1, "{text}");
    assert_eq!(
        cycles[0].matches(" on db1 waits on Mutex made at").count(),
        2,
        "{text}"
    );
    assert!(cycles[0].contains("sim_liveness.rs:"), "{text}");
    assert!(
        tasks.iter().any(|task| task.contains(" on heartbeat")),
        "{text}"
    );
    assert!(!text.contains("time limit"), "{text}");
}

#[test]
fn hosts_all_reading_with_nothing_in_flight_fail_at_once_naming_each_task_and_host() {
    let mut sim = Sim::builder().seed(15).time_limit(secs(60)).build();
    sim.host("silent", || async {
        let listener = AsyncTcpListener::bind("0.0.0.0:1")?;
        let (conn, _) = listener.accept().await?;
        let mut buf = [0u8; 1];
        conn.read(&mut buf).await?; // both sides read: neither ever writes
        io::Result::Ok(())
    });
    sim.client("c", read_from("silent:1", 1));
    let (err, cycles, tasks) = deadlock(sim);
    let text = err.to_string();
    assert!(cycles.is_empty(), "{text}");
    assert!(
        tasks.iter().any(|task| task.contains(" on silent ")),
        "{text}"
    );
    assert!(tasks.iter().any(|task| task.contains(" on c ")), "{text}");
    // Reported when it got stuck (a connect and nothing more), not at the limit.
    assert!(err.at < secs(1), "{text}");
}

#[test]
fn a_run_that_is_only_slow_still_fails_at_the_time_limit() {
    let mut sim = Sim::builder().seed(16).time_limit(secs(60)).build();
    sim.client("c", async {
        loop {
            nbio::time::sleep(secs(1)).await;
        }
        #[allow(unreachable_code)]
        ()
    });
    let err = sim.run().unwrap_err();
    assert!(
        matches!(err.failure, SimFailure::TimeLimit { limit, .. } if limit == secs(60)),
        "{err}"
    );
}

#[test]
fn check_determinism_fails_on_a_cycle_instead_of_hanging() {
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let run =
            std::panic::catch_unwind(|| nbio::sim::check_determinism(5, lock_in_opposite_orders));
        let _ = done.send(
            run.map(drop)
                .map_err(|panic| match panic.downcast::<String>() {
                    Ok(text) => *text,
                    Err(_) => "a panic that is not text".to_string(),
                }),
        );
    });
    let outcome = outcome
        .recv_timeout(secs(30))
        .expect("check_determinism hung on a cycle of waits");
    let message = outcome.expect_err("a cycle of waits passed");
    assert!(
        message.contains("NBIO_SEED=5 replays this run"),
        "{message}"
    );
    let cycle = message
        .lines()
        .find(|line| line.starts_with("tasks waiting on each other:"));
    let cycle = cycle.unwrap_or_else(|| panic!("no cycle named: {message}"));
    assert_eq!(
        cycle.matches("waits on Mutex made at").count(),
        2,
        "{message}"
    );
}
