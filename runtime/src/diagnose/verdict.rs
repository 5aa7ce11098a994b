//! Whether anything can still wake a loop that is about to sleep: the last question of both
//! flavours before they block, asked once no task is queued.
//!
//! An idle task whose waker nobody holds can never run. If that is true of every task and of
//! the `block_on` future, and no timer is pending and no socket is awaited, nothing can ever
//! happen again: that is a proof, and `block_on` panics with a report ([`Verdict::Deadlock`]).
//!
//! A held waker might be used by whoever holds it, so it usually means "wait". But in a cycle
//! of tasks waiting on each other (task 3 waits on a `Mutex` task 5 holds; task 5 waits on the
//! `JoinHandle` of task 3), each waker is held by exactly the thing the other task will never
//! release. The wait graph (`graph.rs`) names those cycles, and when the only wakers held are
//! one per task on (or waiting into) a cycle, and the `block_on` future's, if held, is held by
//! one waiting into it, the tasks are very likely stuck: [`Verdict::Cycle`]. The report is
//! printed once, and again only after some task has been polled since ([`Reported`]).
//!
//! Very likely, not certainly, and so by default that verdict is a report on stderr, not a
//! panic: the loop goes on waiting. A test would rather fail than wait, and says so with
//! `Builder::on_cycle(OnCycle::Panic)` (`#[nbio::test]` does); what the loop does with the
//! verdict is the executor's (`executor/report.rs`), not this file's. The graph cannot see
//! everything that might still break a cycle. A `MutexGuard` is `Send`: the task that locked
//! the mutex may have sent its guard to a plain thread that will drop it. A mutex names the
//! holder its waiter saw when it queued, and the lock may since have been handed on to a task
//! of another runtime (or a thread). A plain thread may hold a task's `JoinHandle` and abort
//! it. Those leave the counts the same. What the check can rule out, it does: it follows a wait
//! only if it names a task of the same runtime (ids are numbered per runtime) and registered
//! the waiting task's own waker (a combinator's waker says nothing of who holds the task's), a
//! wait dropped in the poll that made it is forgotten (`task/polled.rs`), and a blocking job
//! still queued or running means "wait" (it may hold a guard): the loop is then told when a job
//! is over, to look again.
//!
//! Both flavours ask through one function, [`verdict`], answering its questions on plain
//! values ([`Quiet`]): this layer knows tasks only as [`TaskView`]s, and nothing of queues,
//! workers, reactors or pools.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::fence;
use std::sync::atomic::Ordering::Acquire;

use super::graph::doomed;
use super::wait_word::edge;
use crate::task::TaskId;

/// One live task, as the verdict sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TaskView {
    pub(crate) id: TaskId,
    /// It is queued or being polled.
    pub(crate) can_run: bool,
    /// How many of its wakers are held outside the runtime's own bookkeeping.
    pub(crate) wakers_held: usize,
    /// Its wait word (`wait_word.rs`), as its last `Pending` left it.
    pub(crate) wait: u64,
}

/// What a flavour answers when its loop is about to sleep. Every question is a snapshot; the
/// order [`verdict`] asks them in is what makes the answer safe.
pub(crate) trait Quiet {
    /// A timer is pending, or a socket is awaited: something will happen.
    fn timer_or_socket(&self) -> bool;
    /// How many clones of the `block_on` future's waker are held, beyond the loop's own.
    fn main_wakers_held(&self) -> usize;
    /// The `block_on` future's wait word.
    fn main_wait(&self) -> u64;
    /// Work is queued, or a wake is on its way to a queue: the loop will run again.
    fn work_pending(&self) -> bool;
    /// Calls `look` with every live task of the runtime.
    fn each_task(&self, look: &mut dyn FnMut(TaskView));
    /// A blocking job is queued or running (it may hold what breaks a cycle).
    fn jobs_busy(&self) -> bool;
    /// A cycle was found while a job is busy: make the loop look again when it is over.
    fn look_again_after_job(&self);
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

/// Whether anything can still wake the loop that asks: see the module docs. It errs on the
/// side of waiting.
pub(crate) fn verdict(quiet: &impl Quiet) -> Verdict {
    if quiet.timer_or_socket() {
        return Verdict::Wait;
    }
    // The count is read relaxed; the fence makes a waker dropped after its wake (a release)
    // also publish that wake's mark to the `work_pending` checks below.
    let main_wakers = quiet.main_wakers_held();
    fence(Acquire);
    let main = match main_wakers {
        0 => None,
        // One clone held: by whatever the future last waited on, which may be a cycle.
        1 => Some(edge(quiet.main_wait())),
        _ => return Verdict::Wait,
    };
    if quiet.work_pending() {
        return Verdict::Wait;
    }
    let mut stuck = Stuck::default();
    quiet.each_task(&mut |task| stuck.look(task));
    // A job lowers its count after it woke its awaiter: read first, the mark is seen below.
    let jobs_busy = quiet.jobs_busy();
    // A wake that completed while we looked has left its mark.
    if quiet.work_pending() {
        return Verdict::Wait;
    }
    match stuck.verdict(main) {
        // A job may still break the cycle: look again when it is over.
        Verdict::Cycle if jobs_busy => {
            quiet.look_again_after_job();
            Verdict::Wait
        }
        verdict => verdict,
    }
}

/// What one look over the live tasks found.
#[derive(Default)]
struct Stuck {
    /// A task is queued or running.
    can_run: bool,
    /// Every idle task, and the task its wait names (the graph's edges).
    edges: Vec<(TaskId, Option<TaskId>)>,
    /// The idle tasks whose wakers are held somewhere, and by how many.
    held: Vec<(TaskId, usize)>,
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
    fn look(&mut self, task: TaskView) {
        if task.can_run {
            self.can_run = true;
            return;
        }
        self.edges.push((task.id, edge(task.wait)));
        if task.wakers_held > 0 {
            self.held.push((task.id, task.wakers_held));
        }
    }

    /// What can still happen to the tasks looked at and the `block_on` future. `main` is
    /// `None` if nobody holds the future's waker, or `Some(on)` if exactly one clone of it is
    /// held, `on` being the task its last wait named (a `JoinHandle` it awaits, say).
    fn verdict(self, main: Option<Option<TaskId>>) -> Verdict {
        if self.can_run {
            return Verdict::Wait;
        }
        if self.held.is_empty() && main.is_none() {
            return Verdict::Deadlock;
        }
        let doomed: HashSet<TaskId> = doomed(&self.edges).into_iter().map(|(id, _)| id).collect();
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
