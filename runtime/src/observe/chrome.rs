//! The journal as Chrome Trace Event JSON, which ui.perfetto.dev and chrome://tracing open.
//!
//! Each thread that recorded has its own track, named after it ("the runtime's thread",
//! "worker 1", …): each poll is a complete (`"X"`) slice named after its task, the `block_on`
//! future's polls are slices named `block_on`, and each look at the reactor is a slice too. A
//! wake is a flow arrow from the slice during which it happened (the waking task's poll, or the
//! reactor's wait) to the woken task's next poll, on whichever track that poll ran; a spawn is an
//! arrow from the spawner to the new task's first poll. Waits (a `WouldBlock`, or a short write)
//! and slow polls are instant markers with their details in `args`. A blocking job is a slice
//! (`job#12`) on the track of the pool thread that ran it ("blocking 1"), with an arrow from
//! the code that spawned it and one from its end to the next poll of the task that awaited it.
//!
//! Where a task spent its time waiting: from the end of each poll that returned `Pending` to
//! its next poll, an async slice named after what it waited on ("waits: timer", "waits:
//! channel", …; `diagnose::kind_of` says which kinds), one row per task; and in `otherData`, each
//! task's total wait per kind, in µs (`wait_us_by_task`).

use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use super::event::{Cause, Event, PollOutcome, Record, StallReason, Who};
use super::explain::{who_label, Names};
use crate::diagnose::kind_of;
use crate::reactor::Direction;
use crate::task::TaskId;

pub(super) const PID: u32 = 1;

/// The trace's thread id of a track (Chrome wants them from 1).
pub(super) fn tid(track: u32) -> u32 {
    track + 1
}

/// Writes `records` as a Chrome trace; `tracks` names the threads that recorded them (and a
/// simulation's hosts, `hosts.rs`), and `extra` adds events of its own (its messages).
pub(crate) fn write(
    out: &mut dyn Write,
    records: &VecDeque<Record>,
    dropped: u64,
    tracks: &[String],
    live_names: Names<'_>,
    extra: &mut Vec<String>,
) -> io::Result<()> {
    let mut trace = Trace::new(records, tracks, live_names);
    for record in records {
        trace.add(record);
    }
    trace.events.append(extra);
    trace.finish(out, dropped)
}

/// When something happened, and on which thread's track.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    at: Duration,
    track: u32,
}

impl Place {
    /// The trace's timestamp of the place.
    fn ts(self) -> String {
        micros(self.at)
    }

    /// The trace's thread id of the place.
    fn tid(self) -> u32 {
        tid(self.track)
    }
}

/// What a slice covers: from `start`, for `took` (a poll, a look at the reactor, a job's run).
#[derive(Clone, Copy)]
struct Span {
    start: Place,
    took: Duration,
}

impl Span {
    /// Where the slice ends, on the track it started on.
    fn end(self) -> Place {
        Place {
            at: self.start.at + self.took,
            track: self.start.track,
        }
    }
}

/// A trace being written: its events so far, and what an event needs to know of the other
/// records (the polls an arrow ends at, the waits a poll ends).
struct Trace<'a> {
    /// The trace's events, in the order they are written.
    events: Vec<String>,
    /// How each thread that recorded is named, by track.
    tracks: &'a [String],
    /// The name and spawn site of each task whose spawn is in the records.
    spawned: HashMap<TaskId, (Option<Arc<str>>, String)>,
    /// The names of live tasks, for those whose spawn is not in the records.
    live_names: Names<'a>,
    /// When (and on which track) each task's polls started, to find the poll a wake led to.
    poll_starts: HashMap<TaskId, Vec<Place>>,
    /// When each track's polls started, to end a steal's arrow at the thief's next poll.
    polls_by_track: HashMap<u32, Vec<Duration>>,
    /// The id of the last wake, spawn or job arrow.
    next_flow: u64,
    /// The id of the last steal arrow.
    next_steal: u64,
    /// Per task: where its last `Pending` poll ended, and what it waited on.
    waiting: HashMap<TaskId, (Place, u64)>,
    /// Per task: how long it waited, in total, on each kind of thing.
    waited: HashMap<TaskId, Vec<(&'static str, Duration)>>,
}

impl<'a> Trace<'a> {
    /// A trace of `records` that names the process and its threads, and has no other event yet.
    fn new(records: &VecDeque<Record>, tracks: &'a [String], live_names: Names<'a>) -> Trace<'a> {
        let mut events = Vec::with_capacity(records.len() + 4);
        events.push(format!(
            r#"{{"name":"process_name","ph":"M","pid":{PID},"args":{{"name":"nbio"}}}}"#
        ));
        for (track, name) in tracks.iter().enumerate() {
            events.push(format!(
                r#"{{"name":"thread_name","ph":"M","pid":{PID},"tid":{},"args":{{"name":{}}}}}"#,
                tid(track as u32),
                json_string(name)
            ));
        }
        Trace {
            events,
            tracks,
            spawned: spawned(records),
            live_names,
            poll_starts: poll_starts(records),
            polls_by_track: polls_by_track(records),
            next_flow: 0,
            next_steal: 0,
            waiting: HashMap::new(),
            waited: HashMap::new(),
        }
    }

    /// The events of one record: one function per kind.
    fn add(&mut self, record: &Record) {
        let at = Place {
            at: record.at,
            track: record.track,
        };
        let span = |took: &Duration| Span {
            start: at,
            took: *took,
        };
        match &record.event {
            Event::Poll {
                who,
                took,
                outcome,
                waits,
            } => self.poll(span(took), *who, *outcome, *waits),
            Event::ReactorWait {
                took,
                events,
                blocking,
            } => self.reactor_wait(span(took), *events, *blocking),
            Event::RemoteWakes { took, tasks } => self.remote_wakes(span(took), *tasks),
            Event::Wake { task, cause } => self.wake(at, *task, *cause),
            Event::Spawn { task, by, .. } => self.spawn(at, *task, *by),
            Event::Stall {
                who,
                fd,
                dir,
                remaining,
                why,
            } => self.wait(at, *who, *fd, *dir, *remaining, *why),
            Event::SlowPoll { who, took } => self.slow_poll(at, *who, *took),
            Event::Steal { victim, tasks } => self.steal(at, *victim, *tasks),
            Event::JobSpawn { job, .. } => self.flow("spawn_blocking", at, *job),
            Event::Job {
                job,
                location,
                took,
                queued_for,
                outcome,
                awaiter,
            } => self.job(span(took), *job, location, *queued_for, *outcome, *awaiter),
        }
    }

    /// A poll: a slice named after what was polled. For a task, it also ends the wait that
    /// its last `Pending` poll began, and begins another if it returns `Pending` again.
    fn poll(&mut self, span: Span, who: Who, outcome: PollOutcome, waits: u64) {
        if let Who::Task(id) = who {
            if let Some((since, word)) = self.waiting.remove(&id) {
                self.wait_ended(id, kind_of(word), since, span.start);
            }
            if outcome == PollOutcome::Pending {
                self.waiting.insert(id, (span.end(), waits));
            }
        }
        let spawned_at = match who {
            Who::Task(id) => self
                .spawned
                .get(&id)
                .map(|(_, at)| at.as_str())
                .unwrap_or(""),
            _ => "",
        };
        let task = match who {
            Who::Task(id) => id.0.to_string(),
            _ => "null".to_string(),
        };
        let args = format!(
            r#""task":{task},"outcome":"{}","spawned_at":{}"#,
            outcome.as_str(),
            json_string(spawned_at)
        );
        self.slice(&self.label(who), "poll", span, &args);
    }

    /// Task `id` waited on `kind` from `since` until its poll at `until`: an async slice on
    /// the task's own row, and the time added to its total for that kind.
    fn wait_ended(&mut self, id: TaskId, kind: &'static str, since: Place, until: Place) {
        let totals = self.waited.entry(id).or_default();
        let span = until.at.saturating_sub(since.at);
        match totals.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, total)) => *total += span,
            None => totals.push((kind, span)),
        }
        for (ph, on) in [("b", since), ("e", until)] {
            self.events.push(format!(
                r#"{{"name":"waits: {kind}","cat":"wait","ph":"{ph}","id":"wait-{}","ts":{},"pid":{PID},"tid":{}}}"#,
                id.0,
                on.ts(),
                on.tid()
            ));
        }
    }

    /// A look at the reactor: a slice, "reactor wait" if it blocked.
    fn reactor_wait(&mut self, span: Span, events: usize, blocking: bool) {
        let name = if blocking {
            "reactor wait"
        } else {
            "reactor look"
        };
        let args = format!(r#""events":{events},"blocking":{blocking}"#);
        self.slice(name, "reactor", span, &args);
    }

    /// Tasks woken from other threads joined the run queue: a slice.
    fn remote_wakes(&mut self, span: Span, tasks: usize) {
        let args = format!(r#""tasks":{tasks}"#);
        self.slice("wakes from other threads", "runtime", span, &args);
    }

    /// A wake: an arrow to the woken task's next poll, named after its cause (none when the
    /// cause is not known).
    fn wake(&mut self, at: Place, task: TaskId, cause: Cause) {
        let name = match cause {
            Cause::Io {
                dir: Direction::Read,
                ..
            } => "wake: readable",
            Cause::Io {
                dir: Direction::Write,
                ..
            } => "wake: writable",
            Cause::Timer => "wake: timer",
            Cause::Thread => "wake: other thread",
            Cause::Itself => "wake: itself",
            Cause::Task(_) | Cause::Main => "wake",
            Cause::Unknown => return,
        };
        self.flow(name, at, task);
    }

    /// A spawn: an arrow from the spawner to the new task's first poll, if the spawner was
    /// polled on a thread of the runtime.
    fn spawn(&mut self, at: Place, task: TaskId, by: Who) {
        if by != Who::Nobody {
            self.flow("spawn", at, task);
        }
    }

    /// A wait for readiness (a `WouldBlock`, or a short write): an instant marker.
    fn wait(
        &mut self,
        at: Place,
        who: Who,
        fd: RawFd,
        dir: Direction,
        remaining: Option<usize>,
        why: StallReason,
    ) {
        let (name, took) = match why {
            StallReason::WouldBlock => ("WouldBlock", "null".to_string()),
            StallReason::ShortWrite { took } => ("short write", took.to_string()),
        };
        let remaining = remaining.map_or("null".to_string(), |n| n.to_string());
        let dir = match dir {
            Direction::Read => "read",
            Direction::Write => "write",
        };
        let args = format!(
            r#""task":{},"fd":{fd},"direction":"{dir}","remaining":{remaining},"took":{took}"#,
            json_string(&self.label(who))
        );
        self.instant(name, "io", at, &args);
    }

    /// A slow poll: an instant marker.
    fn slow_poll(&mut self, at: Place, who: Who, took: Duration) {
        let args = format!(
            r#""task":{},"held_ms":{:.3}"#,
            json_string(&self.label(who)),
            took.as_secs_f64() * 1e3
        );
        self.instant("slow poll", "warning", at, &args);
    }

    /// A steal: an instant marker on the thief's track, and an arrow from the victim's track
    /// to the thief's next poll.
    fn steal(&mut self, at: Place, victim: usize, tasks: usize) {
        let args = format!(r#""from_worker":{},"tasks":{tasks}"#, victim + 1);
        self.instant("steal", "steal", at, &args);
        let victim_name = format!("worker {}", victim + 1);
        let next = self
            .polls_by_track
            .get(&at.track)
            .and_then(|starts| starts.get(starts.partition_point(|&start| start < at.at)));
        if let (Some(from), Some(&to)) = (
            self.tracks.iter().position(|name| *name == victim_name),
            next,
        ) {
            self.next_steal += 1;
            let id = format!(r#""steal-{}""#, self.next_steal);
            let from = Place {
                at: at.at,
                track: from as u32,
            };
            let to = Place {
                at: to,
                track: at.track,
            };
            self.arrow("steal", "steal", &id, from, to);
        }
    }

    /// A blocking job's run: a slice on the pool thread's track, and an arrow from its end to
    /// the next poll of the task that awaited it.
    fn job(
        &mut self,
        span: Span,
        job: TaskId,
        location: &Location<'_>,
        queued_for: Duration,
        outcome: PollOutcome,
        awaiter: Option<TaskId>,
    ) {
        let awaited = awaiter.map_or("null".to_string(), |id| id.0.to_string());
        let args = format!(
            r#""job":{},"outcome":"{}","queued_us":{},"spawned_at":{},"awaited_by":{awaited}"#,
            job.0,
            outcome.as_str(),
            micros(queued_for),
            json_string(&location.to_string())
        );
        self.slice(&format!("job#{}", job.0), "blocking", span, &args);
        if let Some(awaiter) = awaiter {
            self.flow("job done", span.end(), awaiter);
        }
    }

    /// A complete slice (`"X"`) named `name` over `span`; `args` are the members of its
    /// `args` object.
    fn slice(&mut self, name: &str, cat: &str, span: Span, args: &str) {
        self.events.push(format!(
            r#"{{"name":{},"cat":"{cat}","ph":"X","ts":{},"dur":{},"pid":{PID},"tid":{},"args":{{{args}}}}}"#,
            json_string(name),
            span.start.ts(),
            micros(span.took),
            span.start.tid()
        ));
    }

    /// An instant marker (`"i"`, on its thread) named `name` at `at`; `args` are the members
    /// of its `args` object.
    fn instant(&mut self, name: &str, cat: &str, at: Place, args: &str) {
        self.events.push(format!(
            r#"{{"name":{},"cat":"{cat}","ph":"i","s":"t","ts":{},"pid":{PID},"tid":{},"args":{{{args}}}}}"#,
            json_string(name),
            at.ts(),
            at.tid()
        ));
    }

    /// An arrow named `name` from `from` to the first poll of `task` that starts at or after
    /// it, if there is one.
    fn flow(&mut self, name: &str, from: Place, task: TaskId) {
        let Some(starts) = self.poll_starts.get(&task) else {
            return;
        };
        let Some(&to) = starts.get(starts.partition_point(|start| start.at < from.at)) else {
            return;
        };
        self.next_flow += 1;
        let id = self.next_flow.to_string();
        self.arrow(name, "flow", &id, from, to);
    }

    /// An arrow (a flow's start `"s"` and end `"f"`) from `from` to `to`; `id`, a JSON number
    /// or string, pairs the two ends.
    fn arrow(&mut self, name: &str, cat: &str, id: &str, from: Place, to: Place) {
        self.events.push(format!(
            r#"{{"name":{},"cat":"{cat}","ph":"s","id":{id},"ts":{},"pid":{PID},"tid":{}}}"#,
            json_string(name),
            from.ts(),
            from.tid()
        ));
        self.events.push(format!(
            r#"{{"name":{},"cat":"{cat}","ph":"f","bp":"e","id":{id},"ts":{},"pid":{PID},"tid":{}}}"#,
            json_string(name),
            to.ts(),
            to.tid()
        ));
    }

    /// How the trace names `who`: `fetch#12`, `task#12`, `block_on` or `runtime`.
    fn label(&self, who: Who) -> String {
        who_label(who, &|id| {
            self.spawned
                .get(&id)
                .and_then(|(name, _)| name.clone())
                .or_else(|| (self.live_names)(id))
        })
    }

    /// Writes the trace: `otherData` (the dropped events, each task's waits by kind), then
    /// the events.
    fn finish(self, out: &mut dyn Write, dropped: u64) -> io::Result<()> {
        writeln!(
            out,
            "{{\"displayTimeUnit\":\"ms\",\"otherData\":{{\"dropped_events\":{dropped},\"wait_us_by_task\":{{{}}}}},\"traceEvents\":[",
            self.waits_by_task()
        )?;
        for (i, event) in self.events.iter().enumerate() {
            let comma = if i + 1 < self.events.len() { "," } else { "" };
            writeln!(out, "{event}{comma}")?;
        }
        writeln!(out, "]}}")
    }

    /// The members of `wait_us_by_task`: for each task in id order, its total wait per kind.
    fn waits_by_task(&self) -> String {
        let mut by_task: Vec<_> = self.waited.iter().collect();
        by_task.sort_by_key(|(id, _)| **id);
        let by_task: Vec<String> = by_task
            .iter()
            .map(|(id, totals)| {
                let kinds: Vec<String> = totals
                    .iter()
                    .map(|(kind, total)| format!("\"{kind}\":{}", micros(*total)))
                    .collect();
                format!(
                    "{}:{{{}}}",
                    json_string(&self.label(Who::Task(**id))),
                    kinds.join(",")
                )
            })
            .collect();
        by_task.join(",")
    }
}

/// The name and spawn site of each task whose spawn is in `records`.
fn spawned(records: &VecDeque<Record>) -> HashMap<TaskId, (Option<Arc<str>>, String)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::Spawn {
                task,
                name,
                location,
                ..
            } => Some((*task, (name.clone(), location.to_string()))),
            _ => None,
        })
        .collect()
}

/// When (and on which track) each task's polls started, in order. A blocking job's run counts
/// as its "poll": a spawn_blocking arrow ends there.
fn poll_starts(records: &VecDeque<Record>) -> HashMap<TaskId, Vec<Place>> {
    let mut poll_starts: HashMap<TaskId, Vec<Place>> = HashMap::new();
    for record in records {
        let id = match record.event {
            Event::Poll {
                who: Who::Task(id), ..
            } => id,
            Event::Job { job, .. } => job,
            _ => continue,
        };
        poll_starts.entry(id).or_default().push(Place {
            at: record.at,
            track: record.track,
        });
    }
    for starts in poll_starts.values_mut() {
        starts.sort();
    }
    poll_starts
}

/// When each track's polls started, in order.
fn polls_by_track(records: &VecDeque<Record>) -> HashMap<u32, Vec<Duration>> {
    let mut polls_by_track: HashMap<u32, Vec<Duration>> = HashMap::new();
    for record in records {
        if let Event::Poll { .. } = record.event {
            polls_by_track
                .entry(record.track)
                .or_default()
                .push(record.at);
        }
    }
    for starts in polls_by_track.values_mut() {
        starts.sort();
    }
    polls_by_track
}

/// Microseconds, as the trace format counts time, with nanosecond digits.
pub(super) fn micros(d: Duration) -> String {
    format!("{:.3}", d.as_nanos() as f64 / 1e3)
}

/// `s` as a JSON string literal.
pub(super) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
