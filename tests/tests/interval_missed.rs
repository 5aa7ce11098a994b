//! `Interval`'s `MissedTickBehavior`, on virtual time so that every instant is exact: `Burst`
//! (the default) delivers the missed ticks back to back, `Delay` puts the next tick a period after
//! the late one, `Skip` the next one on the original grid after now; a tick late by less than a
//! period misses nothing, whatever the behaviour. Cases ported from tokio's time_interval.rs.

use std::time::{Duration, Instant};

use nbio::time::{interval, now, sleep, Interval, MissedTickBehavior};
use nbio::Runtime;

const PERIOD: Duration = Duration::from_millis(10);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `body` on a virtual clock.
fn on_virtual_time<T>(body: impl std::future::Future<Output = T>) -> T {
    Runtime::builder()
        .virtual_time(true)
        .build()
        .unwrap()
        .block_on(body)
}

/// Takes the first tick, stays away `busy` (a sleep: the interval is not polled meanwhile), then
/// takes `ticks` more. Returns, for each of those, the instant it was scheduled for and the
/// instant it was delivered, both measured from the first tick.
async fn late_ticks(
    behavior: Option<MissedTickBehavior>,
    busy: Duration,
    ticks: usize,
) -> Vec<(Duration, Duration)> {
    let mut every: Interval = interval(PERIOD);
    if let Some(behavior) = behavior {
        every.set_missed_tick_behavior(behavior);
    }
    let start: Instant = every.tick().await;
    assert_eq!(start, now(), "the first tick completes at once");
    sleep(busy).await;
    let mut seen = Vec::new();
    for _ in 0..ticks {
        let tick = every.tick().await;
        seen.push((tick - start, now() - start));
    }
    seen
}

#[test]
fn burst_is_the_default() {
    assert_eq!(
        interval(PERIOD).missed_tick_behavior(),
        MissedTickBehavior::Burst
    );
    let default = on_virtual_time(late_ticks(None, ms(35), 5));
    let burst = on_virtual_time(late_ticks(Some(MissedTickBehavior::Burst), ms(35), 5));
    assert_eq!(default, burst);
}

#[test]
fn burst_delivers_every_missed_tick_back_to_back_then_keeps_the_grid() {
    let seen = on_virtual_time(late_ticks(Some(MissedTickBehavior::Burst), ms(35), 5));
    assert_eq!(
        seen,
        [
            (ms(10), ms(35)),
            (ms(20), ms(35)),
            (ms(30), ms(35)),
            (ms(40), ms(40)),
            (ms(50), ms(50)),
        ]
    );
}

#[test]
fn delay_puts_the_next_tick_a_period_after_the_late_one() {
    let seen = on_virtual_time(late_ticks(Some(MissedTickBehavior::Delay), ms(35), 3));
    assert_eq!(seen, [(ms(10), ms(35)), (ms(45), ms(45)), (ms(55), ms(55))]);
}

#[test]
fn skip_puts_the_next_tick_on_the_original_grid_after_now() {
    let seen = on_virtual_time(late_ticks(Some(MissedTickBehavior::Skip), ms(35), 3));
    assert_eq!(seen, [(ms(10), ms(35)), (ms(40), ms(40)), (ms(50), ms(50))]);
}

#[test]
fn skip_back_exactly_on_the_grid_skips_the_tick_due_now_too() {
    // Back at 30 ms: ticks 10, 20 and 30 are due. One is delivered; the next tick of the grid
    // strictly after now is 40.
    let seen = on_virtual_time(late_ticks(Some(MissedTickBehavior::Skip), ms(30), 2));
    assert_eq!(seen, [(ms(10), ms(30)), (ms(40), ms(40))]);
}

#[test]
fn a_tick_late_by_less_than_a_period_misses_nothing_whatever_the_behaviour() {
    for behavior in [
        MissedTickBehavior::Burst,
        MissedTickBehavior::Delay,
        MissedTickBehavior::Skip,
    ] {
        let seen = on_virtual_time(late_ticks(Some(behavior), ms(15), 3));
        assert_eq!(
            seen,
            [(ms(10), ms(15)), (ms(20), ms(20)), (ms(30), ms(30))],
            "{behavior:?}"
        );
    }
}

#[test]
fn an_interval_that_keeps_up_ticks_on_the_grid_whatever_the_behaviour() {
    for behavior in [
        MissedTickBehavior::Burst,
        MissedTickBehavior::Delay,
        MissedTickBehavior::Skip,
    ] {
        let seen = on_virtual_time(late_ticks(Some(behavior), ms(0), 4));
        let expected: Vec<_> = (1..=4).map(|n| (ms(10 * n), ms(10 * n))).collect();
        assert_eq!(seen, expected, "{behavior:?}");
    }
}

#[test]
fn a_change_of_behaviour_applies_from_the_next_missed_tick() {
    let seen = on_virtual_time(async {
        let mut every = interval(PERIOD);
        let start = every.tick().await;
        sleep(ms(35)).await;
        // Burst: 10 at once, and the next (20) already due, as Burst decided then.
        let mut seen = vec![every.tick().await - start];
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // 20 is delivered (at 35); the tick after it, 30, is due too: Delay decides now.
        seen.push(every.tick().await - start);
        seen.push(every.tick().await - start);
        seen
    });
    assert_eq!(seen, [ms(10), ms(20), ms(45)]);
}

#[test]
fn a_long_stall_in_burst_delivers_each_tick_once_and_in_order() {
    let seen = on_virtual_time(late_ticks(Some(MissedTickBehavior::Burst), ms(1000), 101));
    for (n, (scheduled, _)) in seen.iter().enumerate() {
        assert_eq!(*scheduled, ms(10 * (n as u64 + 1)));
    }
    assert_eq!(seen[99].1, ms(1000), "the hundredth tick came at once");
    assert_eq!(seen[100], (ms(1010), ms(1010)));
}
