//! Timers, as properties over random schedules: whatever the deadlines and whichever half of
//! the timers is cancelled, and when, no timer completes before its deadline, timers complete
//! in deadline order, a timer cancelled before its deadline never fires, and cancelled timers
//! leave nothing behind. Then the same "nothing behind" for 100,000 timers at once.
//!
//! `timers.rs` checks each guarantee on one hand-picked schedule. Here proptest draws the
//! schedules (deadlines that tie, timers cancelled at set-up or when another timer fires, by
//! `abort` or by dropping the `Sleep`) and, if one fails, shrinks it to a smallest failing
//! schedule. `PROPTEST_CASES` sets how many schedules are tried (default 64).
//!
//! No assertion depends on the machine's speed: a timer may fire late, and a cancel that
//! comes after the deadline (a slow machine) may lose the race; what is asserted is that a
//! timer that fired had reached its deadline, and that one cancelled before it never fired.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future::{or, poll_once};
use nbio::time::{sleep, sleep_until};
use nbio_tests::{oneshot, shuffled, slowdown, until_polled, watched, Sender};
use proptest::prelude::*;

/// How a timer is cancelled, if it is.
#[derive(Clone, Copy, Debug)]
enum Cancel {
    /// `JoinHandle::abort` on the task that sleeps: the runtime drops the `Sleep`.
    Abort,
    /// The task itself stops waiting and drops its `Sleep` (a `select` that another branch won).
    Drop,
}

/// When a timer is cancelled, if it is.
#[derive(Clone, Copy, Debug)]
enum Fate {
    Fires,
    /// Cancelled once every timer is armed, before the earliest deadline.
    CancelledAtOnce(Cancel),
    /// Cancelled by the task of the `n`-th (modulo their number) timer that fires, as it
    /// completes: often before this timer's deadline, sometimes after.
    CancelledWhenAnotherFires(Cancel, usize),
}

/// One timer of a schedule: its deadline (from a common base, in half milliseconds, so that
/// ties are common) and its fate.
#[derive(Clone, Copy, Debug)]
struct Timer {
    half_ms: u64,
    fate: Fate,
}

fn timer() -> impl Strategy<Value = Timer> {
    let cancel = prop_oneof![Just(Cancel::Abort), Just(Cancel::Drop)];
    let fate = prop_oneof![
        2 => Just(Fate::Fires),
        1 => cancel.clone().prop_map(Fate::CancelledAtOnce),
        1 => (cancel, 0..64usize).prop_map(|(how, n)| Fate::CancelledWhenAnotherFires(how, n)),
    ];
    (0..40u64, fate).prop_map(|(half_ms, fate)| Timer { half_ms, fate })
}

/// What one run of a schedule recorded.
#[derive(Debug, Default)]
struct Record {
    /// Timers that fired, in the order their tasks completed, with when.
    fired: Vec<(usize, Instant)>,
    /// When each timer was cancelled, if it was.
    cancelled_at: Vec<Option<Instant>>,
}

/// A cancel waiting to be carried out by the task of a timer that fires.
struct PendingCancel {
    victim: usize,
    how: Cancel,
    signal: Option<Sender<()>>,
}

/// A task that holds the thread (a blocking call in a poll) from `start` for `length`, both in
/// half milliseconds from the base: every deadline in between is then due at once, and the
/// reactor must still wake those timers in deadline order.
#[derive(Clone, Copy, Debug)]
struct Stall {
    start: u64,
    length: u64,
}

fn stall() -> impl Strategy<Value = Option<Stall>> {
    proptest::option::of((0..40u64, 1..16u64).prop_map(|(start, length)| Stall { start, length }))
}

/// Runs `schedule` (and `stall`) on a fresh runtime. Returns the deadlines, what happened,
/// whether every timer was armed before the earliest deadline (if not, the order proves
/// nothing), and the runtime's counters at the end.
fn run(schedule: &[Timer], stall: Option<Stall>) -> (Vec<Instant>, Record, bool, nbio::Stats) {
    let runtime = nbio::Runtime::builder()
        .slow_poll_threshold(None)
        .build()
        .unwrap();
    let margin = Duration::from_millis(30) * slowdown();
    let base = Instant::now() + margin;
    let deadlines: Vec<Instant> = schedule
        .iter()
        .map(|t| base + Duration::from_micros(500 * t.half_ms))
        .collect();
    let record = Rc::new(RefCell::new(Record {
        fired: Vec::new(),
        cancelled_at: vec![None; schedule.len()],
    }));
    let firing: Vec<usize> = (0..schedule.len())
        .filter(|&i| matches!(schedule[i].fate, Fate::Fires))
        .collect();
    // Cancels to carry out when the timer at each index fires.
    let cancels: Rc<RefCell<Vec<Vec<PendingCancel>>>> = Rc::new(RefCell::new(
        (0..schedule.len()).map(|_| Vec::new()).collect(),
    ));
    let handles: Rc<RefCell<Vec<nbio::JoinHandle<()>>>> = Rc::default();
    let armed_in_time = runtime.block_on(async {
        let stalling = stall.map(|Stall { start, length }| {
            nbio::spawn_local(async move {
                sleep_until(base + Duration::from_micros(500 * start)).await;
                std::thread::sleep(Duration::from_micros(500 * length));
            })
        });
        let mut at_once = Vec::new();
        for (i, timer) in schedule.iter().enumerate() {
            let (signal, cancelled) = oneshot::<()>();
            let (log, to_cancel, handles_of) =
                (Rc::clone(&record), Rc::clone(&cancels), Rc::clone(&handles));
            let deadline = deadlines[i];
            let handle = nbio::spawn_local(async move {
                // The cancel branch first: once the signal came, the sleep never wins.
                let cancel = async {
                    if cancelled.await.is_none() {
                        // No cancel will come (the signal was dropped): wait for the timer.
                        std::future::pending::<()>().await;
                    }
                    false
                };
                let timer = async {
                    sleep_until(deadline).await;
                    true
                };
                if !or(cancel, timer).await {
                    return; // cancelled: the `Sleep` was dropped with the `or`
                }
                log.borrow_mut().fired.push((i, Instant::now()));
                let due: Vec<PendingCancel> = to_cancel.borrow_mut()[i].drain(..).collect();
                for cancel in due {
                    log.borrow_mut().cancelled_at[cancel.victim] = Some(Instant::now());
                    match cancel.how {
                        Cancel::Abort => handles_of.borrow()[cancel.victim].abort(),
                        Cancel::Drop => cancel.signal.unwrap().send(()),
                    }
                }
            });
            let signal = Some(signal);
            match timer.fate {
                Fate::Fires => drop(signal),
                Fate::CancelledAtOnce(how) => at_once.push(PendingCancel {
                    victim: i,
                    how,
                    signal,
                }),
                Fate::CancelledWhenAnotherFires(how, n) => {
                    match firing.get(n % firing.len().max(1)) {
                        Some(&by) => cancels.borrow_mut()[by].push(PendingCancel {
                            victim: i,
                            how,
                            signal,
                        }),
                        // No timer fires to carry it out: it fires itself.
                        None => drop(signal),
                    }
                }
            }
            handles.borrow_mut().push(handle);
        }
        // Each task arms its timer at its first poll.
        until_polled().await;
        let armed_in_time = Instant::now() < base;
        for cancel in at_once {
            record.borrow_mut().cancelled_at[cancel.victim] = Some(Instant::now());
            match cancel.how {
                Cancel::Abort => handles.borrow()[cancel.victim].abort(),
                Cancel::Drop => cancel.signal.unwrap().send(()),
            }
        }
        // Awaited in place: the tasks that cancel need the handles to abort with.
        for i in 0..schedule.len() {
            // Ok, or cancelled by an abort.
            let _ = poll_fn(|cx| Pin::new(&mut handles.borrow_mut()[i]).poll(cx)).await;
        }
        if let Some(stalling) = stalling {
            stalling.await.unwrap();
        }
        armed_in_time
    });
    let stats = runtime.stats();
    drop(runtime);
    let record = Rc::try_unwrap(record).ok().unwrap().into_inner();
    (deadlines, record, armed_in_time, stats)
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn timers_never_fire_early_fire_in_deadline_order_and_once_cancelled_never_fire(
        schedule in prop::collection::vec(timer(), 1..48),
        stall in stall(),
    ) {
        let schedule_for_run = schedule.clone();
        let (deadlines, record, armed_in_time, stats) =
            watched(move || run(&schedule_for_run, stall));
        let mut fired = vec![false; schedule.len()];
        for &(i, at) in &record.fired {
            prop_assert!(!fired[i], "timer {} fired twice", i);
            fired[i] = true;
            prop_assert!(at >= deadlines[i], "timer {} fired {:?} early", i, deadlines[i] - at);
            if let Some(cancelled) = record.cancelled_at[i] {
                prop_assert!(
                    deadlines[i] <= cancelled,
                    "timer {} fired although it was cancelled {:?} before its deadline",
                    i, deadlines[i] - cancelled
                );
            }
        }
        for (i, timer) in schedule.iter().enumerate() {
            if record.cancelled_at[i].is_none() {
                prop_assert!(fired[i], "timer {} ({:?}) never fired", i, timer);
            }
        }
        // Cancels that came only after their timer's deadline: the timer may have fired (and
        // been counted) before its task was dropped.
        let late_cancels = (0..schedule.len())
            .filter(|&i| !fired[i] && record.cancelled_at[i].is_some_and(|at| at >= deadlines[i]))
            .count();
        if armed_in_time {
            // A timer left behind by a cancel fires unseen: it shows up only in this count.
            // (The stalling task's own sleep is one more timer.)
            let counted = stats.timers_fired as usize - usize::from(stall.is_some());
            prop_assert!(
                record.fired.len() <= counted && counted <= record.fired.len() + late_cancels,
                "{} timers fired ({} cancelled late) but the runtime counted {}: {}",
                record.fired.len(), late_cancels, counted, stats
            );
            // Deadline order; equal deadlines in the order the timers were armed, which is
            // the order their tasks were spawned (and first polled) in.
            let order: Vec<(Instant, usize)> =
                record.fired.iter().map(|&(i, _)| (deadlines[i], i)).collect();
            prop_assert!(
                order.windows(2).all(|pair| pair[0] < pair[1]),
                "timers completed out of deadline order: {:?}",
                record.fired.iter().map(|&(i, _)| (schedule[i].half_ms, i)).collect::<Vec<_>>()
            );
        }
        prop_assert_eq!(stats.timers_pending, 0, "{}", stats);
        prop_assert_eq!(stats.tasks_alive, 0, "{}", stats);
    }
}

#[test]
fn a_hundred_thousand_armed_then_cancelled_sleeps_leave_no_timer_behind() {
    const TIMERS: usize = 100_000;
    watched(|| {
        nbio::block_on(async {
            let mut sleeps: Vec<_> = (0..TIMERS as u64)
                .map(|i| Some(Box::pin(sleep(Duration::from_secs(3600 + i % 1000)))))
                .collect();
            for armed in sleeps.iter_mut().flatten() {
                assert!(poll_once(armed.as_mut()).await.is_none());
            }
            assert_eq!(nbio::stats().timers_pending as usize, TIMERS);
            for i in shuffled(TIMERS, 7) {
                drop(sleeps[i].take());
            }
            let stats = nbio::stats();
            assert_eq!(stats.timers_pending, 0, "{stats}");
            assert_eq!(stats.timers_fired, 0, "{stats}");
            // The runtime still serves a real timer, and only that one fires.
            sleep(Duration::from_millis(1)).await;
            assert_eq!(nbio::stats().timers_fired, 1);
        });
    });
}

#[test]
fn a_hundred_thousand_sleeping_tasks_aborted_leave_no_timer_and_no_task_behind() {
    const TASKS: usize = 100_000;
    watched(|| {
        let runtime = nbio::Runtime::new().unwrap();
        runtime.block_on(async {
            let handles: Vec<_> = (0..TASKS as u64)
                .map(|i| nbio::spawn(sleep(Duration::from_secs(3600 + i % 1000))))
                .collect();
            while nbio::stats().timers_pending < TASKS as u64 {
                nbio::yield_now().await;
            }
            for i in shuffled(TASKS, 11) {
                handles[i].abort();
            }
            for handle in handles {
                assert!(handle.await.unwrap_err().is_cancelled());
            }
            let stats = nbio::stats();
            assert_eq!(stats.timers_pending, 0, "{stats}");
            assert_eq!(stats.tasks_alive, 0, "{stats}");
            assert_eq!(stats.timers_fired, 0, "{stats}");
        });
    });
}
