//! The end of the pool: what dropping a runtime or
//! [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout) does to the jobs still in it,
//! and the report of what it left behind.
//!
//! Shutdown never waits on a job without end. Jobs no thread has taken are cancelled, their
//! closures dropped unrun; the running ones get the grace and no more; a thread still in a job
//! when the grace is over is detached, not joined, and named in the report.

use std::fmt;
use std::time::{Duration, Instant};

use super::BlockingPool;
use crate::loom::lock;
use crate::observe::{human, JobInfo};

/// How long dropping a runtime waits for jobs still running before it detaches their threads.
/// Long enough for a job that is finishing (a write being flushed) to finish; short enough that
/// a job that never ends costs a second, not a hang.
pub(crate) const DROP_GRACE: Duration = Duration::from_secs(1);

impl BlockingPool {
    /// Shuts the pool down: jobs still queued are cancelled (their closures dropped unrun),
    /// then the running ones get at most `grace` to finish. The threads that left are joined;
    /// those still running a job are detached (each leaves when its job returns) and named in
    /// the report. Calling it again is harmless.
    pub(crate) fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let inner = &self.inner;
        let began = Instant::now();
        let queued = inner.queue.shut_down();
        let cancelled = queued.len();
        for job in queued {
            inner.cancel(job);
        }
        let left = inner.queue.wait_for_threads(began + grace);
        let still_running = if left > 0 { self.jobs() } else { Vec::new() };
        let handles = std::mem::take(&mut *lock(&inner.handles));
        for handle in handles {
            // With no thread left in the pool's loop each of them is ending: joining is quick.
            // Otherwise only the finished ones are joined; the others are detached.
            if left == 0 || handle.is_finished() {
                let _ = handle.join();
            }
        }
        ShutdownReport {
            grace,
            waited: began.elapsed(),
            cancelled,
            still_running,
        }
    }
}

/// What [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout) left behind: the
/// blocking jobs still running when the grace ran out. Their threads are detached; each one
/// leaves as soon as its job returns. Printing it gives a line per job.
///
/// ```
/// use std::time::Duration;
/// let rt = nbio::Runtime::new()?;
/// let (release, wait) = std::sync::mpsc::channel::<()>();
/// let stuck = rt.spawn_blocking(move || wait.recv().ok()); // waits until told
/// # while rt.stats().blocking_jobs_running == 0 { std::thread::yield_now(); }
/// let report = rt.shutdown_timeout(Duration::from_millis(50));
/// assert!(!report.is_clean());
/// assert_eq!(report.still_running()[0].id, stuck.id());
/// eprintln!("{report}");
/// release.send(()).unwrap(); // the detached thread finishes its job and leaves
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct ShutdownReport {
    grace: Duration,
    waited: Duration,
    cancelled: usize,
    still_running: Vec<JobInfo>,
}

impl ShutdownReport {
    /// True if every job had finished (or was cancelled unstarted) within the grace.
    pub fn is_clean(&self) -> bool {
        self.still_running.is_empty()
    }

    /// The jobs still running when the grace ran out, oldest first.
    pub fn still_running(&self) -> &[JobInfo] {
        &self.still_running
    }

    /// How many queued jobs were cancelled before any thread started them.
    pub fn cancelled(&self) -> usize {
        self.cancelled
    }

    /// How long the shutdown waited for running jobs.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cancelled = match self.cancelled {
            0 => String::new(),
            n => format!(" ({n} queued job(s) were cancelled unstarted)"),
        };
        if self.is_clean() {
            return write!(
                f,
                "every blocking job had finished after {}{cancelled}",
                human(self.waited)
            );
        }
        write!(
            f,
            "{} blocking job(s) still running after the {} grace{cancelled}; their threads are \
             detached and leave when their jobs return:",
            self.still_running.len(),
            human(self.grace)
        )?;
        for job in &self.still_running {
            write!(f, "\n  {job}")?;
        }
        Ok(())
    }
}
