//! Whether the idle tasks can still be woken: the last question of both flavours' deadlock
//! checks, asked once no timer is pending, no socket is awaited and no task is queued.
//!
//! An idle task whose waker nobody holds can never run. If that is true of every task and of
//! the `block_on` future, nothing can ever happen again: that is a proof, and `block_on`
//! panics with a report ([`Verdict::Deadlock`]).
//!
//! A held waker might be used by whoever holds it, so it usually means "wait". But in a cycle
//! of tasks waiting on each other (task 3 waits on a `Mutex` task 5 holds; task 5 waits on the
//! `JoinHandle` of task 3), each waker is held by exactly the thing the other task will never
//! release. The wait graph (`observe/waits.rs`) names those cycles, and when the only wakers
//! held are one per task on (or waiting into) a cycle, and the `block_on` future's, if held,
//! is held by one waiting into it, the tasks are very likely stuck: [`Verdict::Cycle`]. The
//! report is printed once, and again only after some task has been polled since.
//!
//! Very likely, not certainly, and so that verdict is a report on stderr, not a panic: the
//! loop goes on waiting. The graph cannot see everything that might still break a cycle. A
//! `MutexGuard` is `Send`: the task that locked the mutex may have sent its guard to a plain
//! thread that will drop it. A mutex names the holder its waiter saw when it queued, and the
//! lock may since have been handed on to a task of another runtime (or a thread). A plain
//! thread may hold a task's `JoinHandle` and abort it. Those leave the counts the same. What the check can rule out, it does: it follows a wait only if
//! it names a task of the same runtime (ids are numbered per runtime) and registered the
//! waiting task's own waker (a combinator's waker says nothing of who holds the task's), a
//! wait dropped in the poll that made it is forgotten (`task/waiting.rs`), and a blocking job
//! still queued or running means "wait" (it may hold a guard): the loop is then told when a
//! job is over, to look again (`BlockingPool::watch_job_end`).

use std::cell::Cell;
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

/// What the check concludes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Something may still wake the future or a task: sleep until it does.
    Wait,
    /// No waker is held anywhere: nothing can ever happen again.
    Deadlock,
    /// The only wakers held are held by tasks waiting on each other in a cycle, as far as the
    /// wait graph sees, and the `block_on` future's by the cycle or by nobody: report it, and
    /// go on waiting.
    Cycle,
}

/// Whether a cycle report is news: once printed, it is printed again only after some progress
/// (a task was polled, so the tasks may have got out of one cycle and into another).
#[derive(Default)]
pub(crate) struct Reported(Cell<Option<u64>>);

impl Reported {
    /// True if the report should be printed, `progress` being the count of polls so far.
    pub(crate) fn first_since(&self, progress: u64) -> bool {
        self.0.replace(Some(progress)) != Some(progress)
    }
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

    /// What can still happen to the tasks looked at and the `block_on` future. `main` is
    /// `None` if nobody holds the future's waker, or `Some(on)` if exactly one clone of it is
    /// held, `on` being the task its last wait named (a `JoinHandle` it awaits, say); with more
    /// clones held, the caller's answer is `Wait`. A `Cycle` while a blocking job is busy is
    /// the caller's to turn into `Wait` (`BlockingPool::watch_job_end`).
    pub(crate) fn verdict(self, main: Option<Option<TaskId>>) -> Verdict {
        if self.can_run {
            return Verdict::Wait;
        }
        if self.held.is_empty() && main.is_none() {
            return Verdict::Deadlock;
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
        if tasks_stuck && main_stuck {
            Verdict::Cycle
        } else {
            Verdict::Wait
        }
    }
}

/// The panic message of `Verdict::Deadlock`, before the dump; `where_` says where the check
/// looked ("every worker is idle; ", or nothing).
pub(crate) fn deadlock_message(where_: &str) -> String {
    format!(
        "nbio: deadlock: the future passed to block_on is waiting, and nothing can ever wake \
         it: {where_}no task is ready, no timer is pending, no socket is awaited, and no waker \
         is held outside the runtime."
    )
}

/// The report of `Verdict::Cycle`, printed once to stderr while `block_on` goes on waiting.
pub(crate) fn cycle_report(dump: &Dump) -> String {
    format!(
        "nbio: deadlock? the future passed to block_on is waiting, no timer is pending, no \
         socket is awaited, no blocking job is running, and the tasks wait on each other in a \
         cycle: {}. Nothing nbio can see will wake them; block_on keeps waiting, in case \
         something it cannot see does (a MutexGuard sent to another thread, a lock handed on \
         to a task of another runtime, a JoinHandle held by another thread).\n{dump}",
        dump.cycles().join("; and in another: ")
    )
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
        assert!(s.verdict(Some(Some(TaskId(3)))) == Verdict::Cycle);
    }

    #[test]
    fn a_second_clone_of_a_waker_may_still_wake_its_task() {
        let s = stuck(&[(3, Some(5)), (5, Some(3))], &[(3, 2), (5, 1)]);
        assert_eq!(s.verdict(None), Verdict::Wait);
    }

    #[test]
    fn a_held_waker_of_a_task_off_any_cycle_may_still_wake_it() {
        let s = stuck(
            &[(3, Some(5)), (5, Some(3)), (7, None)],
            &[(3, 1), (5, 1), (7, 1)],
        );
        assert_eq!(s.verdict(None), Verdict::Wait);
    }

    #[test]
    fn block_on_awaiting_a_task_off_the_cycle_may_still_be_woken() {
        let s = stuck(&[(3, Some(5)), (5, Some(3)), (7, None)], &[(3, 1), (5, 1)]);
        assert_eq!(s.verdict(Some(Some(TaskId(7)))), Verdict::Wait);
        let s = stuck(&[(3, Some(5)), (5, Some(3))], &[(3, 1), (5, 1)]);
        assert_eq!(s.verdict(Some(None)), Verdict::Wait);
    }

    #[test]
    fn no_waker_held_anywhere_is_a_deadlock() {
        let s = stuck(&[(3, Some(5)), (5, Some(3))], &[]);
        assert_eq!(s.verdict(None), Verdict::Deadlock);
    }

    #[test]
    fn a_cycle_report_is_news_again_only_after_progress() {
        let reported = Reported::default();
        assert!(reported.first_since(7));
        assert!(!reported.first_since(7));
        assert!(reported.first_since(9));
    }
}
