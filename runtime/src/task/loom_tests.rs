//! Model checks of the task state machine (`state.rs`, driven through the real task layer),
//! over every interleaving loom explores (it swaps the atomics behind `crate::loom` for its own
//! and runs each test body once per schedule of the threads).
//!
//! ```text
//! RUSTFLAGS="--cfg nbio_loom" cargo test -p nbio --lib --release loom
//! ```
//!
//! A small executor stands in for the scheduler: a locked queue that the `Schedule`
//! implementation pushes to (and that fails the model if a task is ever queued twice), and a
//! loop that pops and runs. The task layer under test is the real one.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::{Arc, Mutex};
use loom::thread;

use super::raw::{self, RunOutcome, Schedule, TaskMeta, TaskRef};
use super::{JoinHandle, TaskId};

/// The run queue of the model.
#[derive(Clone)]
struct Queue(Arc<Mutex<VecDeque<TaskRef>>>);

impl Queue {
    fn new() -> Queue {
        Queue(Arc::new(Mutex::new(VecDeque::new())))
    }

    fn push(&self, task: TaskRef) {
        let mut queue = self.0.lock().unwrap();
        assert!(
            queue.iter().all(|queued| queued.as_ptr() != task.as_ptr()),
            "a task was queued twice"
        );
        queue.push_back(task);
    }

    /// Runs queued tasks until the queue is empty; drops the registry's reference of a task
    /// that finishes, as the scheduler does.
    fn run_until_idle(&self, registered: &mut Option<TaskRef>) {
        loop {
            let next = self.0.lock().unwrap().pop_front();
            let Some(task) = next else {
                return;
            };
            match task.run() {
                RunOutcome::Idle => {}
                RunOutcome::Requeue(task) => self.push(task),
                RunOutcome::Finished(_) => drop(registered.take()),
            }
        }
    }
}

impl Schedule for Queue {
    fn schedule(&self, task: TaskRef) {
        self.push(task);
    }
}

/// Spawns `future` into `queue` the way the scheduler does: queued, registered, with a handle.
fn spawn<F: Future + 'static>(
    queue: &Queue,
    future: F,
) -> (Option<TaskRef>, JoinHandle<F::Output>) {
    let task = raw::allocate(future, queue.clone(), TaskMeta::new(TaskId(1), 0));
    queue.push(task.queued);
    (Some(task.registered), JoinHandle::new(task.handle))
}

/// A one-shot signal between threads, with the usual waker protocol: store the waker, then
/// look again.
#[derive(Default)]
struct Signal {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    fn fire(&self) {
        self.set.store(true, SeqCst);
        if let Some(waker) = self.waker.lock().unwrap().take() {
            waker.wake();
        }
    }
}

struct WaitFor(Arc<Signal>);

impl Future for WaitFor {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.set.load(SeqCst) {
            return Poll::Ready(());
        }
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.0.set.load(SeqCst) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// A waker that unblocks a thread waiting on it (std's `Arc`, as `Wake` requires; the
/// notification is loom's, so the model sees the blocking).
struct Unblock(loom::sync::Notify);

impl Wake for Unblock {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.notify();
    }
}

#[test]
fn loom_a_wake_from_another_thread_is_never_lost() {
    loom::model(|| {
        let queue = Queue::new();
        let signal = Arc::new(Signal::default());
        let (mut registered, handle) = spawn(&queue, WaitFor(Arc::clone(&signal)));
        let firer = thread::spawn(move || signal.fire());
        queue.run_until_idle(&mut registered);
        firer.join().unwrap();
        queue.run_until_idle(&mut registered);
        assert!(
            handle.is_finished(),
            "the wake from the other thread was lost"
        );
    });
}

#[test]
fn loom_two_threads_waking_one_task_queue_it_at_most_once() {
    loom::model(|| {
        let queue = Queue::new();
        let signal = Arc::new(Signal::default());
        let (mut registered, handle) = spawn(&queue, WaitFor(Arc::clone(&signal)));
        queue.run_until_idle(&mut registered); // parks on the signal, its waker filed
        let waker = signal.waker.lock().unwrap().clone().expect("waker filed");
        let other = thread::spawn({
            let waker = waker.clone();
            move || waker.wake_by_ref()
        });
        waker.wake_by_ref(); // Queue::push fails the model on a second entry
        other.join().unwrap();
        signal.set.store(true, SeqCst);
        waker.wake();
        queue.run_until_idle(&mut registered);
        assert!(handle.is_finished());
    });
}

#[test]
fn loom_a_join_handle_awaited_on_another_thread_gets_the_output_once() {
    loom::model(|| {
        let queue = Queue::new();
        let (mut registered, mut handle) = spawn(&queue, async { 7 });
        let awaiter = thread::spawn(move || {
            let woken = std::sync::Arc::new(Unblock(loom::sync::Notify::new()));
            let waker = Waker::from(std::sync::Arc::clone(&woken));
            let mut cx = Context::from_waker(&waker);
            loop {
                if let Poll::Ready(output) = Pin::new(&mut handle).poll(&mut cx) {
                    return output.unwrap();
                }
                // Blocks until the waker fires: a lost join wakeup deadlocks the model.
                woken.0.wait();
            }
        });
        queue.run_until_idle(&mut registered);
        assert_eq!(awaiter.join().unwrap(), 7);
    });
}

#[test]
fn loom_an_abort_from_another_thread_drops_the_future_exactly_once() {
    struct CountsDrops(Arc<AtomicUsize>);
    impl Future for CountsDrops {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Pending
        }
    }
    impl Drop for CountsDrops {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    loom::model(|| {
        let queue = Queue::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let (mut registered, handle) = spawn(&queue, CountsDrops(Arc::clone(&drops)));
        let handle = Arc::new(handle);
        let aborter = thread::spawn({
            let handle = Arc::clone(&handle);
            move || handle.abort()
        });
        queue.run_until_idle(&mut registered);
        aborter.join().unwrap();
        queue.run_until_idle(&mut registered);
        assert_eq!(
            drops.load(SeqCst),
            1,
            "the future must be dropped once, by the abort"
        );
        assert!(handle.is_finished());
    });
}
