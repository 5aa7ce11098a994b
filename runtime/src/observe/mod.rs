//! Watching the runtime work.
//!
//! The article prints as it goes ("Sending data", "Blocking with 5242880 remaining") so that a
//! reader can watch its loop take turns. nbio does the same, built in and cheap:
//!
//! - [`Stats`]: exact counters, always on.
//! - A slow-poll warning, on by default: a poll that holds the thread longer than a threshold
//!   (10 ms) prints one line naming the task, where it was spawned, and whether it blocked,
//!   computed, or was simply not given the CPU. A watchdog thread samples the runtime's threads
//!   (`watchdog.rs`), so that a poll costs two plain stores instead of two clock reads, and a
//!   poll that never returns is reported while it hangs (`slow.rs`).
//! - The journal, off by default (`Builder::trace`, `NBIO_TRACE=file.json`): spawns, polls,
//!   wakes with their cause, reactor waits, waits for readiness (`WouldBlock`s, short writes),
//!   in a bounded ring; written as a
//!   Chrome trace that ui.perfetto.dev opens (`chrome.rs`), or printed as it happens, one line
//!   per event (`Builder::explain`, `NBIO_EXPLAIN=1`; `explain.rs`).
//! - [`Dump`]: the live tasks, one line each, including those that can never run again.
//!
//! Each thread that polls tasks records into its own [`Observer`] (`thread_recorder.rs`); what
//! the threads of one runtime share (names, spawn sites, the watchdog, the longest poll) is in
//! [`RuntimeRecorder`] (`runtime_recorder.rs`), made from the [`ObserveConfig`] the runtime was built
//! with (`config.rs`). Nothing depends on any of it for its logic, and it depends only on plain
//! types: task ids and directions.

mod chrome;
mod clock;
mod config;
mod dump;
mod event;
mod explain;
mod hooks;
mod hosts;
mod journal;
#[cfg(all(test, nbio_loom))]
mod loom_tests;
mod places;
mod replay;
mod runtime_recorder;
mod shown;
mod sites;
mod slow;
mod stats;
mod stuck;
mod thread_recorder;
mod watchdog;

pub(crate) use config::ObserveConfig;
pub use dump::{Awaiter, Dump, JobInfo, JobState, TaskInfo, TaskState};
pub(crate) use event::{Cause, PollOutcome, StallReason, TaskNotes, Who};
pub(crate) use explain::human;
pub(crate) use places::{Message, Place, Places};
pub(crate) use runtime_recorder::RuntimeRecorder;
pub use stats::{Stats, WorkerStats};
pub(crate) use stuck::{cycle_report, deadlock_message};
pub(crate) use thread_recorder::{since_stamp, JobRun, Observer};

use crate::loom::lock;
