//! A simulation's trace (`nbio::sim`): one track per host, and each message a flow from the
//! poll that sent it to the poll that received it.
//!
//! Every host of a simulation runs on the runtime's one thread, so the journal puts all their
//! polls on that thread's track. Here each record made in a poll of a host's task (the poll
//! itself, the wakes and spawns it made, its waits for room) moves to a track named after the
//! host ("host db2"), after the threads' tracks; the run's own tasks (its network, its wait for
//! the clients) stay on the thread's. A message's flow starts inside the sender's poll and
//! ends inside the receiver's, each on its host's track.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use super::chrome::{json_string, micros, tid, PID};
use super::event::{Cause, Event, Record, Who};
use super::places::Places;
use crate::task::TaskId;

/// The records, each on its host's track where it has one; the tracks' names, the hosts'
/// after the threads'; and each host task's track.
pub(super) struct ByHost {
    pub(super) records: VecDeque<Record>,
    pub(super) tracks: Vec<String>,
    task_tracks: HashMap<TaskId, Option<u32>>,
}

/// Moves the records of `places`' tasks to their hosts' tracks.
pub(super) fn by_host(
    records: &VecDeque<Record>,
    tracks: Vec<String>,
    places: &dyn Places,
) -> ByHost {
    let mut by_host = ByHost {
        records: VecDeque::with_capacity(records.len()),
        tracks,
        task_tracks: HashMap::new(),
    };
    let mut host_tracks: HashMap<Arc<str>, u32> = HashMap::new();
    for record in records {
        let track = polled_in(&record.event).and_then(|task| {
            *(by_host.task_tracks.entry(task)).or_insert_with(|| {
                let host = places.host_of(task)?;
                let tracks = &mut by_host.tracks;
                Some(*host_tracks.entry(Arc::clone(&host)).or_insert_with(|| {
                    tracks.push(format!("host {host}"));
                    (tracks.len() - 1) as u32
                }))
            })
        });
        by_host.records.push_back(Record {
            track: track.unwrap_or(record.track),
            ..record.clone()
        });
    }
    by_host
}

/// The task in whose poll `event` happened, if it says.
fn polled_in(event: &Event) -> Option<TaskId> {
    match *event {
        Event::Poll {
            who: Who::Task(id), ..
        }
        | Event::Stall {
            who: Who::Task(id), ..
        }
        | Event::SlowPoll {
            who: Who::Task(id), ..
        }
        | Event::Spawn {
            by: Who::Task(id), ..
        }
        | Event::Wake {
            cause: Cause::Task(id),
            ..
        }
        | Event::Wake {
            task: id,
            cause: Cause::Itself,
        } => Some(id),
        _ => None,
    }
}

impl ByHost {
    /// Each message of `places` as a flow (`"s"` in the sender's poll, `"f"` in the
    /// receiver's), on the hosts' tracks; `epoch` is when the journal's time starts.
    pub(super) fn message_flows(&self, places: &dyn Places, epoch: Instant) -> Vec<String> {
        let track = |task: &TaskId| self.task_tracks.get(task).copied().flatten();
        let mut events = Vec::new();
        for (n, message) in places.messages().iter().enumerate() {
            let (Some(from), Some(to)) = (track(&message.from), track(&message.to)) else {
                continue; // a task whose polls the journal no longer holds
            };
            let ends = [
                ("s", "", message.sent, from),
                ("f", r#""bp":"e","#, message.received, to),
            ];
            for (ph, bind, at, track) in ends {
                events.push(format!(
                    r#"{{"name":{},"cat":"message","ph":"{ph}",{bind}"id":"msg-{n}","ts":{},"pid":{PID},"tid":{}}}"#,
                    json_string(&message.name),
                    micros(at.saturating_duration_since(epoch)),
                    tid(track)
                ));
            }
        }
        events
    }
}
