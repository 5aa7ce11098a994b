//! What the task layer asks of whoever runs its tasks: where a woken task goes, and which
//! runtime it belongs to. The executor implements it (each flavour, and the blocking pool); the
//! task layer knows nothing more about the executor than this.

use super::raw::TaskRef;
use super::{RuntimeNo, TaskId};

/// Where a woken task goes. The executor implements it; the task layer knows nothing more
/// about the executor than this.
pub(crate) trait Schedule: Send + Sync + 'static {
    /// Puts a task that was just made runnable into a run queue, handing over the reference.
    fn schedule(&self, task: TaskRef);

    /// The `JoinHandle` of `task` is being awaited by `awaiter` (`None`: by code that is not an
    /// nbio task, such as the future passed to `block_on`), with a waker it did not hold
    /// before. Only for the record: the blocking pool keeps it for its dumps and trace.
    fn joined(&self, _task: TaskId, _awaiter: Option<TaskId>) {}

    /// Which runtime the task is of: whose numbering its id is in (see `RuntimeNo`).
    fn runtime(&self) -> RuntimeNo {
        RuntimeNo::UNKNOWN
    }
}
