//! What the pool keeps of each job until it finishes, and what it reads from that: the
//! figures for [`Stats`](crate::Stats) and the list of queued and running jobs that
//! [`Runtime::dump`](crate::Runtime::dump) prints.
//!
//! The registry (`Inner::registry`) holds a `Record` for every job from its spawn until a pool
//! thread has run it or it was cancelled. Spawning inserts the record (`mod.rs`), the job's
//! `Schedule::joined` notes who awaits it, and the pool's threads mark it started and remove it
//! (`threads.rs`). Everything here only reads it, under its lock, and copies out what it needs
//! before the lock is let go.

use std::panic::Location;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use super::threads::thread_label;
use super::{BlockingPool, PoolStats};
use crate::loom::lock;
use crate::observe::{Awaiter, JobInfo, JobState};
use crate::task::raw::TaskRef;
use crate::task::TaskId;

/// What the pool keeps of a job until it finishes.
pub(super) struct Record {
    /// The registry's reference to the task (the queue and the handle hold their own).
    pub(super) task: TaskRef,
    pub(super) location: &'static Location<'static>,
    pub(super) queued_at: Instant,
    /// When a thread took it, and which one ("blocking N").
    pub(super) started: Option<(Instant, u64)>,
    /// Who last registered to await it: `None` if nobody did, `Some(None)` for code that is
    /// not a task (see `Schedule::joined`).
    pub(super) awaiter: Option<Option<TaskId>>,
}

impl BlockingPool {
    /// The pool's figures now.
    pub(crate) fn stats(&self) -> PoolStats {
        let inner = &self.inner;
        let counts = inner.queue.counts();
        let running = lock(&inner.registry)
            .values()
            .filter(|record| record.started.is_some())
            .count();
        PoolStats {
            threads: counts.threads as u64,
            running: running as u64,
            queued: counts.queued as u64,
            run: inner.jobs_run.load(Relaxed),
            longest_wait: Duration::from_nanos(inner.longest_wait.load(Relaxed)),
        }
    }

    /// Every job queued or running, oldest first.
    pub(crate) fn jobs(&self) -> Vec<JobInfo> {
        let now = Instant::now();
        let registry = lock(&self.inner.registry);
        let mut jobs: Vec<JobInfo> = registry
            .iter()
            .map(|(&id, record)| record.info(id, now))
            .collect();
        drop(registry);
        jobs.sort_by_key(|job| job.id);
        jobs
    }
}

impl Record {
    /// The record of a job spawned at `location` and queued now, with `task` the registry's
    /// reference to it.
    pub(super) fn queued(task: TaskRef, location: &'static Location<'static>) -> Record {
        Record {
            task,
            location,
            queued_at: Instant::now(),
            started: None,
            awaiter: None,
        }
    }

    /// What a dump says of job `id` at `now`.
    fn info(&self, id: TaskId, now: Instant) -> JobInfo {
        let state = self.task.header().state.load();
        let awaited_by = if !state.has_handle() {
            Awaiter::Detached
        } else if !state.has_join_waker() {
            Awaiter::Nobody
        } else {
            match self.awaiter.flatten() {
                Some(task) => Awaiter::Task(task),
                None => Awaiter::NotATask,
            }
        };
        let (queued_for, running_for, state) = match self.started {
            None => (
                now.saturating_duration_since(self.queued_at),
                None,
                JobState::Queued,
            ),
            Some((started, thread)) => (
                started.saturating_duration_since(self.queued_at),
                Some(now.saturating_duration_since(started)),
                JobState::Running {
                    thread: thread_label(thread),
                },
            ),
        };
        JobInfo {
            id,
            spawned_at: self.location,
            state,
            queued_for,
            running_for,
            awaited_by,
        }
    }
}
