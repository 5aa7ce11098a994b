//! Nothing real leaks in: what a simulation catches of code inside a host reaching the real
//! world, which no seed replays.
//!
//! - A real socket: refused where it is made (`host::refuse_real`), naming the call site.
//! - A blocking job (`nbio::spawn_blocking`): it runs on a real thread, for a real time, and
//!   its end wakes its awaiter from that thread. Refused where it is made: the run fails
//!   naming the call site (the job itself still runs, as its `JoinHandle` promises).
//! - A wake from a thread outside the simulation: a `std::thread` the host started, a job of
//!   the blocking pool (`nbio::fs` uses one), another runtime's timer or task waking a host's
//!   task. The runtime tells the simulation of every task woken off its loop; one woken from
//!   another thread fails the run, naming the task, its host and the thread. A waker has no
//!   call site, so the task and the thread are what the message can name.
//! - A wait on a task of another runtime, or on a child process: both end in real time. When
//!   the run has nothing else left to do (`liveness.rs`), a host task waiting on one fails the
//!   run as a leak rather than a deadlock, naming the task and its host.
//!
//! What cannot be caught: `std::thread::sleep` and other blocking calls (they stop the one
//! thread every host runs on; the virtual clock does not move while they do, so they cost
//! real time and change nothing simulated); reads of the real clock (`std::time::Instant::now`,
//! `SystemTime::now`); randomness not drawn from the seed; a future of another runtime whose
//! wake never comes (a tokio timer polled inside a host, say: it shows as a deadlock whose
//! task "waits on something that does not say what", or, if its wake comes first, as a wake
//! from outside).

use std::sync::{Arc, Weak};
use std::thread::ThreadId;

use super::host::current;
use super::world::World;
use super::SimFailure;
use crate::executor::OffLoopWake;
use crate::task::TaskId;

impl World {
    /// What the runtime calls with each task woken off its loop. A wake on `thread` (the
    /// run's own, outside its loop: a destructor run as the runtime shuts down) is not a leak.
    pub(crate) fn woken_off_loop(self: &Arc<World>, thread: ThreadId) -> OffLoopWake {
        let world: Weak<World> = Arc::downgrade(self);
        Box::new(move |task| {
            if std::thread::current().id() == thread {
                return;
            }
            if let Some(world) = world.upgrade() {
                world.woken_from_outside(task);
            }
        })
    }

    /// Task `task` was woken by this thread, which is not the simulation's: the run fails.
    fn woken_from_outside(&self, task: TaskId) {
        let host = self.host_of(task, false);
        let woken = match &host {
            Some(host) => format!("task#{} on {host}", task.0),
            None => format!("task#{} (of no host)", task.0),
        };
        let thread = std::thread::current();
        let by = match thread.name() {
            Some(name) => format!("thread {name:?}"),
            None => format!("an unnamed thread ({:?})", thread.id()),
        };
        let message = format!(
            "{woken} was woken by {by}, outside the simulation: a wake from a real thread (a \
             std::thread, a blocking job, another runtime's timer or task) comes at a real \
             time, which no seed replays; inside nbio::sim keep a host's work on its own tasks"
        );
        let host = host.map_or_else(|| "the simulation".to_string(), |host| host.to_string());
        self.with(|state, wakes| state.fail(SimFailure::Leak { host, message }, wakes));
    }
}

/// Inside a simulated host, a blocking job is a leak: it runs on a real thread, for a real
/// time. Fails the run naming `what` and its call site; outside a simulation, one look at a
/// thread-local.
#[track_caller]
pub(crate) fn refuse_blocking(what: &str) {
    let Some(hosted) = current() else {
        return;
    };
    let at = std::panic::Location::caller();
    hosted.world.with(|state, wakes| {
        let host = state.name(hosted.host).to_string();
        let message = format!(
            "{what} at {at} started a blocking job inside simulated host {host}: it runs on a \
             real thread for a real time, and wakes its awaiter from there, which no seed \
             replays; inside nbio::sim do the work on the host's task, or simulate its delay \
             with nbio::time::sleep"
        );
        state.fail(SimFailure::Leak { host, message }, wakes);
    });
}
