//! The blocking pool: `spawn_blocking` runs closures on pool threads while the runtime goes on,
//! as tasks do: results, panics, aborts and detached jobs, the cap, and what `Stats` and
//! `Runtime::dump` say about it. Thread counts and shutdown are in `blocking_threads.rs` and
//! `blocking_shutdown.rs`.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use nbio::blocking::{Awaiter, JobState};
use nbio_tests::{watched, DropCounter};

#[test]
fn a_blocking_job_returns_its_value_to_the_task_that_awaits_it() {
    watched(|| {
        nbio::block_on(async {
            let main_thread = thread::current().id();
            let job = nbio::spawn_blocking(move || {
                assert_ne!(
                    thread::current().id(),
                    main_thread,
                    "ran on the loop's thread"
                );
                thread::current().name().map(str::to_string)
            });
            let task = nbio::spawn(async move { job.await.unwrap() });
            let name = task.await.unwrap().expect("pool threads have names");
            assert!(name.starts_with("nbio-blocking-"), "{name}");
        })
    });
}

#[test]
fn timers_keep_ticking_while_a_job_sleeps() {
    watched(|| {
        nbio::block_on(async {
            let ticks = Arc::new(AtomicUsize::new(0));
            let ticker = nbio::spawn({
                let ticks = Arc::clone(&ticks);
                async move {
                    let mut interval = nbio::time::interval(Duration::from_millis(2));
                    loop {
                        interval.tick().await;
                        ticks.fetch_add(1, SeqCst);
                    }
                }
            });
            let before = ticks.load(SeqCst);
            nbio::spawn_blocking(|| thread::sleep(Duration::from_millis(200)))
                .await
                .unwrap();
            let during = ticks.load(SeqCst) - before;
            ticker.abort();
            // 100 ticks are due in 200 ms; had the sleep blocked the loop there would be none
            // (and a loop even 40 times slower, under valgrind, still ticks a few).
            assert!(during >= 3, "only {during} ticks while the job slept");
        })
    });
}

#[test]
fn sixty_four_sleeping_jobs_run_at_once() {
    watched(|| {
        nbio::block_on(async {
            // Each job waits until all 64 are running: they only finish if they run at once.
            let all_running = Arc::new(Barrier::new(64));
            let jobs: Vec<_> = (0..64)
                .map(|i| {
                    let all_running = Arc::clone(&all_running);
                    nbio::spawn_blocking(move || {
                        all_running.wait();
                        thread::sleep(Duration::from_millis(20));
                        i
                    })
                })
                .collect();
            let mut sum = 0;
            for job in jobs {
                sum += job.await.unwrap();
            }
            assert_eq!(sum, (0..64).sum::<i32>());
            let stats = nbio::stats();
            assert_eq!(stats.blocking_jobs_run, 64);
            assert!(stats.blocking_threads >= 64, "{stats}");
        })
    });
}

#[test]
fn a_panicking_job_is_a_join_error_and_the_pool_goes_on() {
    watched(|| {
        nbio::block_on(async {
            let err = nbio::spawn_blocking(|| -> u8 { panic!("the job broke") })
                .await
                .unwrap_err();
            assert!(err.is_panic());
            assert!(err.to_string().contains("the job broke"), "{err}");
            let payload = err.into_panic();
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"the job broke"));
            assert_eq!(nbio::spawn_blocking(|| 7).await.unwrap(), 7);
            assert_eq!(nbio::stats().blocking_jobs_run, 2);
        })
    });
}

#[test]
fn abort_of_a_queued_job_cancels_it_and_its_closure_never_runs() {
    watched(|| {
        let rt = nbio::Runtime::builder()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let (release, wait) = mpsc::channel::<()>();
        let busy = rt.spawn_blocking(move || wait.recv().unwrap());
        nbio_tests::eventually(Duration::from_secs(10), || {
            rt.stats().blocking_jobs_running == 1
        })
        .expect("the first job starts");
        let ran = Arc::new(AtomicBool::new(false));
        let dropped = DropCounter::new();
        let queued = rt.spawn_blocking({
            let (ran, guard) = (Arc::clone(&ran), dropped.guard());
            move || {
                let _guard = guard;
                ran.store(true, SeqCst);
            }
        });
        assert_eq!(rt.stats().blocking_jobs_queued, 1);
        queued.abort();
        release.send(()).unwrap();
        rt.block_on(busy).unwrap();
        let err = rt.block_on(queued).unwrap_err();
        assert!(err.is_cancelled(), "{err}");
        assert!(!ran.load(SeqCst), "an aborted job's closure ran");
        assert_eq!(dropped.drops(), 1, "the closure was dropped once");
        assert_eq!(rt.stats().blocking_jobs_run, 1);
    });
}

#[test]
fn a_job_whose_handle_is_dropped_runs_on_detached() {
    watched(|| {
        let rt = nbio::Runtime::new().unwrap();
        let (done, finished) = mpsc::channel();
        drop(rt.spawn_blocking(move || done.send("ran").unwrap()));
        assert_eq!(finished.recv_timeout(Duration::from_secs(10)), Ok("ran"));
        nbio_tests::eventually(Duration::from_secs(10), || {
            rt.stats().blocking_jobs_run == 1
        })
        .expect("the detached job is counted as run");
    });
}

#[test]
fn the_pool_never_runs_more_jobs_at_once_than_its_cap() {
    watched(|| {
        let rt = nbio::Runtime::builder()
            .max_blocking_threads(3)
            .build()
            .unwrap();
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        rt.block_on(async {
            let jobs: Vec<_> = (0..12)
                .map(|_| {
                    let (running, most) = (Arc::clone(&running), Arc::clone(&most));
                    nbio::spawn_blocking(move || {
                        let now = running.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(now, SeqCst);
                        thread::sleep(Duration::from_millis(5));
                        running.fetch_sub(1, SeqCst);
                    })
                })
                .collect();
            let stats = nbio::stats();
            assert!(stats.blocking_threads <= 3, "{stats}");
            assert!(
                stats.blocking_jobs_queued >= 9 - stats.blocking_jobs_running,
                "{stats}"
            );
            for job in jobs {
                job.await.unwrap();
            }
        });
        assert!(
            most.load(SeqCst) <= 3,
            "{} jobs ran at once",
            most.load(SeqCst)
        );
        let stats = rt.stats();
        assert_eq!(stats.blocking_jobs_run, 12);
        assert_eq!(stats.blocking_jobs_queued, 0);
        // Nine jobs waited for a thread behind 5 ms jobs.
        assert!(
            stats.blocking_longest_queue_wait >= Duration::from_millis(5),
            "{stats}"
        );
    });
}

#[test]
fn no_pool_thread_exists_before_the_first_job() {
    let rt = nbio::Runtime::new().unwrap();
    rt.block_on(nbio::time::sleep(Duration::from_millis(1)));
    let stats = rt.stats();
    assert_eq!(stats.blocking_threads, 0);
    assert_eq!(stats.blocking_jobs_run, 0);
    rt.block_on(rt.spawn_blocking(|| ())).unwrap();
    assert_eq!(rt.stats().blocking_threads, 1);
}

#[test]
fn spawn_blocking_outside_a_runtime_panics_naming_the_call() {
    let payload = panic::catch_unwind(AssertUnwindSafe(|| nbio::spawn_blocking(|| ())))
        .expect_err("spawn_blocking outside a runtime must panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains("nbio::spawn_blocking called outside of an nbio runtime")
            && message.contains("Runtime::spawn_blocking")
            && message.contains("blocking.rs"),
        "{message}"
    );
}

#[test]
fn a_dump_lists_running_and_queued_jobs_with_where_they_came_from_and_who_awaits_them() {
    watched(|| {
        let rt = nbio::Runtime::builder()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let (release, wait) = mpsc::channel::<()>();
        rt.block_on(async {
            let running = nbio::spawn_blocking(move || wait.recv().unwrap());
            let queued = nbio::spawn_blocking(|| 5);
            let (running_id, queued_id) = (running.id(), queued.id());
            let waiter = nbio::spawn(async move { running.await.unwrap() });
            while nbio::stats().blocking_jobs_running == 0 {
                nbio::time::sleep(Duration::from_millis(1)).await;
            }
            nbio_tests::until_idle(&[waiter.id()]).await;
            let dump = nbio::dump();
            let jobs = dump.jobs();
            assert_eq!(jobs.len(), 2, "{dump}");
            assert_eq!(jobs[0].id, running_id);
            assert!(
                matches!(&jobs[0].state, JobState::Running { thread } if thread == "blocking 1"),
                "{dump}"
            );
            assert_eq!(jobs[0].awaited_by, Awaiter::Task(waiter.id()), "{dump}");
            assert!(jobs[0].running_for.is_some());
            assert_eq!(jobs[1].id, queued_id);
            assert_eq!(jobs[1].state, JobState::Queued);
            assert_eq!(jobs[1].awaited_by, Awaiter::Nobody, "{dump}");
            assert!(jobs[1].spawned_at.file().ends_with("blocking.rs"));
            let text = dump.to_string();
            assert!(text.contains("2 blocking job(s):"), "{text}");
            assert!(
                text.contains(&format!("awaited by task#{}", waiter.id().as_u64())),
                "{text}"
            );
            assert!(text.contains("running on blocking 1 for"), "{text}");
            release.send(()).unwrap();
            waiter.await.unwrap();
            assert_eq!(queued.await.unwrap(), 5);
            assert!(nbio::dump().jobs().is_empty());
        });
    });
}

#[test]
fn a_dump_says_when_a_job_is_detached() {
    watched(|| {
        let rt = nbio::Runtime::new().unwrap();
        let (release, wait) = mpsc::channel::<()>();
        drop(rt.spawn_blocking(move || wait.recv().unwrap()));
        let dump = rt.dump();
        assert_eq!(dump.jobs()[0].awaited_by, Awaiter::Detached, "{dump}");
        assert!(dump.to_string().contains("detached"), "{dump}");
        release.send(()).unwrap();
    });
}
