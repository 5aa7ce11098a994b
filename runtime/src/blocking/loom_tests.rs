//! Model checks of the pool's queue (`queue.rs`): the handshake between submitting a job and
//! the idle threads that wait for one, or leave when their keep-alive runs out; and of the
//! count of unfinished jobs (`unfinished.rs`): a runtime that asks to hear of a job's end is
//! told, or sees that no job is left.
//!
//! ```text
//! RUSTFLAGS="--cfg nbio_loom" cargo test -p nbio --lib --release loom
//! ```
//!
//! A job the model loses leaves the thread that waits for it blocked forever, which loom
//! reports as a deadlock: so each model fails if the guard it names goes.

use loom::sync::atomic::AtomicBool;
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread::{self, JoinHandle};

use super::queue::{Pushed, Queue};
use super::unfinished::Unfinished;

/// Explores every interleaving with at most two preemptions: these models have four threads
/// and several condition variables, and an unbounded search does not finish.
fn model(body: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(body);
}

/// A job of the model: any closure.
type Job = Box<dyn FnOnce() + Send>;

/// The pool of the model: its queue, the model's stand-in for the keep-alive, and its threads.
struct Pool {
    queue: Queue<Job>,
    expired: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Pool {
    fn new(max_threads: usize) -> Arc<Pool> {
        Arc::new(Pool {
            queue: Queue::new(max_threads),
            expired: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        })
    }

    /// Starts `n` pool threads, as `Inner::start_threads` does: `Queue::next` with the model's
    /// wait, starting the threads it asks for before running each job.
    fn start(this: &Arc<Pool>, n: usize) {
        for _ in 0..n {
            let pool = Arc::clone(this);
            let thread = thread::spawn(move || {
                pool.queue.arrived();
                while let Some((job, start)) = pool
                    .queue
                    .next_with(|state| pool.queue.model_wait(state, &pool.expired))
                {
                    Pool::start(&pool, start);
                    job();
                }
            });
            this.threads.lock().unwrap().push(thread);
        }
    }

    /// Submits `job` as `BlockingPool::spawn` does.
    fn submit(this: &Arc<Pool>, job: Job) {
        match this.queue.push(job) {
            Pushed::Queued { start } => Pool::start(this, start),
            Pushed::Refused(_) => panic!("the model's pool is not shut down"),
        }
    }

    /// Shuts the pool down and joins every thread it started.
    fn shut_down(&self) {
        drop(self.queue.shut_down());
        loop {
            let next = self.threads.lock().unwrap().pop();
            match next {
                Some(thread) => thread.join().unwrap(),
                None => return,
            }
        }
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
        let pool = Pool::new(1);
        // The first job starts the pool's only thread, which then goes idle.
        Pool::submit(&pool, Box::new(|| {}));
        let timer = thread::spawn({
            let pool = Arc::clone(&pool);
            move || pool.queue.model_expire(&pool.expired)
        });
        let ran = Signal::new();
        let job = {
            let ran = ran.clone();
            Box::new(move || ran.raise())
        };
        Pool::submit(&pool, job);
        ran.wait(); // a lost job blocks here forever: loom calls it a deadlock
        timer.join().unwrap();
        pool.shut_down();
        assert_eq!(pool.queue.counts().threads, 0);
    });
}

/// Guard: a thread that takes a job decides again whether the pool must grow (`next_with`
/// calls `grow`). A submit lets a spare thread (idle, or just started) stand for a few queued
/// jobs; once those threads are busy, the jobs still queued need threads of their own. Without
/// the second look, three jobs that each wait for the other two (as 64 sleeping jobs need 64
/// threads) wait forever on two threads.
#[test]
fn loom_jobs_that_wait_for_each_other_all_get_a_thread() {
    model(|| {
        let pool = Pool::new(3);
        // Three jobs at once into an empty pool: the first starts a thread, which the other two
        // count as spare; each take must start the next thread.
        let started = [Signal::new(), Signal::new(), Signal::new()];
        for me in 0..3 {
            let started = started.clone();
            Pool::submit(
                &pool,
                Box::new(move || {
                    started[me].raise();
                    for other in (0..3).filter(|&other| other != me) {
                        started[other].wait();
                    }
                }),
            );
        }
        for signal in &started {
            signal.wait();
        }
        pool.shut_down();
    });
}

/// A thread about to sleep until a job is over asks to be told (`watch`), while the job ends
/// on a pool thread (`over`). Either the watcher sees no job left, or the job's end says it
/// was asked: never neither, which would leave the watcher asleep. Fails if `watch` only
/// loads the count (the two sides then race like two stores and two loads, and both can read
/// the old values).
#[test]
fn loom_a_watcher_of_the_jobs_end_is_told_or_sees_it_over() {
    loom::model(|| {
        let unfinished = Arc::new(Unfinished::default());
        unfinished.started();
        let job = thread::spawn({
            let unfinished = Arc::clone(&unfinished);
            move || unfinished.over()
        });
        let waits = unfinished.watch();
        let told = job.join().unwrap();
        assert!(
            !waits || told,
            "the watcher sleeps and the job's end did not tell it"
        );
    });
}
