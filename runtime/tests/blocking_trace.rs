//! The blocking pool in the journal: each job is a slice on its pool thread's track of the
//! Chrome trace, with an arrow from the code that spawned it and one to the task it woke; the
//! narrative (`explain`) says the same in words.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

const CHILD: &str = "NBIO_BLOCKING_TRACE_CHILD";

fn trace_of(rt: &nbio::Runtime) -> Vec<Value> {
    let mut json = Vec::new();
    rt.write_trace(&mut json).unwrap();
    let trace: Value = serde_json::from_slice(&json).expect("the trace parses as JSON");
    trace["traceEvents"].as_array().unwrap().clone()
}

#[test]
fn a_job_is_a_slice_on_its_pool_threads_track_with_arrows_from_its_spawner_and_to_its_awaiter() {
    let rt = nbio::Runtime::builder().trace(true).build().unwrap();
    let (job_id, waiter_id) = rt.block_on(async {
        let job = nbio::spawn_blocking(|| std::thread::sleep(Duration::from_millis(2)));
        let job_id = job.id();
        let waiter = nbio::task::Builder::new()
            .name("waiter")
            .spawn(async move { job.await.unwrap() });
        let waiter_id = waiter.id();
        waiter.await.unwrap();
        (job_id.as_u64(), waiter_id.as_u64())
    });
    let events = trace_of(&rt);
    let track_named = |name: &str| {
        events
            .iter()
            .find(|e| e["ph"] == "M" && e["args"]["name"] == name)
            .map(|e| e["tid"].as_u64().unwrap())
    };
    let pool_tid = track_named("blocking 1").expect("a track for the pool thread");
    let loop_tid = track_named("the runtime's thread").expect("the runtime's track");

    let slice = events
        .iter()
        .find(|e| e["ph"] == "X" && e["name"] == format!("job#{job_id}"))
        .expect("a slice for the job");
    assert_eq!(slice["tid"].as_u64(), Some(pool_tid));
    assert_eq!(slice["cat"], "blocking");
    assert_eq!(slice["args"]["outcome"], "done");
    assert_eq!(slice["args"]["awaited_by"].as_u64(), Some(waiter_id));
    assert!(slice["dur"].as_f64().unwrap() >= 2000.0, "{slice}");
    assert!(slice["args"]["spawned_at"]
        .as_str()
        .unwrap()
        .contains("blocking_trace.rs"));

    let flow = |name: &str, phase: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["name"] == name && e["ph"] == phase)
            .collect()
    };
    // spawn_blocking: from the runtime's track to the start of the job's slice.
    let (starts, ends) = (flow("spawn_blocking", "s"), flow("spawn_blocking", "f"));
    assert_eq!((starts.len(), ends.len()), (1, 1));
    assert_eq!(starts[0]["tid"].as_u64(), Some(loop_tid));
    assert_eq!(ends[0]["tid"].as_u64(), Some(pool_tid));
    assert_eq!(ends[0]["ts"], slice["ts"]);
    // job done: from the end of the slice to the waiter's next poll, on the runtime's track.
    let (starts, ends) = (flow("job done", "s"), flow("job done", "f"));
    assert_eq!((starts.len(), ends.len()), (1, 1));
    assert_eq!(starts[0]["tid"].as_u64(), Some(pool_tid));
    assert_eq!(ends[0]["tid"].as_u64(), Some(loop_tid));
    let slice_end = slice["ts"].as_f64().unwrap() + slice["dur"].as_f64().unwrap();
    assert!((starts[0]["ts"].as_f64().unwrap() - slice_end).abs() < 1.0);
    let next_poll = events
        .iter()
        .find(|e| {
            e["ph"] == "X"
                && e["args"]["task"].as_u64() == Some(waiter_id)
                && e["ts"] == ends[0]["ts"]
        })
        .expect("the arrow ends on a poll of the waiter");
    assert_eq!(next_poll["name"], format!("waiter#{waiter_id}"));
}

#[test]
fn a_job_aborted_in_the_queue_is_a_cancelled_slice() {
    let rt = nbio::Runtime::builder()
        .trace(true)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let busy = rt.spawn_blocking(move || wait.recv().unwrap());
    let queued = rt.spawn_blocking(|| ());
    queued.abort();
    release.send(()).unwrap();
    rt.block_on(busy).unwrap();
    assert!(rt.block_on(queued).unwrap_err().is_cancelled());
    // The pool thread journals a cancelled job after its handle has learnt of it (the closure
    // never runs, so nothing runs before the handle's wake): give it a moment.
    let started = std::time::Instant::now();
    let outcomes = loop {
        let events = trace_of(&rt);
        let outcomes: Vec<String> = events
            .iter()
            .filter(|e| e["cat"] == "blocking")
            .map(|e| e["args"]["outcome"].as_str().unwrap().to_string())
            .collect();
        if outcomes.len() >= 2 || started.elapsed() > Duration::from_secs(10) {
            break outcomes;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(outcomes, ["done", "cancelled"]);
    assert_eq!(rt.stats().blocking_jobs_running, 0);
}

#[test]
fn the_narrative_tells_of_spawn_blocking_and_the_job_that_woke_its_awaiter() {
    if std::env::var(CHILD).is_ok() {
        let rt = nbio::Runtime::builder().explain(true).build().unwrap();
        rt.block_on(async {
            // Long enough for the waiter to be waiting when it ends, even on a busy machine.
            let job = nbio::spawn_blocking(|| std::thread::sleep(Duration::from_millis(100)));
            nbio::task::Builder::new()
                .name("waiter")
                .spawn(async move { job.await.unwrap() })
                .await
                .unwrap()
        });
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "the_narrative_tells_of_spawn_blocking_and_the_job_that_woke_its_awaiter",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env_remove("NBIO_TRACE")
        .env_remove("NBIO_EXPLAIN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("spawn_blocking job#1 (at ") && stderr.contains("by block_on"),
        "{stderr}"
    );
    assert!(
        stderr.contains("blocking pool: job#1 ran for ") && stderr.contains("→ wake waiter#2"),
        "{stderr}"
    );
}
