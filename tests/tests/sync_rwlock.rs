//! `nbio::sync::RwLock`: readers share it, a writer has it alone, and the waiters are served in
//! the order they came, readers and writers alike. A waiting writer stops new readers (no
//! writer starves behind a stream of readers), and the readers queued behind a writer all enter
//! together once it lets go. Cases chosen from tokio's `tests/sync_rwlock.rs`, in nbio's words;
//! most futures are polled by hand with a `WakeCounter`, so that each step is exact. The dump
//! names the lock a task waits on and the task that writes it, and a cycle of two tasks each
//! writing one lock and waiting to read the other's is a cycle of the wait graph.

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex as StdMutex};
use std::task::Poll;
use std::time::Duration;

use nbio::sync::{oneshot, RwLock};
use nbio::task::{JoinHandle, TaskId, WaitOn};
use nbio::{Builder, Runtime};
use nbio_tests::{eventually, in_child, watched, WakeCounter, CHILD};

#[test]
fn readers_share_the_lock_and_keep_writers_out() {
    let lock = RwLock::new(5);
    let a = lock.try_read().unwrap();
    let b = lock.try_read().unwrap();
    assert_eq!(*a + *b, 10);
    assert!(lock.try_write().is_err());
    let counter = WakeCounter::new();
    let mut write = pin!(lock.write());
    assert!(counter.poll(write.as_mut()).is_pending());
    drop(a);
    assert_eq!(counter.wakes(), 0, "one reader is still in");
    drop(b);
    assert_eq!(counter.wakes(), 1, "the last reader out lets the writer in");
    let Poll::Ready(mut guard) = counter.poll(write.as_mut()) else {
        panic!("woken, but no write lock");
    };
    *guard = 6;
    drop(guard);
    assert_eq!(*lock.try_read().unwrap(), 6);
}

#[test]
fn a_writer_keeps_out_readers_and_writers_until_it_lets_go() {
    let lock = RwLock::new(0);
    let write = lock.try_write().unwrap();
    assert!(lock.try_read().is_err() && lock.try_write().is_err());
    let (reader, writer) = (WakeCounter::new(), WakeCounter::new());
    let mut read = pin!(lock.read());
    let mut write2 = pin!(lock.write());
    assert!(reader.poll(read.as_mut()).is_pending());
    assert!(writer.poll(write2.as_mut()).is_pending());
    drop(write);
    assert_eq!(
        (reader.wakes(), writer.wakes()),
        (1, 0),
        "first come, first in"
    );
    let read_guard = match reader.poll(read.as_mut()) {
        Poll::Ready(guard) => guard,
        Poll::Pending => panic!("the reader was woken but not let in"),
    };
    assert!(writer.poll(write2.as_mut()).is_pending());
    drop(read_guard);
    assert_eq!(writer.wakes(), 1);
    assert!(writer.poll(write2.as_mut()).is_ready());
}

/// The guarantee that keeps writers from starving: once a writer waits, a reader that comes
/// after it waits too, although only readers hold the lock and a reader could share it.
#[test]
fn a_waiting_writer_stops_new_readers() {
    let lock = RwLock::new(());
    let first_reader = lock.try_read().unwrap();
    let (writer, late_reader) = (WakeCounter::new(), WakeCounter::new());
    let mut write = pin!(lock.write());
    assert!(
        writer.poll(write.as_mut()).is_pending(),
        "a reader holds it"
    );
    // Readers still hold it, but a writer waits: a new reader must not get in.
    assert!(
        lock.try_read().is_err(),
        "try_read overtook the waiting writer"
    );
    let mut read = pin!(lock.read());
    assert!(
        late_reader.poll(read.as_mut()).is_pending(),
        "read overtook the waiting writer"
    );
    drop(first_reader);
    assert_eq!((writer.wakes(), late_reader.wakes()), (1, 0));
    let Poll::Ready(write_guard) = writer.poll(write.as_mut()) else {
        panic!("the writer was woken but not let in");
    };
    assert!(late_reader.poll(read.as_mut()).is_pending());
    drop(write_guard);
    assert_eq!(late_reader.wakes(), 1);
    assert!(late_reader.poll(read.as_mut()).is_ready());
}

#[test]
fn readers_queued_behind_a_writer_enter_together_and_stop_at_the_next_writer() {
    let lock = RwLock::new(0);
    let first_writer = lock.try_write().unwrap();
    let counters: Vec<WakeCounter> = (0..5).map(|_| WakeCounter::new()).collect();
    let mut r1 = pin!(lock.read());
    let mut r2 = pin!(lock.read());
    let mut r3 = pin!(lock.read());
    let mut w4 = pin!(lock.write());
    let mut r5 = pin!(lock.read());
    assert!(counters[0].poll(r1.as_mut()).is_pending());
    assert!(counters[1].poll(r2.as_mut()).is_pending());
    assert!(counters[2].poll(r3.as_mut()).is_pending());
    assert!(counters[3].poll(w4.as_mut()).is_pending());
    assert!(counters[4].poll(r5.as_mut()).is_pending());
    drop(first_writer);
    let woken: Vec<usize> = counters.iter().map(WakeCounter::wakes).collect();
    assert_eq!(woken, [1, 1, 1, 0, 0], "the three readers, and only them");
    let Poll::Ready(g1) = counters[0].poll(r1.as_mut()) else {
        panic!("r1")
    };
    let Poll::Ready(g2) = counters[1].poll(r2.as_mut()) else {
        panic!("r2")
    };
    let Poll::Ready(g3) = counters[2].poll(r3.as_mut()) else {
        panic!("r3")
    };
    assert!(
        counters[4].poll(r5.as_mut()).is_pending(),
        "r5 is behind w4"
    );
    drop((g1, g2));
    assert_eq!(counters[3].wakes(), 0, "a reader is still in");
    drop(g3);
    assert_eq!(counters[3].wakes(), 1);
    let Poll::Ready(g4) = counters[3].poll(w4.as_mut()) else {
        panic!("w4")
    };
    drop(g4);
    assert_eq!(counters[4].wakes(), 1);
    assert!(counters[4].poll(r5.as_mut()).is_ready());
}

/// Tasks spawned in order while a writer holds the lock enter in that order; consecutive
/// readers are inside at the same time.
#[test]
fn waiters_enter_in_the_order_they_came() {
    watched(|| {
        let rt = Runtime::new().unwrap();
        let lock = Arc::new(RwLock::new(()));
        let log = Arc::new(StdMutex::new(Vec::new()));
        let inside = Arc::new(AtomicUsize::new(0));
        let held = Arc::clone(&lock).try_write_owned().unwrap();
        let kinds = ["w", "r", "r", "w", "r", "w", "w", "r", "r", "r"];
        let tasks: Vec<_> = kinds
            .iter()
            .enumerate()
            .map(|(n, &kind)| {
                let (lock, log, inside) =
                    (Arc::clone(&lock), Arc::clone(&log), Arc::clone(&inside));
                rt.spawn(async move {
                    let (guard_r, guard_w);
                    if kind == "r" {
                        guard_r = Some(lock.read().await);
                        guard_w = None;
                    } else {
                        guard_w = Some(lock.write().await);
                        guard_r = None;
                    }
                    let together = inside.fetch_add(1, SeqCst) + 1;
                    log.lock().unwrap().push((n, together));
                    for _ in 0..3 {
                        nbio::yield_now().await;
                    }
                    inside.fetch_sub(1, SeqCst);
                    drop((guard_r, guard_w));
                })
            })
            .collect();
        rt.block_on(async {
            for _ in 0..4 {
                nbio::yield_now().await; // every task queues behind `held`
            }
            drop(held);
            for task in tasks {
                task.await.unwrap();
            }
        });
        let log = log.lock().unwrap().clone();
        let order: Vec<usize> = log.iter().map(|&(n, _)| n).collect();
        assert_eq!(order, (0..kinds.len()).collect::<Vec<_>>(), "{log:?}");
        let most_inside: Vec<usize> = log.iter().map(|&(_, together)| together).collect();
        // Readers 1-2 together, 4 alone, 7-9 together; every writer alone.
        assert_eq!(most_inside, [1, 1, 2, 1, 1, 1, 1, 1, 2, 3], "{log:?}");
    });
}

#[test]
fn try_read_and_try_write_fail_exactly_when_they_would_wait() {
    let lock = RwLock::with_max_readers(0u8, 2);
    let read = lock.try_read().unwrap();
    assert!(lock.try_write().is_err(), "a reader is in");
    let second = lock.try_read().unwrap();
    assert!(lock.try_read().is_err(), "both readers' places are taken");
    drop((read, second));
    let write = lock.try_write().unwrap();
    assert!(lock.try_read().is_err() && lock.try_write().is_err());
    let message = lock.try_read().unwrap_err().to_string();
    assert!(message.contains("read().await"), "{message}");
    drop(write);
    // A queued writer: try_write does not overtake it either.
    let read = lock.try_read().unwrap();
    let counter = WakeCounter::new();
    let mut write = pin!(lock.write());
    assert!(counter.poll(write.as_mut()).is_pending());
    assert!(lock.try_write().is_err() && lock.try_read().is_err());
    drop(read);
    assert!(counter.poll(write.as_mut()).is_ready());
}

#[test]
fn a_downgraded_writer_lets_readers_in_but_not_the_next_writer() {
    let lock = RwLock::new(1);
    let mut write = lock.try_write().unwrap();
    let (reader, writer) = (WakeCounter::new(), WakeCounter::new());
    let mut read = pin!(lock.read());
    let mut write2 = pin!(lock.write());
    assert!(reader.poll(read.as_mut()).is_pending());
    assert!(writer.poll(write2.as_mut()).is_pending());
    *write = 2;
    let downgraded = write.downgrade();
    assert_eq!(*downgraded, 2);
    assert_eq!((reader.wakes(), writer.wakes()), (1, 0));
    let Poll::Ready(other) = reader.poll(read.as_mut()) else {
        panic!("reader")
    };
    assert_eq!(*other, 2);
    drop(downgraded);
    assert_eq!(writer.wakes(), 0, "one reader is still in");
    drop(other);
    assert!(writer.poll(write2.as_mut()).is_ready());
}

#[test]
fn the_lock_is_whole_after_use_and_gives_its_data_back() {
    let mut lock = RwLock::new(vec![1]);
    lock.get_mut().push(2);
    {
        let read = lock.try_read().unwrap();
        let shown = format!("{lock:?}");
        assert!(
            shown.contains("[1, 2]") && shown.contains("sync_rwlock.rs"),
            "{shown}"
        );
        drop(read);
        let write = lock.try_write().unwrap();
        let shown = format!("{lock:?}");
        assert!(shown.contains("<locked>"), "{shown}");
        drop(write);
    }
    assert_eq!(RwLock::<u8>::default().into_inner(), 0);
    assert_eq!(lock.into_inner(), [1, 2]);
}

#[test]
#[should_panic(expected = "between 1 and RwLock::MAX_READS")]
fn a_lock_for_no_readers_is_refused() {
    let _ = RwLock::with_max_readers((), 0);
}

/// Many tasks on two worker threads read and write a pair that a writer keeps equal: a reader
/// never sees the two halves differ, and no write is lost.
#[test]
fn many_tasks_on_two_threads_never_see_a_half_done_write() {
    watched(|| {
        let rt = Builder::new().worker_threads(2).build().unwrap();
        let lock = Arc::new(RwLock::new((0u64, 0u64)));
        let (tasks, rounds) = (16, 200);
        let handles: Vec<_> = (0..tasks)
            .map(|n| {
                let lock = Arc::clone(&lock);
                rt.spawn(async move {
                    let mut writes = 0;
                    for round in 0..rounds {
                        if (n + round) % 4 == 0 {
                            let mut pair = lock.write().await;
                            pair.0 += 1;
                            nbio::yield_now().await; // half done, across an await
                            pair.1 += 1;
                            writes += 1;
                        } else {
                            let pair = lock.read().await;
                            let first = pair.0;
                            nbio::yield_now().await;
                            assert_eq!(first, pair.1, "a reader saw a half-done write");
                        }
                    }
                    writes
                })
            })
            .collect();
        let writes: u64 = rt.block_on(async {
            let mut sum = 0;
            for handle in handles {
                sum += handle.await.unwrap();
            }
            sum
        });
        assert_eq!(*lock.try_read().unwrap(), (writes, writes));
        assert!(lock.try_write().is_ok(), "every permit came back");
    });
}

// ---------------------------------------------------------------------------------------------
// Cancel safety: what a dropped read or write future gave up.

#[test]
fn a_read_dropped_after_it_was_handed_the_lock_passes_it_on() {
    let lock = RwLock::new(());
    let write = lock.try_write().unwrap();
    let (reader, writer) = (WakeCounter::new(), WakeCounter::new());
    let mut read = Box::pin(lock.read());
    let mut write2 = pin!(lock.write());
    assert!(reader.poll(read.as_mut()).is_pending());
    assert!(writer.poll(write2.as_mut()).is_pending());
    drop(write);
    assert_eq!(reader.wakes(), 1, "the read was handed the lock");
    drop(read); // …and dropped before it ran: the losing branch of a select
    assert_eq!(writer.wakes(), 1, "the dropped read passed its lock on");
    assert!(writer.poll(write2.as_mut()).is_ready());
}

#[test]
fn a_write_dropped_after_it_was_handed_the_lock_passes_it_on() {
    let lock = RwLock::new(());
    let write = lock.try_write().unwrap();
    let (writer, reader) = (WakeCounter::new(), WakeCounter::new());
    let mut write2 = Box::pin(lock.write());
    let mut read = pin!(lock.read());
    assert!(writer.poll(write2.as_mut()).is_pending());
    assert!(reader.poll(read.as_mut()).is_pending());
    drop(write);
    assert_eq!((writer.wakes(), reader.wakes()), (1, 0));
    drop(write2);
    assert_eq!(reader.wakes(), 1, "the dropped write passed its lock on");
    assert!(reader.poll(read.as_mut()).is_ready());
    assert!(lock.try_read().is_ok(), "and nobody waits: readers come in");
}

/// A writer waiting on readers has taken their places as they left; dropped, it gives them back
/// to the readers queued behind it, and no place is lost.
#[test]
fn a_waiting_write_dropped_gives_back_the_places_it_collected() {
    let lock = RwLock::with_max_readers((), 3);
    let (first, second) = (lock.try_read().unwrap(), lock.try_read().unwrap());
    let (writer, reader) = (WakeCounter::new(), WakeCounter::new());
    let mut write = Box::pin(lock.write());
    let mut read = pin!(lock.read());
    assert!(
        writer.poll(write.as_mut()).is_pending(),
        "it took the free place"
    );
    assert!(reader.poll(read.as_mut()).is_pending(), "behind the writer");
    drop(first); // the writer collects this place too
    assert!(lock.try_read().is_err());
    drop(write);
    assert_eq!(reader.wakes(), 1, "the places went to the reader behind");
    let Poll::Ready(third) = reader.poll(read.as_mut()) else {
        panic!("reader")
    };
    let fourth = lock.try_read().unwrap(); // the third place is free again
    assert!(lock.try_read().is_err());
    drop((second, third, fourth));
    assert!(lock.try_write().is_ok(), "every place came back");
}

// ---------------------------------------------------------------------------------------------
// What a dump says.

/// What task `id` says it waits on, once it says it waits on an `RwLock` (a task of a
/// multi-thread runtime may still be on its way there: at a `Barrier`, say).
fn waits_of(rt: &Runtime, id: TaskId) -> WaitOn {
    let mut said = None;
    let settled = eventually(Duration::from_secs(10), || {
        rt.block_on(nbio::yield_now());
        let dump = rt.dump();
        said = dump
            .tasks()
            .iter()
            .find(|task| task.id == id)
            .and_then(|task| task.waits_on);
        matches!(said, Some(WaitOn::RwLock { .. }))
    });
    assert!(
        settled.is_some(),
        "task {id:?} does not wait on an RwLock but on {said:?}:\n{}",
        rt.dump()
    );
    said.unwrap()
}

fn a_read_waiting_on_a_writer_names_it(rt: Runtime) {
    let lock = Arc::new(RwLock::new(()));
    let lock_line = line!() - 1;
    let (locked_tx, locked_rx) = oneshot::channel::<()>();
    let (release_tx, release_rx) = oneshot::channel::<()>();
    let writer = nbio::task::Builder::new().name("writer").spawn_on(&rt, {
        let lock = Arc::clone(&lock);
        async move {
            let _write = lock.write().await;
            locked_tx.send(()).unwrap();
            release_rx.await.unwrap();
        }
    });
    rt.block_on(locked_rx).unwrap();
    let reader = rt.spawn({
        let lock = Arc::clone(&lock);
        async move { drop(lock.read().await) }
    });
    let WaitOn::RwLock {
        made_at: Some(at),
        writer: Some(held_by),
    } = waits_of(&rt, reader.id())
    else {
        panic!(
            "the reader does not name the lock and its writer:\n{}",
            rt.dump()
        );
    };
    assert_eq!(
        (at.file(), at.line(), held_by),
        (file!(), lock_line, writer.id())
    );
    let shown = rt.dump().to_string();
    let line = shown
        .lines()
        .find(|line| line.contains(&format!("task#{} ", reader.id().as_u64())))
        .unwrap_or_else(|| panic!("no line for the reader in:\n{shown}"));
    let made = format!("waits on RwLock made at {}:{lock_line}:", file!());
    let held = format!(", write-locked by task#{}", writer.id().as_u64());
    assert!(line.contains(&made) && line.contains(&held), "{line}");
    release_tx.send(()).unwrap();
    rt.block_on(async {
        writer.await.unwrap();
        reader.await.unwrap();
    });
}

#[test]
fn a_read_waiting_on_a_writer_names_it_on_a_current_thread_runtime() {
    watched(|| a_read_waiting_on_a_writer_names_it(Runtime::new().unwrap()));
}

#[test]
fn a_read_waiting_on_a_writer_names_it_on_a_multi_thread_runtime() {
    watched(|| {
        a_read_waiting_on_a_writer_names_it(Builder::new().worker_threads(2).build().unwrap())
    });
}

#[test]
fn a_write_waiting_on_readers_names_no_task() {
    watched(|| {
        let rt = Runtime::new().unwrap();
        let lock = Arc::new(RwLock::new(()));
        let (locked_tx, locked_rx) = oneshot::channel::<()>();
        let (release_tx, release_rx) = oneshot::channel::<()>();
        let reader = rt.spawn({
            let lock = Arc::clone(&lock);
            async move {
                let _read = lock.read().await;
                locked_tx.send(()).unwrap();
                release_rx.await.unwrap();
            }
        });
        rt.block_on(locked_rx).unwrap();
        let writer = rt.spawn({
            let lock = Arc::clone(&lock);
            async move { drop(lock.write().await) }
        });
        assert!(matches!(
            waits_of(&rt, writer.id()),
            WaitOn::RwLock {
                made_at: Some(_),
                writer: None
            }
        ));
        let shown = rt.dump().to_string();
        assert!(shown.contains("waits on RwLock made at"), "{shown}");
        assert!(rt.dump().cycles().is_empty());
        release_tx.send(()).unwrap();
        rt.block_on(async {
            reader.await.unwrap();
            writer.await.unwrap();
        });
    });
}

/// Spawns `first` and `second`: each writes a lock of its own, then, once both hold theirs,
/// waits to read the other's.
fn spawn_two_locks_in_a_cycle(rt: &Runtime) -> (JoinHandle<()>, JoinHandle<()>) {
    let (first_lock, second_lock) = (Arc::new(RwLock::new(())), Arc::new(RwLock::new(())));
    let both_hold = Arc::new(nbio::sync::Barrier::new(2));
    let spawn = |name: &str, mine: &Arc<RwLock<()>>, theirs: &Arc<RwLock<()>>| {
        let (mine, theirs, both_hold) =
            (Arc::clone(mine), Arc::clone(theirs), Arc::clone(&both_hold));
        nbio::task::Builder::new()
            .name(name)
            .spawn_on(rt, async move {
                let _write = mine.write().await;
                both_hold.wait().await;
                drop(theirs.read().await);
            })
    };
    let first = spawn("first", &first_lock, &second_lock);
    let second = spawn("second", &second_lock, &first_lock);
    (first, second)
}

/// Two tasks each write one lock, then wait to read the other's: a cycle that nothing in the
/// runtime can break, which the wait graph shows, naming both locks.
fn two_locks_in_a_cycle_are_seen(rt: Runtime) {
    let (first, second) = spawn_two_locks_in_a_cycle(&rt);
    let (a, b) = (first.id(), second.id());
    assert!(matches!(waits_of(&rt, a), WaitOn::RwLock { writer: Some(w), .. } if w == b));
    assert!(matches!(waits_of(&rt, b), WaitOn::RwLock { writer: Some(w), .. } if w == a));
    let dump = rt.dump();
    let cycle_of = |id| {
        let task = dump.tasks().iter().find(|task| task.id == id).unwrap();
        task.wait_cycle().to_vec()
    };
    assert_eq!(cycle_of(a), [a, b], "{dump}");
    assert_eq!(cycle_of(b), [b, a], "{dump}");
    let cycles = dump.cycles();
    assert_eq!(cycles.len(), 1, "{dump}");
    assert!(
        cycles[0].contains("waits on RwLock made at"),
        "{}",
        cycles[0]
    );
    assert!(
        cycles[0].contains(&format!("write-locked by second#{}", b.as_u64())),
        "{}",
        cycles[0]
    );
    drop(rt); // the two tasks are dropped with it, their guards too
}

#[test]
fn two_locks_in_a_cycle_are_seen_on_a_current_thread_runtime() {
    watched(|| two_locks_in_a_cycle_are_seen(Runtime::new().unwrap()));
}

#[test]
fn two_locks_in_a_cycle_are_seen_on_a_multi_thread_runtime() {
    watched(|| two_locks_in_a_cycle_are_seen(Builder::new().worker_threads(2).build().unwrap()));
}

/// The deadlock check of `block_on` follows the same edges: a `block_on` awaiting one of the two
/// tasks reports the cycle (and goes on waiting: the child playing it is killed after it).
#[test]
fn block_on_reports_two_locks_in_a_cycle() {
    const SCENE: &str = "block_on_reports_two_locks_in_a_cycle";
    if in_child(SCENE) {
        let rt = Runtime::new().unwrap();
        let (first, _second) = spawn_two_locks_in_a_cycle(&rt);
        rt.block_on(first).unwrap();
        unreachable!("the cycle was broken");
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([SCENE, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, SCENE)
        .env_remove("NBIO_TRACE")
        .env_remove("NBIO_EXPLAIN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let limit = Duration::from_secs(60) * nbio_tests::slowdown();
    let mut seen = String::new();
    let report = loop {
        match lines.recv_timeout(limit) {
            Ok(line) if line.contains("nbio: deadlock? ") => break Some(line),
            Ok(line) => seen.push_str(&(line + "\n")),
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let report = report.unwrap_or_else(|| panic!("no report of the cycle:\n{seen}"));
    assert!(report.contains("waits on RwLock made at"), "{report}");
    assert!(report.contains("write-locked by first#"), "{report}");
    assert!(report.contains("write-locked by second#"), "{report}");
}
