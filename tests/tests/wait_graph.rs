//! The wait graph: every waiting task's dump line says what it waits on, in both flavours; a
//! cycle of tasks waiting on each other is marked in the dump (`deadlock_cycle.rs` has the
//! report `block_on` prints of one); waits on another runtime's tasks are shown, not followed.

use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use nbio::net::AsyncTcpListener;
use nbio::sync::{mpsc, oneshot, Mutex, Notify, Semaphore};
use nbio::task::{JoinHandle, TaskId, WaitOn};
use nbio::{Builder, Runtime};
use nbio_tests::watched;

/// Lets every task spawned before run until it waits (on a multi-thread runtime, a little
/// wall time too: the workers poll them).
fn settle(rt: &Runtime) {
    rt.block_on(async {
        for _ in 0..8 {
            nbio::yield_now().await;
        }
    });
    std::thread::sleep(Duration::from_millis(50));
}

fn waits_of(rt: &Runtime, id: TaskId) -> Option<WaitOn> {
    let dump = rt.dump();
    let task = dump.tasks().iter().find(|task| task.id == id);
    task.unwrap_or_else(|| panic!("task {id:?} is not in the dump:\n{dump}"))
        .waits_on
}

/// Spawns one task per kind of wait, and checks each line of the dump names it.
fn every_kind_of_wait_is_named(rt: Runtime) {
    let listener = rt.block_on(async { AsyncTcpListener::bind("127.0.0.1:0") });
    let listener = listener.unwrap();
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    let channel_line = line!() - 1;
    let (_otx, orx) = oneshot::channel::<u8>();
    let (notify, semaphore) = (Arc::new(Notify::new()), Arc::new(Semaphore::new(0)));
    let mutex = Arc::new(Mutex::new(()));
    let mutex_line = line!() - 1;
    let (locked_tx, locked_rx) = oneshot::channel::<()>();
    let holder = rt.spawn({
        let mutex = Arc::clone(&mutex);
        async move {
            let _guard = mutex.lock().await;
            locked_tx.send(()).unwrap();
            std::future::pending::<()>().await
        }
    });
    rt.block_on(locked_rx).unwrap();
    let socket = rt.spawn(async move { listener.accept().await.map(drop) });
    let timer = rt.spawn(nbio::time::sleep(Duration::from_secs(60)));
    let channel = rt.spawn(async move { rx.recv().await });
    let oneshot = rt.spawn(orx);
    let notified = rt.spawn({
        let notify = Arc::clone(&notify);
        async move { notify.notified().await }
    });
    let acquire = rt.spawn({
        let semaphore = Arc::clone(&semaphore);
        async move { semaphore.acquire().await.map(drop) }
    });
    let lock = rt.spawn({
        let mutex = Arc::clone(&mutex);
        async move { drop(mutex.lock().await) }
    });
    let (job_release, job_wait) = std::sync::mpsc::channel::<()>();
    let job = rt.spawn_blocking(move || job_wait.recv().ok());
    let job_id = job.id();
    let joiner = rt.spawn(job);
    settle(&rt);

    assert!(matches!(
        waits_of(&rt, socket.id()),
        Some(WaitOn::Socket { write: false, .. })
    ));
    let Some(WaitOn::Timer { deadline }) = waits_of(&rt, timer.id()) else {
        panic!(
            "the sleeping task does not say it waits on a timer:\n{}",
            rt.dump()
        );
    };
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    assert!(
        left > Duration::from_secs(50) && left <= Duration::from_secs(60),
        "{left:?}"
    );
    let Some(WaitOn::Channel { made_at: Some(at) }) = waits_of(&rt, channel.id()) else {
        panic!("the receiver does not name its channel:\n{}", rt.dump());
    };
    assert_eq!((at.file(), at.line()), (file!(), channel_line));
    assert!(matches!(
        waits_of(&rt, oneshot.id()),
        Some(WaitOn::Oneshot { made_at: Some(_) })
    ));
    assert!(matches!(
        waits_of(&rt, notified.id()),
        Some(WaitOn::Notify { made_at: Some(_) })
    ));
    assert!(matches!(
        waits_of(&rt, acquire.id()),
        Some(WaitOn::Semaphore { made_at: Some(_) })
    ));
    let Some(WaitOn::Mutex {
        made_at: Some(at),
        holder: held_by,
    }) = waits_of(&rt, lock.id())
    else {
        panic!("the locker does not name its mutex:\n{}", rt.dump());
    };
    assert_eq!((at.line(), held_by), (mutex_line, Some(holder.id())));
    assert_eq!(waits_of(&rt, joiner.id()), Some(WaitOn::Join(job_id)));

    let shown = rt.dump().to_string();
    let expected = [
        format!("waits on Mutex made at {}:{mutex_line}", file!()),
        format!("held by task#{}", holder.id().as_u64()),
        format!(
            "waits on an mpsc channel made at {}:{channel_line}",
            file!()
        ),
        format!(
            "waits on the JoinHandle of blocking job#{}",
            job_id.as_u64()
        ),
        "becoming readable".to_string(),
        "waits on a timer due in".to_string(),
    ];
    for line in expected {
        assert!(shown.contains(&line), "no {line:?} in:\n{shown}");
    }
    job_release.send(()).unwrap();
    drop((tx, notify, semaphore));
    drop(rt);
}

#[test]
fn a_current_thread_dump_names_what_each_task_waits_on() {
    watched(|| every_kind_of_wait_is_named(Runtime::new().unwrap()));
}

#[test]
fn a_multi_thread_dump_names_what_each_task_waits_on() {
    watched(|| {
        let rt = Builder::new().worker_threads(2).build().unwrap();
        every_kind_of_wait_is_named(rt)
    });
}

#[test]
fn a_task_polled_again_no_longer_says_it_waits() {
    watched(|| {
        let rt = Runtime::new().unwrap();
        let notify = Arc::new(Notify::new());
        let task = rt.spawn({
            let notify = Arc::clone(&notify);
            async move {
                notify.notified().await;
                loop {
                    nbio::yield_now().await; // never Pending on a wait: always scheduled
                }
            }
        });
        settle(&rt);
        assert!(matches!(
            waits_of(&rt, task.id()),
            Some(WaitOn::Notify { .. })
        ));
        notify.notify_one();
        settle(&rt);
        assert_eq!(waits_of(&rt, task.id()), None, "{}", rt.dump());
        drop(rt);
    });
}

type Slot = Arc<StdMutex<Option<JoinHandle<()>>>>;

/// Two tasks: the first locks `mutex` and awaits the second's handle, the second waits for
/// the mutex. A cycle: nothing in the runtime can break it.
fn spawn_lock_cycle(rt: &Runtime) -> (TaskId, TaskId) {
    let mutex = Arc::new(Mutex::new(()));
    let second_handle: Slot = Arc::default();
    let first = nbio::task::Builder::new().name("worker").spawn_on(rt, {
        let (mutex, second_handle) = (Arc::clone(&mutex), Arc::clone(&second_handle));
        async move {
            let _guard = mutex.lock().await;
            nbio::yield_now().await; // the second is spawned meanwhile
            let second = second_handle.lock().unwrap().take().unwrap();
            second.await.unwrap();
        }
    });
    let first_id = first.id();
    let second = rt.spawn(async move {
        drop(mutex.lock().await);
        first.await.unwrap();
    });
    let second_id = second.id();
    *second_handle.lock().unwrap() = Some(second);
    (first_id, second_id)
}

#[test]
fn a_dump_marks_tasks_waiting_on_each_other() {
    watched(|| {
        let rt = Runtime::new().unwrap();
        let (first, second) = spawn_lock_cycle(&rt);
        let bystander = rt.spawn(nbio::time::sleep(Duration::from_secs(60)));
        settle(&rt);
        let dump = rt.dump();
        let cycle_of = |id| {
            let task = dump.tasks().iter().find(|task| task.id == id).unwrap();
            task.wait_cycle().to_vec()
        };
        assert_eq!(cycle_of(first), [first, second], "{dump}");
        assert_eq!(cycle_of(second), [second, first], "{dump}");
        assert!(cycle_of(bystander.id()).is_empty(), "{dump}");
        println!("{dump}"); // the guide's chapter 10 shows this dump
        let cycles = dump.cycles();
        assert_eq!(cycles.len(), 1, "{dump}");
        let (a, b) = (first.as_u64(), second.as_u64());
        assert!(
            cycles[0].starts_with(&format!("worker#{a} waits on the JoinHandle of task#{b}; task#{b} waits on Mutex made at {}", file!())),
            "{}",
            cycles[0]
        );
        assert!(
            cycles[0].ends_with(&format!("held by worker#{a}")),
            "{}",
            cycles[0]
        );
        drop(rt);
    });
}

#[test]
fn the_trace_says_how_long_each_task_waited_on_each_kind_of_thing() {
    watched(|| {
        let rt = Builder::new().trace(true).build().unwrap();
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<u8>(1);
            let request = nbio::task::Builder::new()
                .name("request")
                .spawn(async move {
                    nbio::time::sleep(Duration::from_millis(50)).await; // a timer
                    rx.recv().await // then a channel
                });
            nbio::time::sleep(Duration::from_millis(80)).await;
            tx.send(7).await.unwrap();
            assert_eq!(request.await.unwrap(), Some(7));
        });
        let mut json = Vec::new();
        rt.write_trace(&mut json).unwrap();
        let trace: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let by_task = &trace["otherData"]["wait_us_by_task"];
        let request = by_task
            .as_object()
            .and_then(|tasks| tasks.iter().find(|(name, _)| name.starts_with("request#")))
            .map(|(_, kinds)| kinds)
            .unwrap_or_else(|| panic!("no waits for the request task: {by_task}"));
        println!("request waited (µs): {request}");
        // The split between the two depends on how late the timers fire (valgrind makes them
        // very late); what cannot move: the timer is waited on for at least its 50 ms, and the
        // request waits, on one or the other, until the message is sent 80 ms in.
        let timer = request["timer"].as_f64().unwrap_or(0.0);
        let channel = request["channel"].as_f64().unwrap_or(0.0);
        assert!(timer >= 45_000.0, "{request}");
        assert!(timer + channel >= 75_000.0, "{request}");
        let slices = trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["cat"] == "wait" && e["ph"] == "b")
            .count();
        assert!(slices >= 2, "no wait slices in the trace");
    });
}

/// Task ids are numbered per runtime, and the primitives work across runtimes: a task waiting
/// on a mutex held by another runtime's task #1, or on the handle of another runtime's task #2,
/// must not be taken for waiting on its own runtime's #1 or #2 (here: on itself).
#[test]
fn waits_on_another_runtimes_tasks_are_shown_but_not_followed() {
    watched(|| {
        let theirs = Builder::new().worker_threads(1).build().unwrap();
        let ours = Runtime::new().unwrap();
        let mutex = Arc::new(Mutex::new(()));
        let (locked_tx, locked_rx) = oneshot::channel::<()>();
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let (finish_tx, finish_rx) = oneshot::channel::<u8>();
        let their_holder = theirs.spawn({
            let mutex = Arc::clone(&mutex);
            async move {
                let _guard = mutex.lock().await;
                locked_tx.send(()).unwrap();
                release_rx.await.unwrap();
            }
        });
        let their_worker = theirs.spawn(async move { finish_rx.await.unwrap() });
        ours.block_on(locked_rx).unwrap();

        let waiter = ours.spawn(async move { drop(mutex.lock().await) });
        let joiner = ours.spawn(async move { their_worker.await.unwrap() });
        assert_eq!(
            waiter.id(),
            their_holder.id(),
            "the scene needs the ids to collide"
        );
        let joiner_id = joiner.id();
        settle(&ours);

        let dump = ours.dump();
        assert!(
            matches!(
                waits_of(&ours, waiter.id()),
                Some(WaitOn::Mutex {
                    made_at: Some(_),
                    holder: None
                })
            ),
            "{dump}"
        );
        let Some(WaitOn::JoinElsewhere(their_id)) = waits_of(&ours, joiner_id) else {
            panic!("the joiner does not wait on another runtime's task:\n{dump}");
        };
        assert_eq!(their_id, joiner_id, "the scene needs the ids to collide");
        assert!(dump.cycles().is_empty(), "{dump}");
        let text = dump.to_string();
        assert!(text.contains("held by no task of this runtime"), "{text}");
        assert!(text.contains("another runtime"), "{text}");

        release_tx.send(()).unwrap();
        finish_tx.send(7).unwrap();
        ours.block_on(async move {
            waiter.await.unwrap();
            assert_eq!(joiner.await.unwrap(), 7);
        });
        theirs.block_on(their_holder).unwrap();
    });
}
