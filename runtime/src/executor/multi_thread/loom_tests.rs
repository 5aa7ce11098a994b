//! Model checks of the multi-thread runtime's cross-thread protocols, over every interleaving
//! loom explores: the stealable queue, the sleep handshake, the parker, and a wake racing a
//! steal.
//!
//! ```text
//! RUSTFLAGS="--cfg nbio_loom" cargo test -p nbio --lib --release loom
//! ```
//!
//! Each model fails when the guard it is about is removed: the CAS that claims queue slots
//! (a task would be taken twice), the `SeqCst` fences of the sleep handshake (a sleeper would
//! miss the work announced as it went to sleep, and sleep forever: loom reports the deadlock),
//! the parker's `NOTIFIED` flag (an unpark before the park would be lost), and the unpark's
//! pass through the parker's lock before it notifies (without it, a notification between the
//! parker's last look at `NOTIFIED` and its wait is lost: `an_unpark_before_the_park` hangs).

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::task::{Context, Poll};

use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::{Arc, Mutex};
use loom::thread;

use super::idle::{Idle, Parker};
use super::queue::Queue;
use crate::task::raw::{self, Header, RunOutcome, Schedule, TaskMeta, TaskRef};
use crate::task::TaskId;

/// A scheduler for the model's tasks: a locked list that fails the model if a task is queued
/// while it is already there.
#[derive(Clone, Default)]
pub(super) struct Requeued(Arc<Mutex<Vec<TaskRef>>>);

impl Schedule for Requeued {
    fn schedule(&self, task: TaskRef) {
        let mut queued = self.0.lock().unwrap();
        assert!(
            queued.iter().all(|t| t.as_ptr() != task.as_ptr()),
            "a task was queued twice"
        );
        queued.push(task);
    }
}

/// A task whose future completes at its second poll.
struct TwoPolls(bool);

impl Future for TwoPolls {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A new task (as the runtime makes them), its queue reference and its list reference.
pub(super) fn task(scheduler: &Requeued, id: u64) -> (TaskRef, TaskRef) {
    let task = raw::allocate(
        TwoPolls(false),
        scheduler.clone(),
        TaskMeta::new(TaskId(id), 0),
    );
    drop(crate::task::JoinHandle::<()>::new(task.handle));
    (task.queued, task.registered)
}

fn pointer(task: &TaskRef) -> NonNull<Header> {
    task.as_ptr()
}

#[test]
fn loom_a_queued_task_is_taken_once_whether_its_owner_or_a_thief_wins() {
    loom::model(|| {
        let scheduler = Requeued::default();
        let queue = Arc::new(Queue::new());
        let thief_queue = Arc::new(Queue::new());
        let (a, a_listed) = task(&scheduler, 1);
        let (b, b_listed) = task(&scheduler, 2);
        let pushed: HashSet<usize> = [pointer(&a), pointer(&b)]
            .into_iter()
            .map(|p| p.as_ptr() as usize)
            .collect();
        assert!(queue.push(a).is_none());
        assert!(queue.push(b).is_none());
        let thief = thread::spawn({
            let (queue, thief_queue) = (Arc::clone(&queue), Arc::clone(&thief_queue));
            move || {
                queue.steal_half(&thief_queue);
                let mut taken = Vec::new();
                while let Some(task) = thief_queue.pop() {
                    taken.push(task);
                }
                taken
            }
        });
        let mut taken = Vec::new();
        while let Some(task) = queue.pop() {
            taken.push(task);
        }
        taken.extend(thief.join().unwrap());
        let seen: Vec<usize> = taken.iter().map(|t| pointer(t).as_ptr() as usize).collect();
        assert_eq!(seen.len(), 2, "each task taken exactly once: {seen:?}");
        assert_eq!(seen.into_iter().collect::<HashSet<_>>(), pushed);
        drop((taken, a_listed, b_listed));
    });
}

#[test]
fn loom_a_worker_going_to_sleep_never_misses_work_announced_meanwhile() {
    loom::model(|| {
        let idle = Arc::new(Idle::new(1));
        let parker = Arc::new(Parker::new());
        let work = Arc::new(AtomicBool::new(false));
        let announcer = thread::spawn({
            let (idle, parker, work) = (Arc::clone(&idle), Arc::clone(&parker), Arc::clone(&work));
            move || {
                work.store(true, Relaxed); // the push
                if idle.worker_to_wake().is_some() {
                    parker.unpark();
                }
            }
        });
        // The worker: register, look once more, sleep.
        idle.sleep(0);
        if work.load(Relaxed) {
            idle.unsleep(0);
        } else {
            parker.park(); // a missed announcement deadlocks here
            assert!(work.load(Relaxed));
        }
        announcer.join().unwrap();
    });
}

#[test]
fn loom_an_unpark_before_the_park_is_not_lost() {
    loom::model(|| {
        let parker = Arc::new(Parker::new());
        let waker = thread::spawn({
            let parker = Arc::clone(&parker);
            move || {
                parker.unpark();
            }
        });
        parker.park();
        waker.join().unwrap();
    });
}

#[test]
fn loom_a_wake_racing_a_steal_queues_and_runs_the_task_once() {
    loom::model(|| {
        let scheduler = Requeued::default();
        let queue = Arc::new(Queue::new());
        let thief_queue = Arc::new(Queue::new());
        let (queued, listed) = task(&scheduler, 1);
        // A waker for the task, as a socket would hold one.
        // SAFETY: `listed` keeps the task alive; the clone below owns its own reference.
        unsafe { raw::clone_ref(listed.as_ptr()) };
        let woken = unsafe { TaskRef::from_raw(listed.as_ptr()) };
        let waker_ptr = woken.into_raw();
        assert!(queue.push(queued).is_none());
        let runs = Arc::new(AtomicUsize::new(0));
        let thief = thread::spawn({
            let (queue, thief_queue, runs) = (
                Arc::clone(&queue),
                Arc::clone(&thief_queue),
                Arc::clone(&runs),
            );
            move || {
                queue.steal_half(&thief_queue);
                if let Some(task) = thief_queue.pop() {
                    runs.fetch_add(1, SeqCst);
                    match task.run() {
                        RunOutcome::Requeue(task) => drop(task), // re-queued by the model below
                        RunOutcome::Idle | RunOutcome::Finished(_) => {}
                    }
                }
            }
        });
        // Another thread's wake of the task while it is queued or being stolen.
        // SAFETY: `waker_ptr` owns one reference, consumed by this wake.
        unsafe { raw::wake(waker_ptr, true, 0) };
        thief.join().unwrap();
        assert_eq!(runs.load(SeqCst), 1, "the stolen task ran once");
        // Whatever the wake queued (at most once, or the scheduler failed the model) is
        // dropped with the scheduler; the task's list reference goes last.
        drop(scheduler.0.lock().unwrap().drain(..).collect::<Vec<_>>());
        drop(listed);
    });
}
