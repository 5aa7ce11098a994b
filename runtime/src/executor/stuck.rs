//! Whether the idle tasks can still be woken: the last question of both flavours' deadlock
//! checks, asked once no timer is pending, no socket is awaited and no task is queued.
//!
//! An idle task whose waker nobody holds can never run. One whose waker is held somewhere
//! might be woken by whoever holds it, and the check used to stop there: a held waker meant
//! "wait". But in a cycle of tasks waiting on each other (task 3 waits on a `Mutex` task 5
//! holds; task 5 waits on the `JoinHandle` of task 3), each waker is held by exactly the thing
//! the other task will never release. The wait graph (`observe/waits.rs`) names those cycles.
//! A task on one, or waiting into one, whose only outside reference is that one waker, is
//! stuck; the check may count it as such. Anything more (a second clone of its waker, held by
//! another thread, say) and it errs on the side of waiting, as before.
//!
//! The edges it follows are fewer than the dump's (`observe::wait_edge`): only a wait on a task
//! of the same runtime (ids are numbered per runtime), which registered the waiting task's own
//! waker. A wait that registered a combinator's waker says nothing of who holds the task's:
//! the combinator does, and any of its futures may wake it.

use std::collections::HashSet;

use crate::observe::{doomed_waits, wait_edge, Dump};
use crate::task::raw::Header;
use crate::task::TaskId;

/// What one look over the live tasks found.
#[derive(Default)]
pub(crate) struct Stuck {
    /// A task is queued or running.
    can_run: bool,
    /// Every idle task, and the task its wait names (the graph's edges).
    edges: Vec<(TaskId, Option<TaskId>)>,
    /// The idle tasks whose wakers are held somewhere, and by how many.
    held: Vec<(TaskId, usize)>,
}

impl Stuck {
    /// Looks at one live task.
    pub(crate) fn look(&mut self, task: &Header) {
        let state = task.state.load();
        if state.is_scheduled() || state.is_running() {
            self.can_run = true;
            return;
        }
        let id = task.id();
        self.edges.push((id, wait_edge(&task.waits)));
        let refs = state.outside_refs();
        if refs > 0 {
            self.held.push((id, refs));
        }
    }

    /// True if nothing can wake any of the tasks looked at, nor the `block_on` future. `main`
    /// is `None` if nobody holds the future's waker, or `Some(on)` if exactly one clone of it
    /// is held, `on` being the task its last wait named (a `JoinHandle` it awaits, say). Call
    /// it only with more than one clone held as "something can happen".
    pub(crate) fn nothing_can_run(self, main: Option<Option<TaskId>>) -> bool {
        if self.can_run {
            return false;
        }
        if self.held.is_empty() && main.is_none() {
            return true;
        }
        let doomed: HashSet<TaskId> = doomed_waits(&self.edges)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let tasks_stuck = self
            .held
            .iter()
            .all(|(id, refs)| *refs == 1 && doomed.contains(id));
        let main_stuck = match main {
            None => true,
            Some(on) => on.is_some_and(|on| doomed.contains(&on)),
        };
        tasks_stuck && main_stuck
    }
}

/// Why the deadlock check found that nothing can happen, for its report: the cycles of tasks
/// waiting on each other, if that is what holds the last wakers.
pub(crate) fn why(dump: &Dump) -> String {
    let cycles = dump.cycles();
    let quiet = "no timer is pending, no socket is awaited";
    if cycles.is_empty() {
        format!("no task is ready, {quiet}, and no waker is held outside the runtime")
    } else {
        format!(
            "{quiet}, and the tasks wait on each other in a cycle: {}",
            cycles.join("; and in another: ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuck(edges: &[(u64, Option<u64>)], held: &[(u64, usize)]) -> Stuck {
        Stuck {
            can_run: false,
            edges: edges
                .iter()
                .map(|&(id, on)| (TaskId(id), on.map(TaskId)))
                .collect(),
            held: held.iter().map(|&(id, n)| (TaskId(id), n)).collect(),
        }
    }

    #[test]
    fn two_tasks_waiting_on_each_other_with_one_waker_each_are_stuck() {
        let s = stuck(&[(3, Some(5)), (5, Some(3))], &[(3, 1), (5, 1)]);
        assert!(s.nothing_can_run(Some(Some(TaskId(3)))));
    }

    #[test]
    fn a_second_clone_of_a_waker_may_still_wake_its_task() {
        let s = stuck(&[(3, Some(5)), (5, Some(3))], &[(3, 2), (5, 1)]);
        assert!(!s.nothing_can_run(None));
    }

    #[test]
    fn a_held_waker_of_a_task_off_any_cycle_may_still_wake_it() {
        let s = stuck(
            &[(3, Some(5)), (5, Some(3)), (7, None)],
            &[(3, 1), (5, 1), (7, 1)],
        );
        assert!(!s.nothing_can_run(None));
    }

    #[test]
    fn block_on_awaiting_a_task_off_the_cycle_may_still_be_woken() {
        let s = stuck(&[(3, Some(5)), (5, Some(3)), (7, None)], &[(3, 1), (5, 1)]);
        assert!(!s.nothing_can_run(Some(Some(TaskId(7)))));
        let s = stuck(&[(3, Some(5)), (5, Some(3))], &[(3, 1), (5, 1)]);
        assert!(!s.nothing_can_run(Some(None)));
    }
}
