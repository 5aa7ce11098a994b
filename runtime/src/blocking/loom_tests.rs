//! Model checks of the pool's queue (`queue.rs`): the handshake between submitting a job and
//! the idle threads that wait for one, or leave when their keep-alive runs out.
//!
//! ```text
//! RUSTFLAGS="--cfg nbio_loom" cargo test -p nbio --lib --release loom
//! ```
//!
//! A job the model loses leaves the thread that waits for it blocked forever, which loom
//! reports as a deadlock: so each model fails if the guard it names goes.

use std::sync::atomic::Ordering::SeqCst;

use loom::sync::atomic::AtomicBool;
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread::{self, JoinHandle};

use super::queue::{Pushed, Queue};

/// Explores every interleaving with at most three preemptions: these models have four threads
/// and two condition variables, and an unbounded search does not finish.
fn model(body: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(body);
}

/// A job of the model: any closure.
type Job = Box<dyn FnOnce() + Send>;

/// A pool thread of the model: `Queue::next` with the model's stand-in for the keep-alive.
fn start_worker(queue: &Arc<Queue<Job>>, expired: &Arc<AtomicBool>) -> JoinHandle<()> {
    let (queue, expired) = (Arc::clone(queue), Arc::clone(expired));
    thread::spawn(move || {
        while let Some(job) = queue.next_with(|state| queue.model_wait(state, &expired)) {
            job();
        }
    })
}

/// Submits `job` as `BlockingPool::spawn` does, starting a thread when told to.
fn submit(
    queue: &Arc<Queue<Job>>,
    expired: &Arc<AtomicBool>,
    max_threads: usize,
    job: Job,
    workers: &mut Vec<JoinHandle<()>>,
) {
    match queue.push(job, max_threads) {
        Pushed::StartThread => workers.push(start_worker(queue, expired)),
        Pushed::Notified | Pushed::Queued => {}
        Pushed::Refused(_) => panic!("the model's pool is not shut down"),
    }
}

/// A flag a job raises, and a way to wait for it.
#[derive(Clone)]
struct Signal(Arc<(Mutex<bool>, Condvar)>);

impl Signal {
    fn new() -> Signal {
        Signal(Arc::new((Mutex::new(false), Condvar::new())))
    }

    fn raise(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    fn wait(&self) {
        let mut raised = self.0 .0.lock().unwrap();
        while !*raised {
            raised = self.0 .1.wait(raised).unwrap();
        }
    }
}

/// Guard: a thread whose keep-alive ran out looks at the queue once more before it leaves
/// (`next_with` pops before it checks `timed_out`). Without it, a job submitted as the
/// keep-alive ends is promised to a thread that then walks away, and no thread is left to run
/// it.
#[test]
fn loom_a_job_submitted_as_the_keep_alive_runs_out_is_still_run() {
    model(|| {
        let queue: Arc<Queue<Job>> = Arc::new(Queue::new());
        let expired = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        // The first job starts the pool's only thread, which then goes idle.
        submit(&queue, &expired, 1, Box::new(|| {}), &mut workers);
        let timer = thread::spawn({
            let (queue, expired) = (Arc::clone(&queue), Arc::clone(&expired));
            move || queue.model_expire(&expired)
        });
        let ran = Signal::new();
        let job = {
            let ran = ran.clone();
            Box::new(move || ran.raise())
        };
        submit(&queue, &expired, 1, job, &mut workers);
        ran.wait(); // a lost job blocks here forever: loom calls it a deadlock
        timer.join().unwrap();
        drop(queue.shut_down());
        for worker in workers {
            worker.join().unwrap();
        }
        assert!(!expired.load(SeqCst) || queue.counts().threads == 0);
    });
}

/// Guard: `notified` counts the idle threads already promised to a job. Without it, two
/// submits in a row both hand their job to the one idle thread, and two jobs that need each
/// other (as 64 sleeping jobs need 64 threads) wait forever on one thread.
#[test]
fn loom_two_jobs_submitted_at_once_get_a_thread_each() {
    model(|| {
        let queue: Arc<Queue<Job>> = Arc::new(Queue::new());
        let never = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        let first_done = Signal::new();
        let job = {
            let first_done = first_done.clone();
            Box::new(move || first_done.raise())
        };
        submit(&queue, &never, 2, job, &mut workers);
        first_done.wait();
        // Two jobs that each wait for the other to have started.
        let (a_started, b_started) = (Signal::new(), Signal::new());
        let a = {
            let (mine, other) = (a_started.clone(), b_started.clone());
            Box::new(move || {
                mine.raise();
                other.wait();
            })
        };
        let b = {
            let (mine, other) = (b_started.clone(), a_started.clone());
            Box::new(move || {
                mine.raise();
                other.wait();
            })
        };
        submit(&queue, &never, 2, a, &mut workers);
        submit(&queue, &never, 2, b, &mut workers);
        a_started.wait();
        b_started.wait();
        drop(queue.shut_down());
        for worker in workers {
            worker.join().unwrap();
        }
    });
}
