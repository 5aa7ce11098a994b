//! Liveness: a simulation that can no longer move fails at once, naming its stuck tasks and
//! their hosts, instead of sleeping until the virtual time limit.
//!
//! The runtime's own check (`diagnose`) cannot see through a simulation: every host task's
//! waker is held by the simulated network or by the crash bookkeeping, and the run's own
//! deadline is a pending timer, so to the runtime something can always still happen. The
//! simulation knows better. With virtual time, the clock jumps to the deadline only when no
//! task can run and no earlier timer is pending; if, when it does, no other timer is pending,
//! no segment or datagram is in flight and no blocking job runs, nothing inside the simulation
//! can ever happen again: a deadlock ([`SimFailure::Deadlock`]), reported with the tasks of
//! every host and what each waits on. A cycle of tasks waiting on each other (two `Mutex`es
//! locked in opposite orders, a `JoinHandle` awaited both ways) is reported the same way even
//! if some other host still has timers going: under a seed the cycle replays, so it is
//! treated as proof, as `OnCycle::Panic` treats it.

use std::time::Duration;

use super::world::World;
use super::SimFailure;

use crate::observe::{Dump, TaskState};
use crate::task::WaitOn;

/// Why the run's deadline came: the run is stuck (a deadlock, or a cycle of waits) or it is
/// only slow (a task was woken at the deadline's instant, a timer is pending after it, a
/// message is in flight) (a client still has things to do, and `limit` is too short for it). Called on the
/// runtime's thread, from the run's main future, as the deadline fires.
pub(crate) fn stuck_or_late(world: &World, limit: Duration) -> SimFailure {
    let dump = crate::executor::dump();
    let stats = crate::executor::stats();
    let in_flight = world.with(|state, _| state.in_flight());
    let cycles = dump.cycles();
    let can_run = (dump.tasks().iter()).any(|task| !matches!(task.state, TaskState::Idle));
    let quiet = !can_run
        && stats.timers_pending == 0
        && !in_flight
        && stats.blocking_jobs_running == 0
        && stats.blocking_jobs_queued == 0;
    if let Some(leak) = quiet.then(|| waits_on_real_time(&dump)).flatten() {
        return leak;
    }
    if quiet || !cycles.is_empty() {
        SimFailure::Deadlock {
            cycles,
            tasks: hosts_tasks(&dump),
        }
    } else {
        let last = world.with(|state, _| state.log.last().map(|event| event.at));
        SimFailure::TimeLimit {
            limit,
            last_event: last.unwrap_or_default(),
        }
    }
}

/// A host task that waits on something that ends in real time (a task of another runtime, a
/// child process): not a deadlock but a leak (`leaks.rs`), named by the task and its host.
fn waits_on_real_time(dump: &Dump) -> Option<SimFailure> {
    let task = dump.tasks().iter().find(|task| {
        task.place.is_some()
            && matches!(
                task.waits_on,
                Some(WaitOn::JoinElsewhere(_) | WaitOn::ChildExit { .. })
            )
    })?;
    Some(SimFailure::Leak {
        host: task.place.clone().unwrap_or_default(),
        message: format!(
            "{task}: it waits on something outside the simulation, which ends in real time \
             and which no seed replays"
        ),
    })
}

/// One line for each task of a host ("task#7 on db2 (spawned at ...): idle, ...; waits on
/// ..."): the run's own tasks (its network, its wait for the clients) are left out.
fn hosts_tasks(dump: &Dump) -> Vec<String> {
    (dump.tasks().iter())
        .filter(|task| task.place.is_some())
        .map(|task| task.to_string())
        .collect()
}
