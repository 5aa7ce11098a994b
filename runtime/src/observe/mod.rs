//! Watching the runtime work.
//!
//! The article prints as it goes ("Sending data", "Blocking with 5242880 remaining") so that a
//! reader can watch its loop take turns. nbio does the same, built in and cheap:
//!
//! - [`Stats`]: exact counters, always on.
//! - A slow-poll warning, on by default: a poll that holds the thread longer than a threshold
//!   (10 ms) prints one line naming the task and where it was spawned. Every poll is timed with
//!   the kernel's coarse clock (`clock.rs`), which costs about 3 ns.
//! - The journal, off by default (`Builder::trace`, `NBIO_TRACE=file.json`): spawns, polls,
//!   wakes with their cause, reactor waits, `WouldBlock`s, in a bounded ring; written as a
//!   Chrome trace that ui.perfetto.dev opens (`chrome.rs`), or printed as it happens, one line
//!   per event (`Builder::explain`, `NBIO_EXPLAIN=1`; `explain.rs`).
//! - [`Dump`]: the live tasks, one line each, including those that can never run again.
//!
//! Everything records into an [`Observer`]; nothing depends on it for its logic.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::fd::RawFd;
use std::panic::Location;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod chrome;
mod clock;
mod dump;
mod event;
mod explain;
mod journal;
mod stats;

pub use dump::{Dump, TaskInfo, TaskState};
pub(crate) use event::{Cause, PollOutcome, TaskObs, Who};
pub use stats::Stats;

use clock::PollClock;
use event::{Event, Record, STAMP_UNIT_SHIFT};
use journal::Journal;

use crate::reactor::Direction;
use crate::task::raw::TaskMeta;
use crate::task::TaskId;

/// The default slow-poll threshold.
const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(10);
/// A task that blocks in every poll gets one warning line per this much time, not one per poll.
const SLOW_POLL_WARNING_EVERY: Duration = Duration::from_secs(1);
/// The default number of journal records kept.
const DEFAULT_TRACE_CAPACITY: usize = 1 << 18;

/// What to observe, as chosen on the runtime `Builder` (or by the environment).
#[derive(Clone, Debug)]
pub(crate) struct ObserveConfig {
    pub(crate) slow_poll_threshold: Option<Duration>,
    pub(crate) trace: bool,
    pub(crate) trace_capacity: usize,
    pub(crate) trace_path: Option<PathBuf>,
    pub(crate) explain: bool,
}

impl ObserveConfig {
    /// The defaults, with `NBIO_TRACE` and `NBIO_EXPLAIN` applied.
    pub(crate) fn from_env() -> ObserveConfig {
        let trace_path = std::env::var_os("NBIO_TRACE")
            .filter(|path| !path.is_empty())
            .map(PathBuf::from);
        let explain = std::env::var_os("NBIO_EXPLAIN").is_some_and(|v| !v.is_empty() && v != "0");
        ObserveConfig {
            slow_poll_threshold: Some(DEFAULT_SLOW_POLL),
            trace: trace_path.is_some(),
            trace_capacity: DEFAULT_TRACE_CAPACITY,
            trace_path,
            explain,
        }
    }
}

/// One runtime's recorder. Lives on the runtime's thread.
pub(crate) struct Observer {
    /// When the runtime was built; journal times count from here.
    epoch: Instant,
    slow_threshold: Option<Duration>,
    /// The threshold in nanoseconds, `u64::MAX` when the warning is off.
    slow_nanos: u64,
    /// The clock polls are timed with.
    clock: PollClock,
    longest_nanos: Cell<u64>,
    /// The clock at the end of the previous poll (or the start of the turn).
    mark: Cell<u64>,
    /// Names of live named tasks. Kept aside so that unnamed tasks pay nothing for names.
    names: RefCell<HashMap<TaskId, Arc<str>>>,
    /// The places tasks were spawned from; a task records an index into it.
    sites: RefCell<Sites>,
    /// When each offender was last warned about, and how many slow polls went unmentioned since.
    warned: RefCell<HashMap<Who, (Instant, u64)>>,
    /// Who is being polled right now.
    current: Cell<Who>,
    /// What the wakes happening right now should be blamed on.
    waking: Cell<Cause>,
    journal: Option<RefCell<Journal>>,
    trace_path: Option<PathBuf>,
}

impl Observer {
    pub(crate) fn new(config: &ObserveConfig) -> Observer {
        let clock = PollClock::for_threshold(config.slow_poll_threshold);
        let journal = (config.trace || config.explain).then(|| {
            RefCell::new(Journal::new(
                config.trace,
                config.explain,
                config.trace_capacity,
            ))
        });
        Observer {
            epoch: Instant::now(),
            slow_threshold: config.slow_poll_threshold,
            slow_nanos: config.slow_poll_threshold.map_or(u64::MAX, |threshold| {
                threshold.as_nanos().min(u64::MAX as u128) as u64
            }),
            clock,
            longest_nanos: Cell::new(0),
            mark: Cell::new(clock.now()),
            names: RefCell::default(),
            sites: RefCell::default(),
            warned: RefCell::default(),
            current: Cell::new(Who::Nobody),
            waking: Cell::new(Cause::Unknown),
            journal,
            trace_path: config.trace_path.clone(),
        }
    }

    /// Whether events are being recorded or printed.
    #[inline]
    pub(crate) fn journaling(&self) -> bool {
        self.journal.is_some()
    }

    fn record(&self, at: Instant, event: Event) {
        if let Some(journal) = &self.journal {
            let record = Record {
                at: at.saturating_duration_since(self.epoch),
                event,
            };
            journal.borrow_mut().record(record, &|id| self.name_of(id));
        }
    }

    /// A task's name, if it has one and is alive.
    pub(crate) fn name_of(&self, id: TaskId) -> Option<Arc<str>> {
        let names = self.names.borrow();
        if names.is_empty() {
            None
        } else {
            names.get(&id).cloned()
        }
    }

    pub(crate) fn spawned(
        &self,
        id: TaskId,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) {
        if let Some(name) = &name {
            self.names.borrow_mut().insert(id, Arc::clone(name));
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
    pub(crate) fn site_of(&self, location: &'static Location<'static>) -> u32 {
        self.sites.borrow_mut().intern(location)
    }

    /// The spawn site with index `site`.
    pub(crate) fn site(&self, site: u32) -> Option<&'static Location<'static>> {
        self.sites.borrow().by_index.get(site as usize).copied()
    }

    pub(crate) fn finished(&self, id: TaskId) {
        let mut names = self.names.borrow_mut();
        if !names.is_empty() {
            names.remove(&id);
        }
        let mut warned = self.warned.borrow_mut();
        if !warned.is_empty() {
            warned.remove(&Who::Task(id));
        }
    }

    /// Starts the clock for a new turn of the loop (after time spent outside of polls).
    #[inline]
    pub(crate) fn begin_turn(&self) {
        self.mark.set(self.clock.now());
    }

    /// The stamp a task's header records for "last polled".
    #[inline]
    pub(crate) fn stamp(&self) -> u32 {
        (self.mark.get() >> STAMP_UNIT_SHIFT) as u32
    }

    /// `who` is about to be polled. Returns when, if the journal wants to know.
    #[inline]
    pub(crate) fn begin_poll(&self, who: Who) -> Option<Instant> {
        self.current.set(who);
        self.waking.set(Cause::of(who));
        self.journaling().then(Instant::now)
    }

    /// The poll of `who` just ended: time it, warn if it was slow, record it.
    #[inline]
    pub(crate) fn end_poll(
        &self,
        who: Who,
        spawned_at: Option<&'static Location<'static>>,
        started: Option<Instant>,
        outcome: PollOutcome,
    ) {
        let now = self.clock.now();
        let spent = now.wrapping_sub(self.mark.get());
        self.mark.set(now);
        if spent > self.longest_nanos.get() {
            self.longest_nanos.set(spent);
        }
        if spent >= self.slow_nanos {
            self.slow_poll(who, spawned_at, Duration::from_nanos(spent));
        }
        if let Some(started) = started {
            let ended = Instant::now();
            self.record(
                started,
                Event::Poll {
                    who,
                    took: ended - started,
                    outcome,
                },
            );
            if outcome == PollOutcome::Yielded {
                if let Who::Task(task) = who {
                    self.record(
                        ended,
                        Event::Wake {
                            task,
                            cause: Cause::Itself,
                        },
                    );
                }
            }
        }
        self.current.set(Who::Nobody);
        self.waking.set(Cause::Unknown);
    }

    /// A poll held the thread for at least the threshold: say so, on one line, at most once
    /// a second for the same task (a task that blocks in every poll would flood stderr).
    #[cold]
    fn slow_poll(&self, who: Who, spawned_at: Option<&'static Location<'static>>, took: Duration) {
        let now = Instant::now();
        self.record(now, Event::SlowPoll { who, took });
        let held_back = {
            let mut warned = self.warned.borrow_mut();
            match warned.get_mut(&who) {
                Some((last, held_back)) if now.duration_since(*last) < SLOW_POLL_WARNING_EVERY => {
                    *held_back += 1;
                    return;
                }
                Some((last, held_back)) => {
                    *last = now;
                    std::mem::take(held_back)
                }
                None => {
                    warned.insert(who, (now, 0));
                    0
                }
            }
        };
        let threshold = self.slow_threshold.unwrap_or_default();
        let spawned_at = spawned_at
            .map(|at| format!(" (spawned at {at})"))
            .unwrap_or_default();
        let resolution = self.clock.resolution();
        let precision = if resolution > Duration::from_micros(1) {
            format!(" (± {})", explain::human(resolution))
        } else {
            String::new()
        };
        let also = if held_back > 0 {
            format!("; {held_back} more slow poll(s) of it in the last second went unreported")
        } else {
            String::new()
        };
        eprintln!(
            "nbio: slow poll: {}{spawned_at} held the thread for {}{precision} (threshold {}); \
             a poll must not block: await instead of sleeping or doing blocking I/O{also}",
            self.label(who),
            explain::human(took),
            explain::human(threshold)
        );
    }

    fn label(&self, who: Who) -> String {
        match who {
            Who::Nobody => "the runtime".to_string(),
            Who::Main => "the future passed to block_on".to_string(),
            Who::Task(id) => format!("task {}", explain::task_label(id, &|id| self.name_of(id))),
        }
    }

    /// Blames the wakes that follow on `cause` (the reactor sets this before each waker).
    #[inline]
    pub(crate) fn set_waking(&self, cause: Cause) {
        self.waking.set(cause);
    }

    /// What the wake happening now is blamed on.
    #[inline]
    pub(crate) fn waking(&self) -> Cause {
        self.waking.get()
    }

    /// A task entered the run queue because of `cause`.
    pub(crate) fn woke(&self, task: TaskId, cause: Cause) {
        if self.journaling() {
            self.record(Instant::now(), Event::Wake { task, cause });
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

    /// The polled task got `WouldBlock` on `fd` and is about to wait.
    pub(crate) fn would_block(&self, fd: RawFd, dir: Direction, remaining: Option<usize>) {
        if self.journaling() {
            let who = self.current.get();
            self.record(
                Instant::now(),
                Event::WouldBlock {
                    who,
                    fd,
                    dir,
                    remaining,
                },
            );
        }
    }

    /// The longest poll so far.
    pub(crate) fn longest_poll(&self) -> Duration {
        Duration::from_nanos(self.longest_nanos.get())
    }

    /// How long ago a poll stamped `stamp` began.
    pub(crate) fn since_stamp(&self, stamp: u32) -> Duration {
        let now = (self.clock.now() >> STAMP_UNIT_SHIFT) as u32;
        Duration::from_nanos(u64::from(now.wrapping_sub(stamp)) << STAMP_UNIT_SHIFT)
    }

    /// Writes the journal as Chrome Trace Event JSON.
    pub(crate) fn write_trace(&self, out: &mut dyn Write) -> io::Result<()> {
        let journal = self.journal.as_ref().filter(|j| j.borrow().keeps_records()).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "tracing is off: build the runtime with Builder::trace(true) or set NBIO_TRACE=file.json",
            )
        })?;
        let journal = journal.borrow();
        chrome::write(out, journal.records(), journal.dropped(), &|id| {
            self.name_of(id)
        })
    }

    /// Writes the trace to the `NBIO_TRACE` path, if one was given (the runtime is being
    /// dropped). A failure is reported on stderr: there is no caller left to return it to.
    pub(crate) fn write_trace_file(&self) {
        let Some(path) = &self.trace_path else {
            return;
        };
        let result = File::create(path).and_then(|file| {
            let mut out = BufWriter::new(file);
            self.write_trace(&mut out)?;
            out.flush()
        });
        if let Err(err) = result {
            eprintln!(
                "nbio: could not write the trace to {}: {err}",
                path.display()
            );
        }
    }
}

/// The distinct places tasks were spawned from. A program has a fixed set of them (every
/// `spawn` call in its source), so each task stores a small index instead of an 8-byte
/// pointer, which keeps the task allocation one malloc size class smaller.
#[derive(Default)]
struct Sites {
    by_index: Vec<&'static Location<'static>>,
    /// Keyed by the location's address: a `Location` is a static, one per call site.
    index: HashMap<usize, u32>,
    /// The last site looked up: loops spawn from one place, and skip the hash.
    last: Option<(usize, u32)>,
}

impl Sites {
    fn intern(&mut self, location: &'static Location<'static>) -> u32 {
        let key = location as *const Location<'static> as usize;
        if let Some((last, site)) = self.last {
            if last == key {
                return site;
            }
        }
        let next = self.by_index.len() as u32;
        let site = *self.index.entry(key).or_insert(next);
        if site == next {
            if next >= TaskMeta::NO_SITE {
                self.index.remove(&key);
                return TaskMeta::NO_SITE; // A million sites: stop recording new ones.
            }
            self.by_index.push(location);
        }
        self.last = Some((key, site));
        site
    }
}
