//! Nothing real leaks into `nbio::sim`: a wake from a thread outside the simulation, a
//! blocking job and a wait on another (real-time) runtime each fail the run, naming the call
//! site where there is one, and otherwise the task and its host.

use std::time::Duration;

use nbio::sim::{Sim, SimError, SimFailure};

/// Runs `sim`, which must fail with a leak on `host`: the whole message.
fn leak_on(sim: Sim, host: &str) -> String {
    let seed = sim.seed();
    let err: SimError = sim.run().unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err.failure, SimFailure::Leak { host: on, .. } if on == host),
        "{text}"
    );
    assert!(
        text.starts_with(&format!("NBIO_SEED={seed} replays this run")),
        "{text}"
    );
    text
}

#[test]
fn a_wake_from_a_thread_a_host_started_fails_the_run_naming_the_task_and_host() {
    let mut sim = Sim::builder().seed(31).build();
    sim.client("db1", async {
        let (tx, rx) = nbio::sync::oneshot::channel::<u32>();
        let waiter = nbio::spawn(async move { rx.await.ok() });
        nbio::yield_now().await; // the waiter now waits on the oneshot
                                 // The send wakes the waiter from this thread, not the simulation's.
        std::thread::Builder::new()
            .name("outsider".into())
            .spawn(move || tx.send(7).unwrap())
            .unwrap()
            .join()
            .unwrap();
        waiter.await.unwrap();
    });
    let text = leak_on(sim, "db1");
    assert!(
        text.contains(" on db1 was woken by thread \"outsider\""),
        "{text}"
    );
}

#[test]
fn a_blocking_job_inside_a_host_fails_the_run_naming_its_call_site() {
    let mut sim = Sim::builder().seed(32).build();
    sim.client("db2", async {
        let job = nbio::spawn_blocking(|| 1 + 1);
        let _ = job.await;
    });
    let text = leak_on(sim, "db2");
    assert!(
        text.contains("nbio::spawn_blocking at tests/tests/sim_leaks.rs:"),
        "{text}"
    );
    assert!(text.contains("inside simulated host db2"), "{text}");
}

#[test]
fn a_wait_on_a_task_of_a_real_time_runtime_fails_the_run_naming_the_task_and_host() {
    let real = nbio::Runtime::builder().worker_threads(1).build().unwrap();
    let handle = real.handle();
    let mut sim = Sim::builder().seed(33).build();
    sim.client("db3", async move {
        let sleeper = handle.spawn(nbio::time::sleep(Duration::from_millis(50)));
        sleeper.await.unwrap();
    });
    let text = leak_on(sim, "db3");
    assert!(text.contains(" on db3"), "{text}");
    drop(real);
}
