//! The answer to the exercise of the guide's chapter 4, "Timers".
//!
//! The exercise: give chapter 2's stage 3 loop timers. A `sleep(d)` future leaves its waker
//! with a deadline; the loop, when no task is ready, sleeps in the poller no longer than until
//! the earliest deadline, then wakes every timer that is due. Check that three sleeps of 30, 10
//! and 20 ms end in the order 10, 20, 30, none early, and that the loop slept only a few times
//! (no spinning while it waited).
//!
//! The answer is below: a heap of deadlines (`Timers`) beside the run queue, and the poller's
//! timeout taken from its top. nbio's timers are the same idea (`reactor/timers.rs`), with
//! cancellation of a dropped sleep and a virtual clock (chapter 12) added.
//!
//! Run it with `cargo run -p nbio --example exercise_timers`.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use polling::{Events, Poller};

/// The pending deadlines, earliest on top, each with the waker to call then.
#[derive(Default)]
struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    wakers: Vec<(u64, Waker)>,
    next_id: u64,
}

impl Timers {
    fn insert(&mut self, deadline: Instant, waker: Waker) {
        let id = self.next_id;
        self.next_id += 1;
        self.heap.push(Reverse((deadline, id)));
        self.wakers.push((id, waker));
    }

    /// How long the loop may sleep: until the earliest deadline (`None`: no timer).
    fn timeout(&self, now: Instant) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse((deadline, _))| deadline.saturating_duration_since(now))
    }

    /// Wakes every timer due by `now`.
    fn fire(&mut self, now: Instant) {
        while let Some(&Reverse((deadline, id))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if let Some(at) = self.wakers.iter().position(|(i, _)| *i == id) {
                self.wakers.swap_remove(at).1.wake();
            }
        }
    }
}

/// Completes once `deadline` has passed; leaves its waker with the timers until then.
struct Sleep {
    deadline: Instant,
    timers: Rc<RefCell<Timers>>,
    registered: bool,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        if !self.registered {
            self.registered = true;
            let deadline = self.deadline;
            self.timers
                .borrow_mut()
                .insert(deadline, cx.waker().clone());
        }
        Poll::Pending
    }
}

type Task = Pin<Box<dyn Future<Output = ()>>>;

struct TaskWaker {
    id: usize,
    woken: Arc<Mutex<VecDeque<usize>>>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.woken.lock().unwrap().push_back(self.id);
    }
}

/// Stage 3's loop with timers; returns how often it slept in the poller.
fn run(tasks: Vec<Task>, timers: &Rc<RefCell<Timers>>) -> io::Result<u32> {
    let poller = Poller::new()?;
    let woken = Arc::new(Mutex::new((0..tasks.len()).collect::<VecDeque<_>>()));
    let wakers: Vec<Waker> = (0..tasks.len())
        .map(|id| {
            Waker::from(Arc::new(TaskWaker {
                id,
                woken: Arc::clone(&woken),
            }))
        })
        .collect();
    let mut tasks: Vec<Option<Task>> = tasks.into_iter().map(Some).collect();
    let (mut alive, mut sleeps, mut events) = (tasks.len(), 0, Events::new());
    while alive > 0 {
        let next = woken.lock().unwrap().pop_front();
        let Some(id) = next else {
            // Nothing to run: sleep until the earliest deadline, then fire what is due.
            let timeout = timers.borrow().timeout(Instant::now());
            sleeps += 1;
            events.clear();
            poller.wait(&mut events, timeout)?;
            timers.borrow_mut().fire(Instant::now());
            continue;
        };
        let Some(task) = tasks[id].as_mut() else {
            continue;
        };
        if task
            .as_mut()
            .poll(&mut Context::from_waker(&wakers[id]))
            .is_ready()
        {
            tasks[id] = None;
            alive -= 1;
        }
    }
    Ok(sleeps)
}

fn main() -> io::Result<()> {
    let timers = Rc::new(RefCell::new(Timers::default()));
    let finished = Rc::new(RefCell::new(Vec::new()));
    let start = Instant::now();
    let tasks: Vec<Task> = [30u64, 10, 20]
        .into_iter()
        .map(|ms| {
            let (timers, finished) = (Rc::clone(&timers), Rc::clone(&finished));
            Box::pin(async move {
                let deadline = start + Duration::from_millis(ms);
                Sleep {
                    deadline,
                    timers,
                    registered: false,
                }
                .await;
                assert!(Instant::now() >= deadline, "a timer never fires early");
                finished.borrow_mut().push(ms);
            }) as Task
        })
        .collect();
    let sleeps = run(tasks, &timers)?;
    println!(
        "finished in the order {:?}, after {sleeps} sleeps in the poller",
        finished.borrow()
    );
    assert_eq!(*finished.borrow(), [10, 20, 30]);
    assert!(
        sleeps <= 6,
        "the loop slept until each deadline instead of spinning: {sleeps}"
    );
    Ok(())
}
