//! Virtual time: a clock that jumps to the next deadline when nothing can run, so that sleeps,
//! timeouts and intervals take no real time and always read the same.

use std::future::pending;
use std::time::{Duration, Instant};

use nbio::net::AsyncUnixStream;
use nbio::time::{advance, interval, now, sleep, timeout};
use nbio::Runtime;
use nbio_tests::watched;

fn virtual_runtime() -> Runtime {
    Runtime::builder().virtual_time(true).build().unwrap()
}

#[test]
fn an_hours_sleep_takes_no_real_time_and_moves_the_clock_by_the_hour() {
    watched(|| {
        let runtime = virtual_runtime();
        let real = Instant::now();
        let moved = runtime.block_on(async {
            let start = now();
            sleep(Duration::from_secs(3600)).await;
            now() - start
        });
        assert!(moved >= Duration::from_secs(3600), "{moved:?}");
        assert!(
            moved < Duration::from_secs(3601),
            "the clock moved past the deadline: {moved:?}"
        );
        assert!(
            real.elapsed() < Duration::from_secs(5),
            "{:?}",
            real.elapsed()
        );
    });
}

#[test]
fn a_timeout_on_a_future_that_never_completes_elapses_at_once_in_real_time() {
    watched(|| {
        let runtime = virtual_runtime();
        let real = Instant::now();
        let result = runtime.block_on(async {
            let start = now();
            let outcome = timeout(Duration::from_secs(86_400), pending::<()>()).await;
            (outcome, now() - start)
        });
        assert!(result.0.is_err());
        assert_eq!(result.1, Duration::from_secs(86_400));
        assert!(real.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn an_interval_ticks_in_exact_steps() {
    watched(|| {
        let runtime = virtual_runtime();
        let ticks = runtime.block_on(async {
            let mut ticks = interval(Duration::from_millis(250));
            let mut at = Vec::new();
            for _ in 0..9 {
                at.push(ticks.tick().await);
            }
            at
        });
        for pair in ticks.windows(2) {
            assert_eq!(pair[1] - pair[0], Duration::from_millis(250), "{ticks:?}");
        }
    });
}

#[test]
fn advance_fires_the_timers_that_fall_due_and_only_those() {
    watched(|| {
        let runtime = virtual_runtime();
        runtime.block_on(async {
            let short = nbio::spawn(sleep(Duration::from_secs(1)));
            let long = nbio::spawn(sleep(Duration::from_secs(10)));
            nbio::yield_now().await; // both armed
            advance(Duration::from_secs(2)).await;
            assert!(short.is_finished());
            assert!(
                !long.is_finished(),
                "advance fired a timer that was not due"
            );
            advance(Duration::from_secs(8)).await;
            assert!(long.is_finished());
        });
    });
}

#[test]
fn timers_fire_in_deadline_order_and_the_clock_reads_each_deadline() {
    watched(|| {
        let runtime = virtual_runtime();
        let seen = runtime.block_on(async {
            let start = now();
            let tasks: Vec<_> = [5u64, 1, 3, 2, 4]
                .into_iter()
                .map(|s| {
                    nbio::spawn(async move {
                        sleep(Duration::from_secs(s)).await;
                        (s, (now() - start).as_secs())
                    })
                })
                .collect();
            let mut seen = Vec::new();
            for task in tasks {
                seen.push(task.await.unwrap());
            }
            seen
        });
        for (wanted, read) in seen {
            assert_eq!(
                wanted, read,
                "a sleep of {wanted} s woke when the clock read {read} s"
            );
        }
    });
}

#[test]
fn a_ready_socket_event_is_delivered_before_the_clock_moves() {
    watched(|| {
        let runtime = virtual_runtime();
        runtime.block_on(async {
            let (a, b) = AsyncUnixStream::pair().unwrap();
            let reader = nbio::spawn(async move {
                let mut buf = [0u8; 4];
                // A long timeout: if the clock jumped before the data's event was delivered,
                // the read would time out.
                timeout(Duration::from_secs(3600), b.read_exact(&mut buf))
                    .await
                    .map(|read| read.map(|()| buf))
            });
            sleep(Duration::from_millis(10)).await;
            a.write_all(b"data").await.unwrap();
            let got = reader.await.unwrap();
            assert_eq!(got.unwrap().unwrap(), *b"data");
        });
    });
}

#[test]
fn virtual_time_on_worker_threads_is_refused_with_a_clear_error() {
    let err = Runtime::builder()
        .worker_threads(2)
        .virtual_time(true)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("current-thread"), "{err}");
}

#[test]
#[should_panic(expected = "needs virtual time")]
fn advance_on_real_time_panics_with_a_message_that_says_so() {
    nbio::block_on(advance(Duration::from_secs(1)));
}

#[test]
fn the_clock_holds_while_a_blocking_job_runs() {
    watched(|| {
        let runtime = virtual_runtime();
        let (clock_during_job, timer_fired_first) = runtime.block_on(async {
            let start = now();
            // A timer due in a minute: with nothing else to run, the clock would jump to it.
            let timer = nbio::spawn(async {
                sleep(Duration::from_secs(60)).await;
                now()
            });
            nbio::yield_now().await; // let the timer arm
                                     // A job that takes real time: while it runs, a task may still be woken by its end,
                                     // so the clock must not jump past it.
            let job = nbio::spawn_blocking(|| std::thread::sleep(Duration::from_millis(200)));
            job.await.unwrap();
            let during = now() - start;
            let fired_first = timer.is_finished();
            timer.await.unwrap();
            (during, fired_first)
        });
        assert_eq!(
            clock_during_job,
            Duration::ZERO,
            "the clock moved while the job ran"
        );
        assert!(
            !timer_fired_first,
            "the minute's timer fired before the job ended"
        );
    });
}

#[test]
fn a_detached_job_holds_the_clock_only_until_it_returns() {
    watched(|| {
        let runtime = virtual_runtime();
        let (done, seen) = std::sync::mpsc::channel();
        let moved = runtime.block_on(async move {
            let start = now();
            // Nobody awaits this job: its end wakes no task, yet the clock must move after it.
            drop(nbio::spawn_blocking(move || {
                std::thread::sleep(Duration::from_millis(50));
                done.send(()).unwrap();
            }));
            sleep(Duration::from_secs(30)).await;
            now() - start
        });
        seen.try_recv()
            .expect("the job returned before the clock moved past it");
        assert!(moved >= Duration::from_secs(30), "{moved:?}");
    });
}

#[test]
fn a_job_aborted_before_it_ran_does_not_hold_the_clock() {
    watched(|| {
        let runtime = Runtime::builder()
            .virtual_time(true)
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let moved = runtime.block_on(async {
            let start = now();
            let busy = nbio::spawn_blocking(|| std::thread::sleep(Duration::from_millis(20)));
            let queued = nbio::spawn_blocking(|| ()); // waits for the one thread
            queued.abort();
            assert!(queued.await.unwrap_err().is_cancelled());
            busy.await.unwrap();
            sleep(Duration::from_secs(30)).await; // only moves once no job is left
            now() - start
        });
        assert!(moved >= Duration::from_secs(30), "{moved:?}");
    });
}
