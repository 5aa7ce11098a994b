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
use std::sync::Arc;
use std::time::Duration;

use super::event::{Cause, Event, PollOutcome, Record, WaitReason, Who};
use super::explain::Names;
use crate::diagnose::kind_of;
use crate::reactor::Direction;
use crate::task::TaskId;

const PID: u32 = 1;

/// The trace's thread id of a track (Chrome wants them from 1).
fn tid(track: u32) -> u32 {
    track + 1
}

/// Writes `records` as a Chrome trace; `tracks` names the threads that recorded them.
pub(crate) fn write(
    out: &mut dyn Write,
    records: &VecDeque<Record>,
    dropped: u64,
    tracks: &[String],
    live_names: Names<'_>,
) -> io::Result<()> {
    let spawned: HashMap<TaskId, (Option<Arc<str>>, String)> = records
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
        .collect();
    let label = |who: Who| match who {
        Who::Nobody => "runtime".to_string(),
        Who::Main => "block_on".to_string(),
        Who::Task(id) => {
            let name = spawned
                .get(&id)
                .and_then(|(name, _)| name.clone())
                .or_else(|| live_names(id));
            match name {
                Some(name) => format!("{name}#{}", id.0),
                None => format!("task#{}", id.0),
            }
        }
    };
    // When (and on which track) each task's polls started, to find the poll a wake led to.
    let mut poll_starts: HashMap<TaskId, Vec<(Duration, u32)>> = HashMap::new();
    // A blocking job's run counts as its "poll": a spawn_blocking arrow ends there.
    for record in records {
        let id = match record.event {
            Event::Poll {
                who: Who::Task(id), ..
            } => id,
            Event::Job { job, .. } => job,
            _ => continue,
        };
        poll_starts
            .entry(id)
            .or_default()
            .push((record.at, record.track));
    }
    for starts in poll_starts.values_mut() {
        starts.sort();
    }
    // When each track's polls started, to end a steal's arrow at the thief's next poll.
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
    let mut next_steal = 0u64;

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
    let mut next_flow = 0u64;
    let mut flow = |events: &mut Vec<String>, name: &str, from: (Duration, u32), task: TaskId| {
        let Some(starts) = poll_starts.get(&task) else {
            return;
        };
        let i = starts.partition_point(|&(start, _)| start < from.0);
        let Some(&(to, to_track)) = starts.get(i) else {
            return;
        };
        next_flow += 1;
        events.push(format!(
            r#"{{"name":"{name}","cat":"flow","ph":"s","id":{next_flow},"ts":{},"pid":{PID},"tid":{}}}"#,
            micros(from.0),
            tid(from.1)
        ));
        events.push(format!(
            r#"{{"name":"{name}","cat":"flow","ph":"f","bp":"e","id":{next_flow},"ts":{},"pid":{PID},"tid":{}}}"#,
            micros(to),
            tid(to_track)
        ));
    };
    // Per task: when its last `Pending` poll ended, on which track, and what it waited on.
    let mut waiting: HashMap<TaskId, (Duration, u32, u64)> = HashMap::new();
    let mut waited: HashMap<TaskId, Vec<(&'static str, Duration)>> = HashMap::new();
    for record in records {
        let ts = micros(record.at);
        let tid = tid(record.track);
        match &record.event {
            Event::Poll {
                who,
                took,
                outcome,
                waits,
            } => {
                if let Who::Task(id) = who {
                    if let Some((since, track, word)) = waiting.remove(id) {
                        let kind = kind_of(word);
                        let totals = waited.entry(*id).or_default();
                        let span = record.at.saturating_sub(since);
                        match totals.iter_mut().find(|(k, _)| *k == kind) {
                            Some((_, total)) => *total += span,
                            None => totals.push((kind, span)),
                        }
                        for (ph, at, on) in [("b", since, track), ("e", record.at, record.track)] {
                            events.push(format!(
                                r#"{{"name":"waits: {kind}","cat":"wait","ph":"{ph}","id":"wait-{}","ts":{},"pid":{PID},"tid":{}}}"#,
                                id.0,
                                micros(at),
                                self::tid(on)
                            ));
                        }
                    }
                    if *outcome == PollOutcome::Pending {
                        waiting.insert(*id, (record.at + *took, record.track, *waits));
                    }
                }
                let spawned_at = match who {
                    Who::Task(id) => spawned.get(id).map(|(_, at)| at.as_str()).unwrap_or(""),
                    _ => "",
                };
                let task = match who {
                    Who::Task(id) => id.0.to_string(),
                    _ => "null".to_string(),
                };
                events.push(format!(
                    r#"{{"name":{},"cat":"poll","ph":"X","ts":{ts},"dur":{},"pid":{PID},"tid":{tid},"args":{{"task":{task},"outcome":"{}","spawned_at":{}}}}}"#,
                    json_string(&label(*who)),
                    micros(*took),
                    outcome.as_str(),
                    json_string(spawned_at)
                ));
            }
            Event::ReactorWait {
                took,
                events: n,
                blocking,
            } => {
                let name = if *blocking {
                    "reactor wait"
                } else {
                    "reactor look"
                };
                events.push(format!(
                    r#"{{"name":"{name}","cat":"reactor","ph":"X","ts":{ts},"dur":{},"pid":{PID},"tid":{tid},"args":{{"events":{n},"blocking":{blocking}}}}}"#,
                    micros(*took)
                ));
            }
            Event::RemoteWakes { took, tasks } => {
                events.push(format!(
                    r#"{{"name":"wakes from other threads","cat":"runtime","ph":"X","ts":{ts},"dur":{},"pid":{PID},"tid":{tid},"args":{{"tasks":{tasks}}}}}"#,
                    micros(*took)
                ));
            }
            Event::Wake { task, cause } => {
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
                    Cause::Unknown => continue,
                };
                flow(&mut events, name, (record.at, record.track), *task);
            }
            Event::Spawn { task, by, .. } => {
                if *by != Who::Nobody {
                    flow(&mut events, "spawn", (record.at, record.track), *task);
                }
            }
            Event::Wait {
                who,
                fd,
                dir,
                remaining,
                why,
            } => {
                let (name, took) = match why {
                    WaitReason::WouldBlock => ("WouldBlock", "null".to_string()),
                    WaitReason::ShortWrite { took } => ("short write", took.to_string()),
                };
                let remaining = remaining.map_or("null".to_string(), |n| n.to_string());
                let dir = match dir {
                    Direction::Read => "read",
                    Direction::Write => "write",
                };
                events.push(format!(
                    r#"{{"name":"{name}","cat":"io","ph":"i","s":"t","ts":{ts},"pid":{PID},"tid":{tid},"args":{{"task":{},"fd":{fd},"direction":"{dir}","remaining":{remaining},"took":{took}}}}}"#,
                    json_string(&label(*who))
                ));
            }
            Event::SlowPoll { who, took } => {
                events.push(format!(
                    r#"{{"name":"slow poll","cat":"warning","ph":"i","s":"t","ts":{ts},"pid":{PID},"tid":{tid},"args":{{"task":{},"held_ms":{:.3}}}}}"#,
                    json_string(&label(*who)),
                    took.as_secs_f64() * 1e3
                ));
            }
            Event::Steal { victim, tasks } => {
                events.push(format!(
                    r#"{{"name":"steal","cat":"steal","ph":"i","s":"t","ts":{ts},"pid":{PID},"tid":{tid},"args":{{"from_worker":{},"tasks":{tasks}}}}}"#,
                    victim + 1
                ));
                // An arrow from the victim's track to the thief's next poll.
                let victim_name = format!("worker {}", victim + 1);
                let next = polls_by_track.get(&record.track).and_then(|starts| {
                    starts.get(starts.partition_point(|&start| start < record.at))
                });
                if let (Some(from), Some(&to)) =
                    (tracks.iter().position(|name| *name == victim_name), next)
                {
                    next_steal += 1;
                    events.push(format!(
                        r#"{{"name":"steal","cat":"steal","ph":"s","id":"steal-{next_steal}","ts":{ts},"pid":{PID},"tid":{}}}"#,
                        from + 1
                    ));
                    events.push(format!(
                        r#"{{"name":"steal","cat":"steal","ph":"f","bp":"e","id":"steal-{next_steal}","ts":{},"pid":{PID},"tid":{tid}}}"#,
                        micros(to)
                    ));
                }
            }
            Event::JobSpawn { job, .. } => {
                flow(
                    &mut events,
                    "spawn_blocking",
                    (record.at, record.track),
                    *job,
                );
            }
            Event::Job {
                job,
                location,
                took,
                queued_for,
                outcome,
                awaiter,
            } => {
                let awaited = awaiter.map_or("null".to_string(), |id| id.0.to_string());
                events.push(format!(
                    r#"{{"name":"job#{}","cat":"blocking","ph":"X","ts":{ts},"dur":{},"pid":{PID},"tid":{tid},"args":{{"job":{},"outcome":"{}","queued_us":{},"spawned_at":{},"awaited_by":{awaited}}}}}"#,
                    job.0,
                    micros(*took),
                    job.0,
                    outcome.as_str(),
                    micros(*queued_for),
                    json_string(&location.to_string())
                ));
                if let Some(awaiter) = awaiter {
                    let end = record.at + *took;
                    flow(&mut events, "job done", (end, record.track), *awaiter);
                }
            }
        }
    }
    let mut by_task: Vec<_> = waited.into_iter().collect();
    by_task.sort_by_key(|(id, _)| *id);
    let by_task: Vec<String> = by_task
        .iter()
        .map(|(id, totals)| {
            let kinds: Vec<String> = totals
                .iter()
                .map(|(kind, total)| format!("\"{kind}\":{}", micros(*total)))
                .collect();
            format!(
                "{}:{{{}}}",
                json_string(&label(Who::Task(*id))),
                kinds.join(",")
            )
        })
        .collect();
    writeln!(
        out,
        "{{\"displayTimeUnit\":\"ms\",\"otherData\":{{\"dropped_events\":{dropped},\"wait_us_by_task\":{{{}}}}},\"traceEvents\":[",
        by_task.join(",")
    )?;
    for (i, event) in events.iter().enumerate() {
        let comma = if i + 1 < events.len() { "," } else { "" };
        writeln!(out, "{event}{comma}")?;
    }
    writeln!(out, "]}}")
}

/// Microseconds, as the trace format counts time, with nanosecond digits.
fn micros(d: Duration) -> String {
    format!("{:.3}", d.as_nanos() as f64 / 1e3)
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
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
