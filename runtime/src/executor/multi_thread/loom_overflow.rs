//! Model checks of the run queue's batch moves (`queue.rs`), over every interleaving loom
//! explores. Under loom a queue holds four tasks, so that a model can fill one.
//!
//! ```text
//! RUSTFLAGS="--cfg nbio_loom" cargo test -p nbio --lib --release loom_overflow
//! ```
//!
//! Each model fails when the guard it is about is removed: the CAS with which a full queue
//! claims its older half (without it the overflow and a thief take the same tasks), and the
//! order of a batch's publication (a `tail` stored before the slots lets a thief take a slot
//! that holds no task yet).

use std::collections::HashSet;

use loom::sync::Arc;
use loom::thread;

use super::loom_tests::{task, Requeued};
use super::queue::{Queue, CAPACITY};
use crate::task::raw::TaskRef;

/// The addresses of `tasks`, to compare what was taken with what was pushed.
fn addresses<'a>(tasks: impl IntoIterator<Item = &'a TaskRef>) -> Vec<usize> {
    tasks
        .into_iter()
        .map(|task| task.as_ptr().as_ptr() as usize)
        .collect()
}

/// A thief's side: steal half of `queue`, then run down its own queue.
fn thief(queue: &Arc<Queue>) -> thread::JoinHandle<Vec<TaskRef>> {
    let queue = Arc::clone(queue);
    thread::spawn(move || {
        let own = Queue::new();
        queue.steal_half(&own);
        let mut taken = Vec::new();
        while let Some(task) = own.pop() {
            taken.push(task);
        }
        taken
    })
}

/// Asserts that `taken` is `pushed`, each task once.
fn each_once(taken: &[TaskRef], pushed: &[usize]) {
    let seen = addresses(taken);
    assert_eq!(seen.len(), pushed.len(), "each task taken once: {seen:?}");
    let seen: HashSet<usize> = seen.into_iter().collect();
    assert_eq!(seen, pushed.iter().copied().collect::<HashSet<_>>());
}

#[test]
fn loom_overflow_a_full_queue_racing_a_thief_hands_out_each_task_once() {
    loom::model(|| {
        let scheduler = Requeued::default();
        let queue = Arc::new(Queue::new());
        let (tasks, listed): (Vec<_>, Vec<_>) =
            (0..=CAPACITY as u64).map(|id| task(&scheduler, id)).unzip();
        let pushed = addresses(&tasks);
        let mut tasks = tasks.into_iter();
        for task in tasks.by_ref().take(CAPACITY) {
            assert!(queue.push(task).is_none());
        }
        let thief = thief(&queue);
        // The owner pushes into its full queue: half of it moves out, unless the thief made
        // room first.
        let mut taken = queue.push(tasks.next().unwrap()).unwrap_or_default();
        while let Some(task) = queue.pop() {
            taken.push(task);
        }
        taken.extend(thief.join().unwrap());
        each_once(&taken, &pushed);
        drop((taken, listed));
    });
}

#[test]
fn loom_overflow_a_batch_is_published_whole_to_a_thief() {
    loom::model(|| {
        let scheduler = Requeued::default();
        let queue = Arc::new(Queue::new());
        let (tasks, listed): (Vec<_>, Vec<_>) = (0..2).map(|id| task(&scheduler, id)).unzip();
        let pushed = addresses(&tasks);
        let thief = thief(&queue);
        // The owner queues a batch (as from the injection queue) while the thief looks.
        assert_eq!(queue.push_batch(&mut tasks.into_iter()), 2);
        let mut taken = Vec::new();
        while let Some(task) = queue.pop() {
            taken.push(task);
        }
        taken.extend(thief.join().unwrap());
        each_once(&taken, &pushed);
        drop((taken, listed));
    });
}
