//! The per-thread recorder: each thread that polls tasks (or runs blocking jobs) records into
//! its own [`Observer`]. The poll step calls it at the start and the end of each poll, the
//! wakes made on its thread and the reactor's looks report to it, and the blocking pool tells
//! it of the jobs it ran. What it records goes into the task's notes word, into this thread's
//! lane for the watchdog, and, when the journal is on, on this thread's track of the
//! runtime-wide recorder (`runtime_recorder.rs`). The calls made per poll and per wake read no
//! clock unless the journal is on.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::event::{
    Cause, Event, PollOutcome, Record, StallReason, TaskNotes, Who, STAMP_UNIT_SHIFT,
};
use super::sites::Sites;
use super::slow::{self, RateLimit, SlowPoll};
use super::watchdog::Lane;
use super::{clock, lock, RuntimeRecorder};
use crate::reactor::Direction;
use crate::task::TaskId;

/// The recorder of one thread that polls tasks (or runs blocking jobs).
pub(crate) struct Observer {
    shared: Arc<RuntimeRecorder>,
    /// This thread's track in the journal.
    track: u32,
    /// What the watchdog sees of this thread; `None` when the warning is off.
    lane: Option<Arc<Lane>>,
    /// Whether the lane was handed to the watchdog yet (on the thread's first turn).
    watched: Cell<bool>,
    /// Polls so far on this thread: the lane's sequence number.
    seq: Cell<u64>,
    /// How task notes name this thread: 0, or a worker's index + 1.
    worker_code: u8,
    /// The coarse clock at the start of the current turn, as a dump stamp, with the worker
    /// code: the low half of the notes of the turn's polls (`TaskNotes::poll_mark`).
    mark: Cell<u32>,
    /// Who is being polled right now.
    current: Cell<Who>,
    /// What the wakes happening right now should be blamed on, when the reactor says (while it
    /// hands out wakers); otherwise a wake is blamed on whoever is being polled.
    waking: Cell<Option<Cause>>,
    rate_limit: RefCell<RateLimit>,
    /// The last spawn site this thread looked up: loops spawn from one place.
    last_site: Cell<Option<(usize, u32)>>,
    /// How the narrative names this thread, on a runtime with several.
    narrated_as: Option<String>,
}

/// One run of a blocking job, as the pool thread that ran it reports it (`Observer::job_ran`).
pub(crate) struct JobRun {
    pub(crate) id: TaskId,
    pub(crate) location: &'static Location<'static>,
    pub(crate) started: Instant,
    pub(crate) queued_for: Duration,
    pub(crate) outcome: PollOutcome,
    pub(crate) awaiter: Option<TaskId>,
}

/// When a poll started, if the journal wants to know.
pub(crate) struct PollStart(Option<Instant>);

impl Observer {
    /// The recorder of a thread of the runtime that `shared` observes; `thread` is how reports
    /// and traces name that thread. The watchdog watches it if `watched`: a thread that polls
    /// tasks, not one whose work may block by design (a blocking pool's).
    pub(crate) fn new(shared: &Arc<RuntimeRecorder>, thread: &str, watched: bool) -> Observer {
        Observer::for_worker(shared, thread, watched, None)
    }

    /// As `new`, for worker `worker` of a multi-thread runtime: task notes remember which
    /// worker polled them.
    pub(crate) fn for_worker(
        shared: &Arc<RuntimeRecorder>,
        thread: &str,
        watched: bool,
        worker: Option<usize>,
    ) -> Observer {
        let track = {
            let mut tracks = lock(&shared.tracks);
            tracks.push(thread.to_string());
            tracks.len() as u32 - 1
        };
        let worker_code = worker.map_or(0, |index| (index + 1).min(15) as u8);
        Observer {
            track,
            lane: shared
                .watchdog
                .as_ref()
                .filter(|_| watched)
                .map(|_| Arc::new(Lane::new(thread.to_string()))),
            watched: Cell::new(false),
            shared: Arc::clone(shared),
            seq: Cell::new(0),
            worker_code,
            mark: Cell::new(TaskNotes::poll_mark(0, worker_code)),
            current: Cell::new(Who::Nobody),
            waking: Cell::new(None),
            rate_limit: RefCell::default(),
            last_site: Cell::new(None),
            narrated_as: shared
                .many_threads
                .load(Relaxed)
                .then(|| thread.to_string()),
        }
    }

    /// The part this thread shares with the runtime's other threads.
    pub(crate) fn shared(&self) -> &Arc<RuntimeRecorder> {
        &self.shared
    }

    /// Whether events are being recorded or printed.
    #[inline]
    pub(crate) fn journaling(&self) -> bool {
        self.shared.journal.is_some()
    }

    fn record(&self, at: Instant, event: Event) {
        if let Some(journal) = &self.shared.journal {
            let record = Record {
                at: at.saturating_duration_since(self.shared.epoch),
                track: self.track,
                event,
            };
            let thread = self.narrated_as.as_deref();
            lock(journal).record(record, &|id| self.shared.name_of(id), thread);
        }
    }

    #[inline]
    pub(crate) fn spawned(
        &self,
        id: TaskId,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) {
        // The common case, an unnamed task and no journal, costs two tests.
        if name.is_some() || self.journaling() {
            self.spawned_noted(id, name, location);
        }
    }

    #[cold]
    fn spawned_noted(
        &self,
        id: TaskId,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) {
        if let Some(name) = &name {
            self.shared.any_named.store(true, Relaxed);
            lock(&self.shared.names).insert(id, Arc::clone(name));
        }
        if self.journaling() {
            let by = self.current.get();
            self.record(
                Instant::now(),
                Event::Spawn {
                    task: id,
                    name,
                    location,
                    by,
                },
            );
        }
    }

    /// The index of `location` among the spawn sites, for the task header.
    #[inline]
    pub(crate) fn site_of(&self, location: &'static Location<'static>) -> u32 {
        let key = Sites::key(location);
        if let Some((last, site)) = self.last_site.get() {
            if last == key {
                return site;
            }
        }
        let site = lock(&self.shared.sites).intern(location);
        self.last_site.set(Some((key, site)));
        site
    }

    /// Task `id` is gone: forget its name and its warnings.
    #[inline]
    pub(crate) fn finished(&self, id: TaskId) {
        if self.shared.any_named.load(Relaxed) {
            lock(&self.shared.names).remove(&id);
        }
        self.rate_limit.borrow_mut().forget(Who::Task(id));
    }

    /// This thread is about to poll after blocking, or after being outside the runtime: makes
    /// sure the watchdog watches it and is awake. Also starts a new turn (see `begin_turn`).
    pub(crate) fn resume(&self) {
        if let (Some(lane), Some(watchdog)) = (&self.lane, &self.shared.watchdog) {
            if !self.watched.replace(true) {
                lane.claim();
                watchdog.watch(Arc::clone(lane));
            }
            watchdog.active();
        }
        self.begin_turn();
    }

    /// A new turn of the loop: stamps the coarse clock for the dumps' "last polled" (one read
    /// per turn, not per poll).
    #[inline]
    pub(crate) fn begin_turn(&self) {
        let stamp = (clock::coarse_nanos() >> STAMP_UNIT_SHIFT) as u32;
        self.mark.set(TaskNotes::poll_mark(stamp, self.worker_code));
    }

    /// `who` is about to be polled; `notes` is its task's notes word. One call per poll.
    #[inline]
    pub(crate) fn poll_started(&self, who: Who, notes: Option<&AtomicU64>) -> PollStart {
        self.current.set(who);
        if let Some(notes) = notes {
            TaskNotes::of(notes).record_poll(self.mark.get());
        }
        if let Some(lane) = &self.lane {
            let seq = self.seq.get() + 1;
            self.seq.set(seq);
            lane.poll_started(seq, who.raw());
        }
        PollStart(self.journaling().then(Instant::now))
    }

    /// The poll of `who` ended with `outcome`; `site` is the index of its spawn site, looked up
    /// only if a warning names it. One call per poll.
    #[inline]
    pub(crate) fn poll_ended(
        &self,
        start: PollStart,
        who: Who,
        site: Option<u32>,
        outcome: PollOutcome,
        waited: u64,
    ) {
        if let Some(lane) = &self.lane {
            if lane.poll_ended(self.seq.get()) {
                self.flagged_poll(lane, who, site);
            }
        }
        if let PollStart(Some(started)) = start {
            self.journal_poll(started, who, outcome, waited);
        }
        self.current.set(Who::Nobody);
    }

    #[cold]
    fn journal_poll(&self, started: Instant, who: Who, outcome: PollOutcome, waited: u64) {
        let ended = Instant::now();
        let took = ended - started;
        let waits = if outcome == PollOutcome::Pending {
            waited
        } else {
            0
        };
        let event = Event::Poll {
            who,
            took,
            outcome,
            waits,
        };
        self.record(started, event);
        if outcome == PollOutcome::Yielded {
            if let Who::Task(task) = who {
                let cause = Cause::Itself;
                self.record(ended, Event::Wake { task, cause });
            }
        }
    }

    /// The watchdog saw this poll running at two samples: measure it, and warn if it really
    /// held the thread past the threshold.
    #[cold]
    fn flagged_poll(&self, lane: &Lane, who: Who, site: Option<u32>) {
        let (Some(watchdog), Some(threshold)) = (&self.shared.watchdog, self.shared.slow_threshold)
        else {
            return;
        };
        let Some(slow) = SlowPoll::measure(&lane.take_sighting(), watchdog.period()) else {
            return;
        };
        self.shared
            .longest_nanos
            .fetch_max(slow.held.as_nanos().min(u64::MAX as u128) as u64, Relaxed);
        if slow.held < threshold {
            return;
        }
        self.record(
            Instant::now(),
            Event::SlowPoll {
                who,
                took: slow.held,
            },
        );
        let Some(held_back) = self.rate_limit.borrow_mut().admit(who) else {
            return;
        };
        let spawned_at = site
            .and_then(|site| self.shared.site(site))
            .map(|at| format!(" (spawned at {at})"))
            .unwrap_or_default();
        let what = format!("{}{spawned_at}", self.label(who));
        eprintln!(
            "{}",
            slow::line(&what, &lane.name, &slow, threshold, held_back)
        );
    }

    fn label(&self, who: Who) -> String {
        match who {
            Who::Nobody => "the runtime".to_string(),
            Who::Main => "the future passed to block_on".to_string(),
            Who::Task(id) => format!("task {}", self.shared.task_label(id)),
        }
    }

    /// Blames the wakes that follow on `cause` (the reactor sets this before each waker), or,
    /// with `None`, on whoever is being polled again.
    #[inline]
    pub(crate) fn set_waking(&self, cause: Option<Cause>) {
        self.waking.set(cause);
    }

    /// A task entered the run queue because of `cause`: noted in its notes word, and in the
    /// journal if one is kept.
    #[inline]
    pub(crate) fn woke(&self, task: TaskId, notes: &AtomicU64, cause: Cause) {
        TaskNotes::of(notes).record_wake(cause);
        if self.journaling() {
            self.record(Instant::now(), Event::Wake { task, cause });
        }
    }

    /// A task entered the run queue, woken by code running on this thread: what `waking`
    /// says, without building the cause unless the journal wants it (the hot path of every
    /// local wake).
    #[inline(always)]
    pub(crate) fn woke_here(&self, task: TaskId, notes: &AtomicU64) {
        match self.waking.get() {
            Some(cause) => self.woke(task, notes, cause),
            None => {
                let who = self.current.get();
                TaskNotes::of(notes).record_wake_by(who);
                if self.journaling() {
                    let cause = Cause::of(who);
                    self.record(Instant::now(), Event::Wake { task, cause });
                }
            }
        }
    }

    /// This worker took `tasks` tasks from the queue of worker `victim`.
    pub(crate) fn stole(&self, victim: usize, tasks: usize) {
        if self.journaling() {
            self.record(Instant::now(), Event::Steal { victim, tasks });
        }
    }

    /// A look at the reactor that began at `started` ended, after waking its tasks.
    pub(crate) fn reactor_waited(&self, started: Instant, events: usize, blocking: bool) {
        self.record(
            started,
            Event::ReactorWait {
                took: started.elapsed(),
                events,
                blocking,
            },
        );
    }

    /// Tasks woken from other threads were moved into the run queue.
    pub(crate) fn remote_wakes(&self, started: Instant, tasks: usize) {
        self.record(
            started,
            Event::RemoteWakes {
                took: started.elapsed(),
                tasks,
            },
        );
    }

    /// The polled task's operation on `fd` must wait for readiness, for `why`.
    pub(crate) fn stalled(
        &self,
        fd: RawFd,
        dir: Direction,
        remaining: Option<usize>,
        why: StallReason,
    ) {
        if self.journaling() {
            let who = self.current.get();
            self.record(
                Instant::now(),
                Event::Stall {
                    who,
                    fd,
                    dir,
                    remaining,
                    why,
                },
            );
        }
    }

    /// The running code (a task, `block_on`'s future, or code outside any poll) handed job
    /// `job`, made at `location`, to the blocking pool.
    pub(crate) fn job_spawned(&self, job: TaskId, location: &'static Location<'static>) {
        if self.journaling() {
            let by = self.current.get();
            self.record(Instant::now(), Event::JobSpawn { job, location, by });
        }
    }

    /// This pool thread ran job `job` from `started` until now, after `queued_for` in the
    /// queue; its end woke `awaiter`, if a task awaited it.
    pub(crate) fn job_ran(&self, job: JobRun) {
        if self.journaling() {
            let took = job.started.elapsed();
            self.record(
                job.started,
                Event::Job {
                    job: job.id,
                    location: job.location,
                    took,
                    queued_for: job.queued_for,
                    outcome: job.outcome,
                    awaiter: job.awaiter,
                },
            );
        }
    }
}

/// How long ago a poll stamped `stamp` began (to the coarse clock's tick), from any thread.
pub(crate) fn since_stamp(stamp: u32) -> Duration {
    let now = (clock::coarse_nanos() >> STAMP_UNIT_SHIFT) as u32;
    let elapsed = now.wrapping_sub(stamp) & ((1 << 28) - 1);
    Duration::from_nanos(u64::from(elapsed) << STAMP_UNIT_SHIFT)
}
