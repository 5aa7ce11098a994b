//! Timers: deadlines in order, each with the waker of the task that waits for it.
//!
//! The article's counter sleeps with `time.sleep(0.02)`, which stops the whole loop. A timer
//! here is an entry in an ordered map instead: the reactor makes the poller's wait end at the
//! earliest deadline, then wakes every task whose deadline has passed, earliest first.
//!
//! Entries are keyed by `(deadline, id)`: ordered by deadline, ties broken by the order they
//! were made in, and found again in O(log n) to be cancelled or given a new waker.

use std::collections::BTreeMap;
use std::task::Waker;

use super::{Trigger, Woken};
use std::time::Instant;

/// The pending timers of one reactor.
#[derive(Default)]
pub(crate) struct Timers {
    entries: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
    /// While a thread blocks in the reactor: the deadline its wait ends at (`Some(None)`: it
    /// waits for an event only). A timer armed meanwhile with an earlier deadline, from
    /// another thread, must cut that wait short.
    pub(crate) blocked_until: Option<Option<Instant>>,
}

impl Timers {
    /// Adds a timer; the returned id, with the deadline, finds it again. The flag says whether
    /// a thread blocked in the reactor waits past the new deadline, and must be woken.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: &Waker) -> (u64, bool) {
        let id = self.next_id;
        self.next_id += 1;
        self.entries.insert((deadline, id), waker.clone());
        let cut_short = self
            .blocked_until
            .is_some_and(|until| until.map_or(true, |until| deadline < until));
        (id, cut_short)
    }

    /// Makes a pending timer wake `waker` instead. Returns false if it already fired.
    pub(crate) fn update(&mut self, deadline: Instant, id: u64, waker: &Waker) -> bool {
        match self.entries.get_mut(&(deadline, id)) {
            Some(current) => {
                if !current.will_wake(waker) {
                    current.clone_from(waker);
                }
                true
            }
            None => false,
        }
    }

    /// Cancels a timer, returning its waker if it had not fired.
    pub(crate) fn remove(&mut self, deadline: Instant, id: u64) -> Option<Waker> {
        self.entries.remove(&(deadline, id))
    }

    /// The earliest deadline, if any timer is pending.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.entries
            .first_key_value()
            .map(|(&(deadline, _), _)| deadline)
    }

    /// Moves the wakers of every timer due at `now` into `due`, earliest first; returns how
    /// many fired. A timer never fires before its deadline.
    pub(crate) fn fire(&mut self, now: Instant, due: &mut Vec<Woken>) -> usize {
        let mut fired = 0;
        while let Some(entry) = self.entries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            due.push((entry.remove(), Trigger::Timer));
            fired += 1;
        }
        fired
    }

    /// How many timers are pending.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}
