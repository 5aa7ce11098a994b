//! Diagnosis: what each waiting task waits on, the cycles of tasks that wait on each other, and
//! whether a loop about to sleep can ever be woken again.
//!
//! The article's loop cannot get stuck without the reader seeing it: every generator is in
//! `tasks` or `fds`, and a `select()` with nothing to wait for returns at once. nbio's loop
//! sleeps in the kernel, so a program whose tasks wait on each other (or on nothing at all)
//! would hang silently. This layer is what decides it will not:
//!
//! - `wait_word.rs`: [`WaitOn`], what a future said it waits on at its last `Pending`, in one
//!   word of its task;
//! - `graph.rs`: the edges between waiting tasks (a `JoinHandle` names its task, a `Mutex` its
//!   holder) and the cycles they make;
//! - `verdict.rs`: the one check both flavours make before they block: a proven deadlock, a
//!   likely one (a cycle), or "wait".
//!
//! It works on plain inputs (words, task ids, counts, booleans) that the executor hands it, and
//! it decides; `observe` draws and prints what it decided and never decides anything itself.

mod graph;
mod verdict;
mod wait_word;

pub(crate) use graph::doomed;
pub(crate) use verdict::{verdict, Quiet, Reported, TaskView, Verdict};
pub use wait_word::WaitOn;
pub(crate) use wait_word::{is_lock_wait, kind_of, read};
