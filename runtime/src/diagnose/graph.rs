//! The wait graph: the tasks whose waits name each other, and the cycles they make.
//!
//! Each idle task's wait word (`wait_word.rs`) names at most one task: the one whose
//! `JoinHandle` it awaits, or the holder of the `Mutex` it waits on. Those are the graph's
//! edges, one per task at most (a functional graph). A chain of idle tasks that comes back on
//! itself is a cycle that nothing inside it can break, and every task on or into it is marked.
//! Whether anything *outside* could still break it (a timer, a socket, a waker held by another
//! thread) is the verdict's business (`verdict.rs`), not this file's.

use std::collections::HashMap;

use crate::task::TaskId;

/// The tasks of a dump whose wait can never be signalled by anything in the graph: each is on
/// a cycle of tasks waiting on each other, or waits on a task that is. For each, the cycle it
/// ends in (in the order the edges go, starting on the cycle).
///
/// `edges` gives, for each idle task, the task its wait names (a functional graph: one edge
/// at most per task).
pub(crate) fn doomed(edges: &[(TaskId, Option<TaskId>)]) -> Vec<(TaskId, Vec<TaskId>)> {
    // One walk per task at most: each task is settled once (its cycle known, or none), and a
    // walk stops at the first settled task. Linear in the number of tasks, for dumps of many.
    let index: HashMap<TaskId, usize> = edges
        .iter()
        .enumerate()
        .map(|(at, (id, _))| (*id, at))
        .collect();
    let next = |at: usize| edges[at].1.and_then(|on| index.get(&on).copied());
    // Per task: `None` unsettled, `Some(None)` no cycle, `Some(Some(c))` ends in cycle `c`.
    let mut settled: Vec<Option<Option<usize>>> = vec![None; edges.len()];
    let mut cycles: Vec<Vec<TaskId>> = Vec::new();
    for start in 0..edges.len() {
        let mut path: Vec<usize> = Vec::new();
        let mut at = Some(start);
        let outcome = loop {
            let Some(here) = at else { break None };
            if let Some(known) = settled[here] {
                break known;
            }
            if let Some(position) = path.iter().position(|&seen| seen == here) {
                cycles.push(path[position..].iter().map(|&at| edges[at].0).collect());
                break Some(cycles.len() - 1);
            }
            path.push(here);
            at = next(here);
        };
        for at in path {
            settled[at] = Some(outcome);
        }
    }
    let mut doomed = Vec::new();
    for (at, (id, _)) in edges.iter().enumerate() {
        if let Some(Some(cycle)) = settled[at] {
            // Each member sees the cycle starting from itself; those waiting into it see it
            // from where they enter.
            let cycle = &cycles[cycle];
            let from = cycle.iter().position(|member| member == id).unwrap_or(0);
            let mut rotated = cycle[from..].to_vec();
            rotated.extend_from_slice(&cycle[..from]);
            doomed.push((*id, rotated));
        }
    }
    doomed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_dooms_its_members_and_those_waiting_on_them_only() {
        let t = TaskId;
        let edges = [
            (t(1), Some(t(2))),
            (t(2), Some(t(3))),
            (t(3), Some(t(2))),
            (t(4), None),
            (t(5), Some(t(4))),
        ];
        let doomed = doomed(&edges);
        let ids: Vec<_> = doomed.iter().map(|(id, _)| id.0).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(doomed[0].1, [t(2), t(3)]);
        assert_eq!(doomed[1].1, [t(2), t(3)]);
        assert_eq!(doomed[2].1, [t(3), t(2)]);
    }
}
