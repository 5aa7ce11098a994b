//! The runtime-wide recorder: what the threads of one runtime record into together. It keeps
//! the names of live named tasks and the sites tasks were spawned from, owns the slow-poll
//! watchdog and the longest poll it measured, holds the journal with a track per recording
//! thread, and writes the trace file when the runtime is dropped. A thread that polls tasks
//! reaches it through its own `Observer` (`thread_recorder.rs`); a thread without one (a plain
//! thread with a `Handle`) calls it directly.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::panic::Location;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::event::{Event, Record, Who};
use super::journal::Journal;
use super::places::{Place, Places};
use super::sites::Sites;
use super::watchdog::Watchdog;
use super::{chrome, explain, hosts, lock, replay, ObserveConfig};
use crate::task::TaskId;

/// What the threads of one runtime record into together.
pub(crate) struct RuntimeRecorder {
    /// When the runtime was built; journal times count from here.
    pub(super) epoch: Instant,
    pub(super) slow_threshold: Option<Duration>,
    /// Names of live named tasks, kept aside so that unnamed tasks pay nothing for names.
    pub(super) names: Mutex<HashMap<TaskId, Arc<str>>>,
    /// Whether any task was ever named: until one is, nobody takes the lock above.
    pub(super) any_named: AtomicBool,
    /// The places tasks were spawned from; a task records an index into it.
    pub(super) sites: Mutex<Sites>,
    /// The longest poll the watchdog measured, in nanoseconds.
    pub(super) longest_nanos: AtomicU64,
    /// Samples the polling threads; `None` when the warning is off.
    pub(super) watchdog: Option<Watchdog>,
    pub(super) journal: Option<Mutex<Journal>>,
    /// The name of each thread that records, by track: "the runtime's thread", "worker 1", …
    pub(super) tracks: Mutex<Vec<String>>,
    /// The track of records made by threads without an `Observer`, once there is one.
    other_track: std::sync::OnceLock<u32>,
    /// The runtime has several threads: the narrative says which one each line comes from.
    pub(super) many_threads: AtomicBool,
    trace_path: Option<PathBuf>,
    /// Where each task lives, for a runtime that runs several places in one (`nbio::sim`'s
    /// hosts): the dump says "task#7 on db2".
    places: std::sync::OnceLock<Box<dyn Places>>,
}

impl RuntimeRecorder {
    /// The shared part of a runtime's observer. A task records its spawn site as an index
    /// below `max_sites`; `max_sites` itself means "not recorded".
    pub(crate) fn new(config: &ObserveConfig, max_sites: u32) -> Arc<RuntimeRecorder> {
        Arc::new_cyclic(|weak: &std::sync::Weak<RuntimeRecorder>| {
            let watchdog = config.slow_poll_threshold.map(|threshold| {
                let weak = weak.clone();
                Watchdog::new(
                    threshold,
                    Box::new(move |task| match weak.upgrade() {
                        Some(shared) if task != 0 => {
                            format!("task {}", shared.task_label(TaskId(task)))
                        }
                        _ if task == 0 => "the future passed to block_on".to_string(),
                        _ => format!("task #{task}"),
                    }),
                )
            });
            RuntimeRecorder {
                epoch: Instant::now(),
                slow_threshold: config.slow_poll_threshold,
                names: Mutex::default(),
                any_named: AtomicBool::new(false),
                sites: Mutex::new(Sites::new(max_sites)),
                longest_nanos: AtomicU64::new(0),
                watchdog,
                journal: (config.trace || config.explain).then(|| {
                    Mutex::new(Journal::new(
                        config.trace,
                        config.explain,
                        config.trace_capacity,
                    ))
                }),
                tracks: Mutex::default(),
                other_track: std::sync::OnceLock::new(),
                many_threads: AtomicBool::new(false),
                trace_path: config.trace_path.clone(),
                places: std::sync::OnceLock::new(),
            }
        })
    }

    /// A task's name, if it has one and is alive.
    pub(crate) fn name_of(&self, id: TaskId) -> Option<Arc<str>> {
        if !self.any_named.load(Relaxed) {
            return None;
        }
        lock(&self.names).get(&id).cloned()
    }

    /// Whether the journal keeps records for a trace.
    pub(crate) fn keeps_trace(&self) -> bool {
        (self.journal.as_ref()).is_some_and(|journal| lock(journal).keeps_records())
    }

    /// Says where tasks live from now on (set once; a second call is ignored).
    pub(crate) fn set_places(&self, places: Box<dyn Places>) {
        let _ = self.places.set(places);
    }

    /// The place (simulated host) task `id` belongs to, if places are kept and it has one.
    pub(crate) fn place_of(&self, id: TaskId, waker: &Waker) -> Option<Place> {
        self.places
            .get()
            .and_then(|places| places.place_of(id, waker))
    }

    /// `fetch#12`, or `task#12` for a task without a name.
    pub(super) fn task_label(&self, id: TaskId) -> String {
        explain::task_label(id, &|id| self.name_of(id))
    }

    /// The spawn site with index `site`.
    pub(crate) fn site(&self, site: u32) -> Option<&'static Location<'static>> {
        lock(&self.sites).get(site)
    }

    /// The index of `location` among the spawn sites, for a spawn from a thread that has no
    /// `Observer` of this runtime (a plain thread with a `Handle`).
    pub(crate) fn site_of(&self, location: &'static Location<'static>) -> u32 {
        lock(&self.sites).intern(location)
    }

    /// A task was spawned from a thread that has no `Observer` of this runtime: its name is
    /// kept, and the journal records the spawn on the track of other threads.
    pub(crate) fn spawned_elsewhere(
        &self,
        id: TaskId,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) {
        if let Some(name) = &name {
            self.any_named.store(true, Relaxed);
            lock(&self.names).insert(id, Arc::clone(name));
        }
        if let Some(journal) = &self.journal {
            let track = *self.other_track.get_or_init(|| {
                let mut tracks = lock(&self.tracks);
                tracks.push("other threads".to_string());
                tracks.len() as u32 - 1
            });
            let record = Record {
                at: self.epoch.elapsed(),
                track,
                event: Event::Spawn {
                    task: id,
                    name,
                    location,
                    by: Who::Nobody,
                },
            };
            lock(journal).record(record, &|id| self.name_of(id), Some("other threads"));
        }
    }

    /// The runtime runs tasks on several threads (set before their observers are made).
    pub(crate) fn set_many_threads(&self) {
        self.many_threads.store(true, Relaxed);
    }

    /// The longest poll the watchdog measured.
    pub(crate) fn longest_poll(&self) -> Duration {
        Duration::from_nanos(self.longest_nanos.load(Relaxed))
    }

    /// How often the watchdog samples, if there is one.
    pub(crate) fn poll_sample_period(&self) -> Option<Duration> {
        self.watchdog.as_ref().map(Watchdog::busy_period)
    }

    /// The runtime is being dropped: stop the watchdog and write the trace file, if asked for.
    pub(crate) fn shutdown(&self) {
        if let Some(watchdog) = &self.watchdog {
            watchdog.stop();
        }
        self.write_trace_file();
    }

    /// The journal as decisions (`replay.rs`), and how many records were dropped from it.
    pub(crate) fn decisions(&self) -> Option<(Vec<String>, u64)> {
        let journal = lock(self.journal.as_ref()?);
        let decisions = journal
            .records()
            .iter()
            .filter_map(replay::decision)
            .collect();
        Some((decisions, journal.dropped()))
    }

    /// Writes the journal as Chrome Trace Event JSON.
    pub(crate) fn write_trace(&self, out: &mut dyn Write) -> io::Result<()> {
        let journal = self
            .journal
            .as_ref()
            .map(lock)
            .filter(|journal| journal.keeps_records())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "tracing is off: build the runtime with Builder::trace(true) or set \
                     NBIO_TRACE=file.json",
                )
            })?;
        let tracks = lock(&self.tracks).clone();
        let names = |id| self.name_of(id);
        match self.places.get() {
            None => {
                let (records, dropped) = (journal.records(), journal.dropped());
                chrome::write(out, records, dropped, &tracks, &names, &mut Vec::new())
            }
            Some(places) => {
                let by_host = hosts::by_host(journal.records(), tracks, &**places);
                let dropped = journal.dropped();
                drop(journal);
                let mut flows = by_host.message_flows(&**places, self.epoch);
                let (records, tracks) = (&by_host.records, &by_host.tracks);
                chrome::write(out, records, dropped, tracks, &names, &mut flows)
            }
        }
    }

    /// Writes the trace to the `NBIO_TRACE` path, if one was given. A failure is reported on
    /// stderr: there is no caller left to return it to.
    fn write_trace_file(&self) {
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
