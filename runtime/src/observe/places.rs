//! Places: what a runtime that runs several machines in one (`nbio::sim`'s hosts) tells the
//! observer about them. The observer draws; the simulation knows: which host each task is on,
//! what a task waits on in the simulated network, and the messages the hosts sent each other.
//! The dump says "task#7 on db2 ...; waits on recv from db3:7000"; the trace gives each host
//! a track and draws each message as a flow (`hosts.rs`).

use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use crate::task::TaskId;

/// What the observer asks of a runtime's places. Called with no lock of the observer held.
pub(crate) trait Places: Send + Sync {
    /// The host of live task `task`, and what it waits on there; `waker` is one of the task's
    /// wakers, to find among those the place holds.
    fn place_of(&self, task: TaskId, waker: &Waker) -> Option<Place>;
    /// The host task `task` was on, live or not.
    fn host_of(&self, task: TaskId) -> Option<Arc<str>>;
    /// The messages that have been sent and received, in the order sent.
    fn messages(&self) -> Vec<Message>;
}

/// Where a live task is.
pub(crate) struct Place {
    /// The host's name.
    pub(crate) host: Arc<str>,
    /// What the task waits on in the place's network, if it does: "recv from db3:7000,
    /// partitioned since 4.21 s".
    pub(crate) waits: Option<String>,
}

/// One message between hosts: sent in a poll of one task, received in a poll of another.
pub(crate) struct Message {
    /// "db2→db3 3 B".
    pub(crate) name: String,
    pub(crate) sent: Instant,
    pub(crate) from: TaskId,
    pub(crate) received: Instant,
    pub(crate) to: TaskId,
}
