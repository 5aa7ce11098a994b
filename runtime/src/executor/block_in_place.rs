//! [`block_in_place`]: blocking a worker thread on purpose, without stalling the tasks behind it.
//!
//! A task that blocks its thread holds up whatever that thread would run next: on a worker, the
//! tasks in its queue. [`spawn_blocking`](crate::spawn_blocking) avoids that by moving the
//! blocking code to another thread, which needs the code to be `Send + 'static`.
//! `block_in_place` does the opposite: the blocking code stays (it may borrow from the task),
//! and the *queue* moves. Before `f` runs, every task queued on this worker goes to the
//! runtime's injection queue and a sleeping worker is woken to take them (`Worker::hand_off`);
//! while `f` runs, the thread is not a worker (tasks woken or spawned by `f` go to the injection
//! queue too, and `Handle::block_on` is allowed); when `f` returns, it is a worker again.
//!
//! What does not move: the tasks `spawn_local` pinned to this worker (they may only ever run
//! on it), which wait for `f`. With one worker thread there is no other worker to take the
//! queue: the tasks wait for `f` too. Use `spawn_blocking` when neither is acceptable.

use std::rc::Rc;

use super::current::{self, Current, Loop, Mode};
use super::Handle;

/// Runs the blocking closure `f` on this worker thread, after handing the worker's queued tasks
/// to the other workers, so that they run while `f` blocks.
///
/// Where it may be called:
/// - in a task on a worker thread of the multi-thread runtime: the case it is for;
/// - on a blocking-pool thread, inside another `block_in_place`, or outside any runtime: `f`
///   just runs (there is no queue to hand off);
/// - in a task on the current-thread runtime, or in the future given to `block_on`: it
///   panics, since that thread's loop is the only one, and nothing could run the other tasks
///   while `f` blocks it; use [`spawn_blocking`](crate::spawn_blocking).
///
/// ```
/// use std::time::Duration;
/// let rt = nbio::Runtime::builder().worker_threads(2).build()?;
/// let sum = rt.block_on(rt.spawn(async {
///     let numbers = vec![1, 2, 3];
///     // Borrows `numbers`: spawn_blocking could not.
///     nbio::task::block_in_place(|| {
///         std::thread::sleep(Duration::from_millis(10)); // a blocking library call
///         numbers.iter().sum::<i32>()
///     })
/// }))
/// .unwrap();
/// assert_eq!(sum, 6);
/// # std::io::Result::Ok(())
/// ```
///
/// # Panics
/// On the current-thread runtime's thread and on the `block_on` thread of the multi-thread
/// runtime, as said above; and if `f` panics (the task then panics with it).
#[track_caller]
pub fn block_in_place<F, R>(f: F) -> R
where
    F: FnOnce() -> R,
{
    let at = std::panic::Location::caller();
    let handle = current::with_current(|current| match current {
        Some(Current::Worker(worker)) if current::looping() => {
            worker.hand_off();
            Some(Handle::multi_thread(&worker.shared))
        }
        Some(Current::Thread(_)) if current::looping() => panic!(
            "nbio::task::block_in_place called on the current-thread runtime (at {at}): its \
             one thread runs every task, so nothing could run them while the closure blocks \
             it; use nbio::spawn_blocking, or build the runtime with worker_threads"
        ),
        Some(Current::BlockOn(_)) if current::looping() => panic!(
            "nbio::task::block_in_place called in the future given to block_on (at {at}): \
             that thread runs no worker queue to hand off; call it in a spawned task, or use \
             nbio::spawn_blocking"
        ),
        _ => None,
    });
    match handle {
        // The thread is not a worker while `f` runs: no loop runs here, and what `f` wakes or
        // spawns goes to the injection queue, where the other workers find it.
        Some(handle) => {
            let _suspended = current::enter(Loop::Handle(Rc::new(handle)), Mode::Suspended);
            f()
        }
        None => f(),
    }
}
