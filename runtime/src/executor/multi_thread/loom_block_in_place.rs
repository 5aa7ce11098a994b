//! Model check of `block_in_place`'s hand-off (`Worker::hand_off`): a worker about to block
//! moves its queued tasks to the injection queue and announces them, while another worker goes
//! to sleep. Over every interleaving loom explores, the sleeper takes the task (from the queue
//! by stealing, from the injection queue in its last look, or after the announcement woke it);
//! it never sleeps with the task handed off and nobody woken. Without the announcement after the
//! push, loom finds the interleaving where the sleeper's last look comes between the drain and
//! the push, and reports the deadlock.
//!
//! The injection queue is a loom mutex around a `Vec` here (`Inject` takes std's lock, which
//! loom cannot interleave); the queue, the sleep handshake and the parker are the runtime's own.

use loom::sync::{Arc, Mutex};
use loom::thread;

use super::idle::{Idle, Parker};
use super::loom_tests::{task, Requeued};
use super::queue::Queue;
use crate::task::raw::TaskRef;

/// Takes one task from the stand-in injection queue.
fn take(inject: &Mutex<Vec<TaskRef>>) -> Option<TaskRef> {
    inject.lock().unwrap().pop()
}

#[test]
fn loom_a_queue_handed_off_before_blocking_is_taken_by_a_worker_going_to_sleep() {
    loom::model(|| {
        let scheduler = Requeued::default();
        let queue = Arc::new(Queue::new()); // the blocking worker's (0)
        let inject: Arc<Mutex<Vec<TaskRef>>> = Arc::new(Mutex::new(Vec::new()));
        let idle = Arc::new(Idle::new(2));
        let parker = Arc::new(Parker::new()); // the other worker's (1)
        let (queued, listed) = task(&scheduler, 1);
        assert!(queue.push(queued).is_none());
        let sleeper = thread::spawn({
            let (queue, inject, idle, parker) = (
                Arc::clone(&queue),
                Arc::clone(&inject),
                Arc::clone(&idle),
                Arc::clone(&parker),
            );
            move || {
                let own = Queue::new();
                // Worker 1 found nothing: it registers, then looks once more (`park`).
                idle.sleep(1);
                let mut found = take(&inject);
                if found.is_none() && queue.steal_half(&own) > 0 {
                    found = own.pop();
                }
                if found.is_none() {
                    parker.park(); // a missed announcement deadlocks here
                    idle.unsleep(1);
                    found = take(&inject);
                } else {
                    idle.unsleep(1);
                }
                found.expect("woken or looking, the worker found the handed-off task")
            }
        });
        // Worker 0, in `block_in_place`: hand the queue off, then announce it.
        let mut moved = Vec::new();
        while let Some(task) = queue.pop() {
            moved.push(task);
        }
        if !moved.is_empty() {
            inject.lock().unwrap().extend(moved);
            if idle.worker_to_wake().is_some() {
                parker.unpark();
            }
        }
        let taken = sleeper.join().unwrap();
        drop(taken);
        drop(listed);
    });
}
