//! What the simulation tells the runtime's observer (`observe::Places`): which host each task
//! is on, what a task waits on in the network (`waits.rs`), and, while the trace is on, every
//! message, so that the trace draws a track per host and each message as a flow from the poll
//! that sent it to the poll that received it.
//!
//! A task is filed under its host at its first poll (`host::OnHost`). A message is stamped
//! with the real time and the task polled when it is sent and when it is read (for TCP, when
//! a read takes its last byte), as the journal stamps polls. Nothing of this runs while the
//! trace is off but a test of an `Option`.

use std::collections::VecDeque;
use std::sync::{Arc, PoisonError, Weak};
use std::task::Waker;
use std::time::Instant;

use super::world::{HostId, State, World};
use crate::observe::{Message, Place, Places};
use crate::task::polled::polled_task;
use crate::task::TaskId;

/// One message sent while the trace is on.
pub(crate) struct Flow {
    name: String,
    sent: (Instant, Option<TaskId>),
    received: Option<(Instant, Option<TaskId>)>,
}

impl World {
    /// Files `task` (if it is a task) as one of `host`'s.
    pub(crate) fn file_task(&self, task: Option<TaskId>, host: HostId) {
        if let Some(task) = task {
            let mut hosts = self
                .task_hosts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            hosts.insert(task, (host, true));
        }
    }

    /// `task` is no longer a live task of its host (it ended, or its host crashed).
    pub(crate) fn forget_task(&self, task: Option<TaskId>) {
        if let Some(task) = task {
            let mut hosts = self
                .task_hosts
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((_, live)) = hosts.get_mut(&task) {
                *live = false;
            }
        }
    }

    /// The name of the host of `task`: if it is still live there, or if `ever`.
    pub(crate) fn host_of(&self, task: TaskId, ever: bool) -> Option<Arc<str>> {
        let hosts = self
            .task_hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match hosts.get(&task) {
            Some(&(host, live)) if live || ever => Some(Arc::clone(&self.names[host as usize])),
            _ => None,
        }
    }

    /// What the runtime's observer asks. It holds the world weakly: the observer may outlive
    /// the run.
    pub(crate) fn observed(self: &Arc<World>) -> Box<dyn Places> {
        Box::new(Observed(Arc::downgrade(self)))
    }
}

struct Observed(Weak<World>);

impl Places for Observed {
    fn place_of(&self, task: TaskId, waker: &Waker) -> Option<Place> {
        let world = self.0.upgrade()?;
        let host = world.host_of(task, false)?;
        let waits = world.with(|state, _| state.net_wait_of(waker));
        Some(Place { host, waits })
    }

    fn host_of(&self, task: TaskId) -> Option<Arc<str>> {
        self.0.upgrade()?.host_of(task, true)
    }

    fn messages(&self) -> Vec<Message> {
        let Some(world) = self.0.upgrade() else {
            return Vec::new();
        };
        world.with(|state, _| {
            (state.flows.iter().flatten())
                .filter_map(|flow| match (flow.sent, flow.received) {
                    ((sent, Some(from)), Some((received, Some(to)))) => Some(Message {
                        name: flow.name.clone(),
                        sent,
                        from,
                        received,
                        to,
                    }),
                    _ => None,
                })
                .collect()
        })
    }
}

impl State {
    /// A message of `len` bytes leaves `from` for `to`, in the poll under way: its flow, if
    /// the trace is on.
    pub(crate) fn flow_sent(&mut self, from: HostId, to: HostId, len: usize) -> Option<usize> {
        self.flows.as_ref()?;
        // The trace's clock is the real one; the name carries the simulation's own time.
        let at = crate::time::now().saturating_duration_since(self.start);
        let name = format!(
            "{}→{} {len} B, sent at {:.3} ms",
            self.name(from),
            self.name(to),
            at.as_secs_f64() * 1e3
        );
        let flows = self.flows.as_mut()?;
        flows.push(Flow {
            name,
            sent: (Instant::now(), polled_task()),
            received: None,
        });
        Some(flows.len() - 1)
    }

    /// Flow `flow` was received, in the poll under way.
    pub(crate) fn flow_received(&mut self, flow: usize) {
        if let Some(record) = self.flows.as_mut().and_then(|flows| flows.get_mut(flow)) {
            record
                .received
                .get_or_insert((Instant::now(), polled_task()));
        }
    }
}

/// A read took `n` bytes from a receive buffer whose bytes came as `arrivals` (each flow and
/// its bytes still unread, in order): the flows it read to the end, taken out.
pub(crate) fn read_arrivals(arrivals: &mut VecDeque<(usize, usize)>, mut n: usize) -> Vec<usize> {
    let mut ended = Vec::new();
    while let Some((flow, left)) = arrivals.front_mut() {
        if n < *left {
            *left -= n;
            break;
        }
        n -= *left;
        ended.push(*flow);
        arrivals.pop_front();
    }
    ended
}
