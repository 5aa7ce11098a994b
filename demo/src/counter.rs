//! The article's `other_task`: a counter that counts while the sends are in flight.
//!
//! ```python
//! def other_task():
//!     i = 0
//!     while i < 2000:
//!         i += 1
//!         print i
//!         time.sleep(0.02)
//!         yield
//! ```
//!
//! Its `time.sleep(0.02)` stops the whole thread: for 20 ms no other generator runs and no
//! socket is served. The demo's counter waits on nbio's timer instead
//! ([`nbio::time::interval`]), which parks only this task; with `--blocking-counter` it does
//! what the article did, so that the difference can be seen.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// How the counter counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterConfig {
    /// Stop after this many counts (the article's 2000); `None` counts until it is stopped.
    pub limit: Option<u64>,
    /// Time between two counts (the article's 20 ms).
    pub tick: Duration,
    /// Wait with `std::thread::sleep` and a bare yield, as the article did, instead of a timer.
    pub blocking: bool,
}

impl Default for CounterConfig {
    /// Counts every millisecond until stopped, on nbio's timer.
    fn default() -> CounterConfig {
        CounterConfig {
            limit: None,
            tick: Duration::from_millis(1),
            blocking: false,
        }
    }
}

/// Counts up in `count`, one count per tick, until the limit (if any).
///
/// `count` is an `Rc<Cell<u64>>`, not an atomic: every task of an nbio runtime runs on the
/// thread that called `block_on`, so a task started with [`nbio::spawn_local`] may share plain
/// cells with the others.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use demo::counter::{count, CounterConfig};
///
/// nbio::block_on(async {
///     let config = CounterConfig { limit: Some(3), tick: Duration::from_millis(1), blocking: false };
///     let value = Rc::new(Cell::new(0));
///     nbio::spawn_local(count(config, Rc::clone(&value))).await.unwrap();
///     assert_eq!(value.get(), 3);
/// });
/// ```
///
/// # Panics
/// If `config.tick` is zero (a counter needs time between counts).
pub async fn count(config: CounterConfig, count: Rc<Cell<u64>>) {
    let mut ticks = nbio::time::interval(config.tick);
    // A count per tick of real time: ticks missed while the thread was busy are not made up.
    ticks.set_missed_tick_behavior(nbio::time::MissedTickBehavior::Skip);
    ticks.tick().await; // The first tick of an interval completes at once: skip it.
    while !config.limit.is_some_and(|limit| count.get() >= limit) {
        if config.blocking {
            // The article's `time.sleep(0.02)` then `yield`: the thread stops here, and with
            // it every other task of the runtime, the senders and the servers included.
            std::thread::sleep(config.tick);
            nbio::yield_now().await;
        } else {
            // nbio's timer: this task is parked until the next tick, and the thread runs the
            // senders and the servers meanwhile.
            ticks.tick().await;
        }
        // The article counts first and sleeps after; counting after the wait means every
        // count the summary reports took one tick of real time.
        count.set(count.get() + 1); // i += 1
    }
}
