//! Model check of the watchdog's sleep (`watchdog.rs`, `Sleep`): a lane's thread that becomes
//! active while the watchdog decides to sleep is never left unwatched.
//!
//! ```text
//! RUSTFLAGS="--cfg nbio_loom" cargo test -p nbio --lib --release loom
//! ```
//!
//! A watchdog that sleeps through activity would block forever on its condition variable, and
//! loom reports a thread that can never be woken as a deadlock: so the model fails if either
//! guard goes, the watchdog's look at `ACTIVE` before it sleeps, or the lane's look at
//! `SLEEPING` after it marks itself active.

use loom::sync::Arc;
use loom::thread;

use super::watchdog::Sleep;

#[test]
fn loom_the_watchdog_never_sleeps_through_a_lane_becoming_active() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new());
        let lane = thread::spawn({
            let sleep = Arc::clone(&sleep);
            move || sleep.active()
        });
        // The watchdog saw every lane idle: it sleeps until activity (at once if it came).
        let shut_down = sleep.wait_for_activity();
        assert!(!shut_down);
        lane.join().unwrap();
    });
}
