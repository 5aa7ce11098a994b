//! What a loop tells about its tasks, for both flavours: a dump's line per task, the counters
//! every flavour shares, the view of each task that `diagnose` checks, and what the loop does
//! with the verdict.
//!
//! Every flavour keeps its live tasks in `task::owned::OwnedTasks`; walking them is the
//! flavour's, reading one task is here, once.

use std::sync::atomic::Ordering::Relaxed;

use super::builder::OnCycle;
use super::seed::SEED_VAR;
use crate::blocking::BlockingPool;
use crate::diagnose::{self, Reported, TaskView, Verdict};
use crate::executor::poll::{notes, wait_word};
use crate::observe::{self, Dump, RuntimeRecorder, Stats, TaskInfo, TaskNotes, TaskState};
use crate::reactor::Reactor;
use crate::task::raw::Header;

/// What a dump says of one task.
pub(crate) fn task_info(task: &Header, observed: &observe::RuntimeRecorder) -> TaskInfo {
    let state = task.state.load();
    let notes = TaskNotes::of(notes(task)).read();
    let idle = !state.is_running() && !state.is_scheduled();
    // A waker borrowed for the look: the task is alive while its header is borrowed.
    let waker = crate::task::borrowed_waker(std::ptr::NonNull::from(task));
    let place = observed.place_of(task.id(), &waker);
    TaskInfo {
        id: task.id(),
        name: observed.name_of(task.id()).map(|name| name.to_string()),
        place: place.as_ref().map(|place| place.host.to_string()),
        net_wait: place.and_then(|place| place.waits),
        spawned_at: observed.site(task.meta.tag()),
        state: if state.is_running() {
            TaskState::Running
        } else if state.is_scheduled() {
            TaskState::Scheduled
        } else {
            TaskState::Idle
        },
        polls: notes.polls,
        since_last_poll: (notes.polls > 0).then(|| observe::since_stamp(notes.stamp)),
        last_woken_by: notes.last_woken_by,
        waker_held: state.outside_refs() > 0,
        worker: notes.worker,
        waits_on: idle.then(|| diagnose::read(wait_word(task))).flatten(),
        wait_cycle: Vec::new(),
        waits_on_job: false,
    }
}

/// The counters of `reactor`, `blocking` and `observed`, which every flavour has alike; the
/// flavour fills in its tasks, polls and wakes.
pub(crate) fn shared_stats(
    reactor: &Reactor,
    blocking: &BlockingPool,
    observed: &RuntimeRecorder,
) -> Stats {
    let counters = &reactor.counters;
    let pool = blocking.stats();
    Stats {
        reactor_waits: counters.waits.load(Relaxed),
        io_events: counters.io_events.load(Relaxed),
        would_block: counters.would_block.load(Relaxed),
        short_writes: counters.short_writes.load(Relaxed),
        io_waiters: reactor.waiters() as u64,
        timers_fired: counters.timers_fired.load(Relaxed),
        timers_pending: reactor.pending_timers() as u64,
        longest_poll: observed.longest_poll(),
        poll_sample_period: observed.poll_sample_period(),
        blocking_threads: pool.threads,
        blocking_jobs_running: pool.running,
        blocking_jobs_queued: pool.queued,
        blocking_jobs_run: pool.run,
        blocking_longest_queue_wait: pool.longest_wait,
        ..Stats::default()
    }
}

/// One task as the verdict sees it.
pub(crate) fn task_view(task: &Header) -> TaskView {
    let state = task.state.load();
    TaskView {
        id: task.id(),
        can_run: state.is_scheduled() || state.is_running(),
        wakers_held: state.outside_refs(),
        wait: wait_word(task).load(Relaxed),
    }
}

/// What a loop does when its check before blocking finds it stuck: a deadlock panics with the
/// dump (there is nothing left to wait for); a cycle panics too under [`OnCycle::Panic`], and
/// under [`OnCycle::Report`] is reported once on stderr, and again only after some progress.
/// Under a seed, either says which seed replays the run.
pub(crate) struct OnStuck {
    /// `Builder::on_cycle`.
    on_cycle: OnCycle,
    /// The seed of the run, if it has one.
    seed: Option<u64>,
    /// When the report of a cycle was last printed.
    reported: Reported,
}

impl OnStuck {
    pub(crate) fn new(on_cycle: OnCycle, seed: Option<u64>) -> OnStuck {
        OnStuck {
            on_cycle,
            seed,
            reported: Reported::default(),
        }
    }

    /// Whether [`act_on`](OnStuck::act_on) will panic on `verdict`.
    pub(crate) fn panics_on(&self, verdict: Verdict) -> bool {
        match verdict {
            Verdict::Wait => false,
            Verdict::Deadlock => true,
            Verdict::Cycle => self.on_cycle == OnCycle::Panic,
        }
    }

    /// Acts on `verdict`, `progress` being the count of polls so far. `where_` says where the
    /// check looked.
    pub(crate) fn act_on(
        &self,
        verdict: Verdict,
        progress: u64,
        where_: &str,
        dump: impl FnOnce() -> Dump,
    ) {
        let replay = || match self.seed {
            Some(seed) => format!("nbio: {SEED_VAR}={seed} replays this run\n"),
            None => String::new(),
        };
        match verdict {
            Verdict::Wait => {}
            Verdict::Deadlock => panic!(
                "{}\n{}{}",
                observe::deadlock_message(where_),
                replay(),
                dump()
            ),
            Verdict::Cycle if self.panics_on(verdict) => {
                panic!("{}", observe::cycle_report(&dump(), false, &replay()))
            }
            Verdict::Cycle => {
                if self.reported.first_since(progress) {
                    eprintln!("{}", observe::cycle_report(&dump(), true, &replay()));
                }
            }
        }
    }
}
