//! Timers: `sleep`, `sleep_until`, `timeout` and `interval`.
//!
//! DESIGN.md: "Timers never fire early, fire in deadline order, and cancelling one costs
//! little." No test here asserts that a timer fired *soon enough*: on a busy machine it may
//! fire late, and that is allowed. What is asserted never depends on the machine's speed.

use std::future::{pending, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::future::poll_once;
use nbio::time::{interval, sleep, sleep_until, timeout, Elapsed};
use nbio_tests::{shuffled, watched, DropCounter};

/// Durations from zero to a few milliseconds, with many below one millisecond (where a
/// millisecond-granular wait would round a deadline away).
const DURATIONS: [Duration; 13] = [
    Duration::ZERO,
    Duration::from_nanos(1),
    Duration::from_micros(1),
    Duration::from_micros(10),
    Duration::from_micros(100),
    Duration::from_micros(250),
    Duration::from_micros(500),
    Duration::from_micros(999),
    Duration::from_millis(1),
    Duration::from_micros(1_500),
    Duration::from_millis(2),
    Duration::from_millis(5),
    Duration::from_millis(10),
];

#[test]
fn sleep_never_completes_before_its_duration_has_passed() {
    watched(|| {
        nbio::block_on(async {
            for round in 0..5 {
                for duration in DURATIONS {
                    let start = Instant::now();
                    sleep(duration).await;
                    let elapsed = start.elapsed();
                    assert!(
                        elapsed >= duration,
                        "round {round}: sleep({duration:?}) completed after {elapsed:?}"
                    );
                }
            }
        });
    });
}

/// Counts the polls of the future it wraps.
struct CountPolls<F> {
    inner: F,
    polls: usize,
}

impl<F: Future<Output = ()> + Unpin> Future for CountPolls<F> {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls += 1;
        match Pin::new(&mut self.inner).poll(cx) {
            Poll::Ready(()) => Poll::Ready(self.polls),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[test]
fn a_sleep_is_woken_once_and_never_before_its_deadline() {
    watched(|| {
        // A sleep registers its timer at the first poll and completes at the second; a wake
        // before the deadline would cost a third poll (Sleep re-checks the clock and waits again).
        // A task that is always ready runs alongside, so that the reactor looks at its timers
        // at every turn of the loop rather than only when the earliest deadline comes.
        let (polls, stats) = nbio::block_on(async {
            let stop = Arc::new(AtomicBool::new(false));
            let busy = nbio::spawn({
                let stop = Arc::clone(&stop);
                async move {
                    while !stop.load(SeqCst) {
                        nbio::yield_now().await;
                    }
                }
            });
            let mut polls = Vec::new();
            for duration in DURATIONS {
                for _ in 0..3 {
                    let sleep = Box::pin(sleep(duration));
                    let counted = nbio::spawn(CountPolls {
                        inner: sleep,
                        polls: 0,
                    });
                    polls.push((duration, counted.await.unwrap()));
                }
            }
            stop.store(true, SeqCst);
            busy.await.unwrap();
            (polls, nbio::stats())
        });
        let woken_early: Vec<_> = polls.iter().filter(|(_, n)| *n > 2).collect();
        assert!(
            woken_early.is_empty(),
            "sleeps woken before their deadline: {woken_early:?}"
        );
        let registered = polls.iter().filter(|(_, n)| *n == 2).count() as u64;
        assert_eq!(stats.timers_fired, registered, "{stats}");
    });
}

#[test]
fn sleep_until_never_completes_before_its_deadline() {
    watched(|| {
        nbio::block_on(async {
            for duration in DURATIONS {
                let deadline = Instant::now() + duration;
                sleep_until(deadline).await;
                let now = Instant::now();
                assert!(now >= deadline, "{:?} early", deadline - now);
            }
        });
    });
}

#[test]
fn many_concurrent_sleeps_each_complete_no_earlier_than_their_own_deadline() {
    watched(|| {
        let early = nbio::block_on(async {
            let handles: Vec<_> = (0..200u64)
                .map(|i| {
                    nbio::spawn(async move {
                        let duration = Duration::from_micros(37 * (i % 60));
                        let deadline = Instant::now() + duration;
                        sleep(duration).await;
                        let now = Instant::now();
                        (now < deadline).then(|| (i, deadline - now))
                    })
                })
                .collect();
            let mut early = Vec::new();
            for handle in handles {
                early.extend(handle.await.unwrap());
            }
            early
        });
        assert!(early.is_empty(), "sleeps that completed early: {early:?}");
    });
}

/// Spawns `count` tasks in a shuffled order, task `i` sleeping until `margin + i × step` from
/// now, and waits until each was polled once; with `block_past`, then blocks the thread past
/// every deadline, so that all come due at the same turn of the loop. Returns the order the
/// tasks finished in, or `None` if the machine was too slow to register every timer before the
/// first deadline (a task whose deadline has passed at its first poll finishes at once).
fn finish_order(
    count: usize,
    margin: Duration,
    step: Duration,
    block_past: bool,
) -> Option<Vec<usize>> {
    nbio::block_on(async {
        let base = Instant::now() + margin;
        let finished = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = shuffled(count, 0x5eed)
            .into_iter()
            .map(|i| {
                let finished = Arc::clone(&finished);
                nbio::spawn(async move {
                    sleep_until(base + step * i as u32).await;
                    finished.lock().unwrap().push(i);
                })
            })
            .collect();
        // Every task polled once: it registered its timer, or its deadline had passed.
        while nbio::stats().timers_pending + (finished.lock().unwrap().len() as u64) < count as u64
        {
            nbio::yield_now().await;
        }
        let registered_in_time = Instant::now() < base && finished.lock().unwrap().is_empty();
        if block_past {
            std::thread::sleep(margin * 2 + step * count as u32);
        }
        for handle in handles {
            handle.await.unwrap();
        }
        let order = finished.lock().unwrap().clone();
        registered_in_time.then_some(order)
    })
}

/// `finish_order`, from `margin` up, four times larger on each try, until the machine is fast
/// enough to register every timer in time.
fn finish_order_with_room(
    count: usize,
    mut margin: Duration,
    step: Duration,
    block_past: bool,
) -> Vec<usize> {
    loop {
        if let Some(order) = finish_order(count, margin, step, block_past) {
            return order;
        }
        assert!(
            margin < Duration::from_secs(2),
            "the machine is far too slow"
        );
        margin *= 4;
    }
}

#[test]
fn timers_fire_in_deadline_order_whatever_order_they_were_made_in() {
    watched(|| {
        let order = finish_order_with_room(
            30,
            Duration::from_millis(30),
            Duration::from_millis(1),
            false,
        );
        assert_eq!(order, (0..30).collect::<Vec<_>>());
    });
}

#[test]
fn timers_due_together_wake_in_deadline_order() {
    watched(|| {
        // The deadlines all pass while the runtime's thread is blocked, so they are due at the
        // same turn of the loop; their tasks must still run earliest deadline first.
        let order = finish_order_with_room(
            20,
            Duration::from_millis(5),
            Duration::from_micros(50),
            true,
        );
        assert_eq!(order, (0..20).collect::<Vec<_>>());
    });
}

#[test]
fn timeout_gives_the_output_when_the_future_finishes_first() {
    watched(|| {
        let (result, pending_timers) = nbio::block_on(async {
            let result = timeout(Duration::from_secs(10), async {
                sleep(Duration::from_millis(1)).await;
                "done"
            })
            .await;
            (result, nbio::stats().timers_pending)
        });
        assert_eq!(result, Ok("done"));
        assert_eq!(
            pending_timers, 0,
            "the timeout's own timer must be gone with it"
        );
    });
}

#[test]
fn timeout_gives_elapsed_no_earlier_than_the_deadline_and_drops_the_future() {
    watched(|| {
        let drops = DropCounter::new();
        let guard = drops.guard();
        let limit = Duration::from_millis(3);
        let (result, elapsed) = nbio::block_on(async move {
            let start = Instant::now();
            let result = timeout(limit, async move {
                let _guard = guard;
                pending::<()>().await;
            })
            .await;
            (result, start.elapsed())
        });
        let err: Elapsed = result.unwrap_err();
        assert!(err.to_string().contains("deadline"), "{err}");
        assert!(
            elapsed >= limit,
            "gave up after {elapsed:?}, before {limit:?}"
        );
        assert_eq!(drops.drops(), 1, "the abandoned future must be dropped");
    });
}

#[test]
fn elapsed_converts_into_an_io_error_of_kind_timed_out() {
    watched(|| {
        let err: std::io::Error = nbio::block_on(async {
            timeout(Duration::from_micros(10), pending::<()>())
                .await
                .unwrap_err()
                .into()
        });
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    });
}

#[test]
fn interval_first_tick_completes_at_once_without_a_timer() {
    watched(|| {
        nbio::block_on(async {
            let before = Instant::now();
            let mut ticks = interval(Duration::from_secs(3600));
            let first = poll_once(ticks.tick()).await;
            let first = first.expect("the first tick must complete at the first poll");
            assert!(first >= before && first <= Instant::now());
            assert_eq!(nbio::stats().timers_fired, 0);
            // The second one is an hour away.
            assert!(poll_once(ticks.tick()).await.is_none());
            assert_eq!(nbio::stats().timers_pending, 1);
            drop(ticks);
            assert_eq!(nbio::stats().timers_pending, 0);
        });
    });
}

#[test]
fn interval_ticks_are_whole_periods_apart_and_never_early() {
    watched(|| {
        let period = Duration::from_millis(3);
        let ticks = nbio::block_on(async {
            let mut ticks = interval(period);
            let mut seen = Vec::new();
            for _ in 0..6 {
                let tick = ticks.tick().await;
                assert!(
                    Instant::now() >= tick,
                    "a tick completed before its instant"
                );
                seen.push(tick);
            }
            seen
        });
        // One period apart when the loop keeps up; on a busy machine a late tick makes the
        // interval skip the ticks it missed, but never breaks the schedule's phase.
        for pair in ticks.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= period && gap.as_nanos() % period.as_nanos() == 0,
                "ticks {gap:?} apart with a period of {period:?}"
            );
        }
    });
}

#[test]
fn interval_told_to_skip_skips_missed_ticks_instead_of_delivering_a_burst() {
    watched(|| {
        let period = Duration::from_millis(5);
        let (first, second, third) = nbio::block_on(async {
            let mut ticks = interval(period);
            ticks.set_missed_tick_behavior(nbio::time::MissedTickBehavior::Skip);
            let first = ticks.tick().await;
            // Hold the thread for more than four periods: those ticks are missed.
            std::thread::sleep(period * 4 + Duration::from_millis(3));
            let second = ticks.tick().await;
            let third = ticks.tick().await;
            (first, second, third)
        });
        assert_eq!(second - first, period, "the overdue tick is delivered once");
        assert!(
            third - second > period,
            "missed ticks were delivered back to back"
        );
        assert_eq!(
            (third - first).as_nanos() % period.as_nanos(),
            0,
            "skipping must keep the original phase"
        );
    });
}

#[test]
fn dropping_a_pending_sleep_removes_its_timer() {
    watched(|| {
        nbio::block_on(async {
            let mut pending_sleep = Box::pin(sleep(Duration::from_secs(3600)));
            assert!(poll_once(pending_sleep.as_mut()).await.is_none());
            assert_eq!(nbio::stats().timers_pending, 1);
            drop(pending_sleep);
            assert_eq!(nbio::stats().timers_pending, 0);
            assert_eq!(nbio::stats().timers_fired, 0);
        });
    });
}

#[test]
fn ten_thousand_cancelled_timers_leave_nothing_behind() {
    watched(|| {
        nbio::block_on(async {
            let mut sleeps: Vec<_> = (0..10_000u64)
                .map(|i| Some(Box::pin(sleep(Duration::from_secs(3600 + i % 7)))))
                .collect();
            for s in sleeps.iter_mut().flatten() {
                assert!(poll_once(s.as_mut()).await.is_none());
            }
            assert_eq!(nbio::stats().timers_pending, 10_000);
            // Drop them out of deadline order.
            for i in shuffled(sleeps.len(), 3) {
                drop(sleeps[i].take());
            }
            assert_eq!(nbio::stats().timers_pending, 0);
            // The runtime still serves a real timer afterwards.
            sleep(Duration::from_millis(1)).await;
            assert_eq!(nbio::stats().timers_fired, 1);
        });
    });
}

#[test]
fn reset_moves_a_pending_sleep_to_its_new_deadline() {
    watched(|| {
        nbio::block_on(async {
            let mut long = pin!(sleep(Duration::from_secs(3600)));
            assert!(poll_once(long.as_mut()).await.is_none());
            let deadline = Instant::now() + Duration::from_millis(2);
            long.as_mut().get_mut().reset(deadline);
            long.await;
            assert!(Instant::now() >= deadline);
            assert_eq!(nbio::stats().timers_pending, 0);
        })
    });
}

#[test]
fn a_sleep_first_polled_on_one_runtime_completes_on_another() {
    watched(|| {
        let first = nbio::Runtime::new().unwrap();
        let mut moving = Box::pin(sleep(Duration::from_millis(20)));
        first.block_on(async {
            assert!(poll_once(moving.as_mut()).await.is_none());
        });
        assert_eq!(first.stats().timers_pending, 1);
        let second = nbio::Runtime::new().unwrap();
        second.block_on(moving);
        assert_eq!(
            first.stats().timers_pending,
            0,
            "the old registration must go when the sleep moves"
        );
    });
}

#[test]
fn a_sleep_whose_deadline_has_passed_completes_even_outside_a_runtime() {
    watched(|| {
        let past = Instant::now();
        std::thread::sleep(Duration::from_millis(1));
        futures_lite::future::block_on(sleep_until(past));
        let done = sleep(Duration::ZERO);
        assert!(done.is_elapsed());
        futures_lite::future::block_on(done);
    });
}
