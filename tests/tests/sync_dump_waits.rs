//! A task waiting on a `Barrier`, a `OnceCell` being initialised or a `CancellationToken`
//! says so: the dump names the primitive and the line that made it, in both flavours; `Debug`
//! names the waiting tasks; the trace files the waits under their kinds.

use std::sync::Arc;
use std::time::Duration;

use nbio::sync::{Barrier, CancellationToken, OnceCell};
use nbio::task::{TaskId, WaitOn};
use nbio::{Builder, Runtime};
use nbio_tests::{eventually, watched, WakeCounter};

/// What each of `tasks` says it waits on, once every one of them says something: a
/// multi-thread runtime's workers poll them meanwhile, a current-thread runtime while it
/// blocks on the `yield_now` here.
fn waits_once_all_wait(rt: &Runtime, tasks: &[TaskId]) -> Vec<WaitOn> {
    let mut said = Vec::new();
    let settled = eventually(Duration::from_secs(10), || {
        rt.block_on(nbio::yield_now());
        let dump = rt.dump();
        said = tasks
            .iter()
            .filter_map(|id| dump.tasks().iter().find(|task| task.id == *id)?.waits_on)
            .collect();
        said.len() == tasks.len()
    });
    assert!(settled.is_some(), "not every task waits:\n{}", rt.dump());
    said
}

fn each_wait_names_its_primitive(rt: Runtime) {
    let barrier = Arc::new(Barrier::new(2));
    let barrier_line = line!() - 1;
    let cell = Arc::new(OnceCell::<u8>::new());
    let cell_line = line!() - 1;
    let root = CancellationToken::new();
    let token = root.child_token();
    let token_line = line!() - 1;
    // This thread initialises the cell, and never finishes: the task below waits for it.
    let mut initialising = Box::pin(cell.get_or_init(std::future::pending));
    assert!(WakeCounter::new().poll(initialising.as_mut()).is_pending());
    let at_barrier = rt.spawn({
        let barrier = Arc::clone(&barrier);
        async move { barrier.wait().await.is_leader() }
    });
    let at_cell = rt.spawn({
        let cell = Arc::clone(&cell);
        async move { *cell.get_or_init(|| async { 1 }).await }
    });
    let at_token = rt.spawn({
        let token = token.clone();
        async move { token.cancelled().await }
    });
    let ids = [at_barrier.id(), at_cell.id(), at_token.id()];
    let waits = waits_once_all_wait(&rt, &ids);
    let lines: Vec<_> = waits
        .iter()
        .map(|wait| match *wait {
            WaitOn::Barrier { made_at: Some(at) }
            | WaitOn::OnceCell { made_at: Some(at) }
            | WaitOn::Cancelled { made_at: Some(at) } => (at.file(), at.line()),
            other => panic!("a wait of another kind: {other:?}"),
        })
        .collect();
    assert!(matches!(waits[0], WaitOn::Barrier { .. }), "{waits:?}");
    assert!(matches!(waits[1], WaitOn::OnceCell { .. }), "{waits:?}");
    assert!(matches!(waits[2], WaitOn::Cancelled { .. }), "{waits:?}");
    let expected = [barrier_line, cell_line, token_line].map(|line| (file!(), line));
    assert_eq!(lines, expected);

    let shown = rt.dump().to_string();
    for said in [
        format!(
            "waits on the other parties of a Barrier made at {}:{barrier_line}",
            file!()
        ),
        format!(
            "waits on another future initialising a OnceCell made at {}:{cell_line}",
            file!()
        ),
        format!(
            "waits on the cancellation of a CancellationToken made at {}:{token_line}",
            file!()
        ),
    ] {
        assert!(shown.contains(&said), "no \"{said}\" in:\n{shown}");
    }

    drop(initialising); // the waiting task takes the turn and initialises
    root.cancel();
    rt.block_on(async {
        assert!(barrier.wait().await.is_leader());
        assert!(!at_barrier.await.unwrap());
        assert_eq!(at_cell.await.unwrap(), 1);
        at_token.await.unwrap();
    });
}

#[test]
fn each_wait_names_its_primitive_on_a_current_thread_runtime() {
    watched(|| each_wait_names_its_primitive(Runtime::new().unwrap()));
}

#[test]
fn each_wait_names_its_primitive_on_a_multi_thread_runtime() {
    watched(|| each_wait_names_its_primitive(Builder::new().worker_threads(2).build().unwrap()));
}

#[test]
fn every_constructor_records_the_line_that_called_it() {
    let barrier = Barrier::new(1);
    assert_eq!(barrier.made_at().line(), line!() - 1);
    let cell = OnceCell::<u8>::new();
    assert_eq!(cell.made_at().line(), line!() - 1);
    let token = CancellationToken::new();
    assert_eq!(token.made_at().line(), line!() - 1);
    let child = token.child_token();
    assert_eq!(child.made_at().line(), line!() - 1);
    assert_eq!(child.clone().made_at().line(), child.made_at().line());
    let cell = OnceCell::<u8>::default();
    assert_eq!(cell.made_at().line(), line!() - 1);
    let token = CancellationToken::default();
    assert_eq!(token.made_at().line(), line!() - 1);
    assert_eq!(token.made_at().file(), file!());
}

#[test]
fn debug_names_the_waiting_tasks() {
    watched(|| {
        nbio::block_on(async {
            let barrier = Arc::new(Barrier::new(2));
            let token = CancellationToken::new();
            let at_barrier = nbio::spawn({
                let barrier = Arc::clone(&barrier);
                async move { barrier.wait().await.is_leader() }
            });
            let at_token = nbio::spawn({
                let token = token.clone();
                async move { token.cancelled().await }
            });
            for _ in 0..4 {
                nbio::yield_now().await;
            }
            for (shown, id) in [
                (format!("{barrier:?}"), at_barrier.id()),
                (format!("{token:?}"), at_token.id()),
            ] {
                let task = format!("waiting_tasks: [TaskId({})]", id.as_u64());
                assert!(shown.contains(&task) && shown.contains(file!()), "{shown}");
            }
            barrier.wait().await;
            token.cancel();
            at_barrier.await.unwrap();
            at_token.await.unwrap();
        });
    });
}

#[test]
fn the_trace_files_a_once_cell_under_lock_and_a_token_under_channel() {
    watched(|| {
        let rt = Builder::new().trace(true).build().unwrap();
        rt.block_on(async {
            let cell = Arc::new(OnceCell::new());
            let token = CancellationToken::new();
            let initialiser = nbio::spawn({
                let cell = Arc::clone(&cell);
                async move {
                    *cell
                        .get_or_init(|| nbio::time::sleep(Duration::from_millis(30)))
                        .await
                }
            });
            let waiters = [
                nbio::task::Builder::new().name("cell").spawn({
                    let cell = Arc::clone(&cell);
                    async move { *cell.get_or_init(|| async {}).await }
                }),
                nbio::task::Builder::new().name("token").spawn({
                    let token = token.clone();
                    async move { token.cancelled().await }
                }),
            ];
            initialiser.await.unwrap();
            token.cancel();
            for waiter in waiters {
                waiter.await.unwrap();
            }
        });
        let mut json = Vec::new();
        rt.write_trace(&mut json).unwrap();
        let trace: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let by_task = trace["otherData"]["wait_us_by_task"].as_object().unwrap();
        let kinds_of = |name: &str| {
            let (_, kinds) = by_task
                .iter()
                .find(|(task, _)| task.starts_with(name))
                .unwrap_or_else(|| panic!("no waits for {name}: {by_task:?}"));
            kinds
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds_of("cell#"), ["lock"]);
        assert_eq!(kinds_of("token#"), ["channel"]);
    });
}
