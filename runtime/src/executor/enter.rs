//! Belonging to a runtime without being inside its `block_on`: [`Runtime::enter`], the threads
//! of its blocking pool, [`Handle::try_current`] and [`Handle::block_on`].
//!
//! A thread *belongs* to a runtime when `nbio::spawn` and [`Handle::current`] find it there, and
//! sockets and timers made there register with its reactor. Inside `block_on` and on a worker
//! thread that is so because the runtime's loop runs there. Three more kinds of threads belong
//! to a runtime with no loop of it running:
//!
//! - a thread under [`Runtime::enter`] (the guard says for how long);
//! - every thread of the runtime's blocking pool, so that a job can call
//!   [`Handle::current`], spawn tasks, or wait for a future with [`Handle::block_on`] (a
//!   `nbio::time::sleep` inside a job works);
//! - a thread inside [`Handle::block_on`], for the future it waits for.
//!
//! What is *not* there is a loop: nothing on such a thread polls tasks or waits in the reactor.
//! Spawned tasks are queued for the runtime's loop (on the current-thread runtime, the next
//! `block_on`; on worker threads, at once), and a timer or socket registered there is served by
//! that loop's waits in the reactor.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use super::current::{self, Current, EnteredGuard, Loop};
use super::handle::{Flavor as HandleFlavor, Handle};
use super::runtime::{Flavor, Runtime};
use crate::blocking::BlockingPool;
use crate::context::{self, Entered};
use crate::observe::Observer;

/// The guard of [`Runtime::enter`]: while it lives, this thread belongs to the runtime.
///
/// Guards nest: entering another runtime under one makes that one current until its guard is
/// dropped, which puts the first back. They must be dropped in the reverse order they were
/// made (a guard dropped while one made after it lives panics, saying so). It is not `Send`:
/// it is about the thread that made it.
#[must_use = "the runtime is entered only while the guard lives"]
pub struct EnterGuard<'a> {
    _entered: EnteredGuard,
    _runtime: PhantomData<&'a Runtime>,
}

impl fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

impl Runtime {
    /// Makes this thread belong to the runtime until the guard is dropped, outside
    /// [`block_on`](Runtime::block_on): [`nbio::spawn`](crate::spawn) and
    /// [`Handle::current`] work, and sockets and timers made or first polled here register
    /// with this runtime's reactor.
    ///
    /// What the guard does not do is run anything. On the current-thread runtime the loop
    /// runs only inside `block_on`, so a task spawned under the guard is queued and runs at
    /// the next `block_on`, and a timer or socket registered under it is served then too. On
    /// the multi-thread runtime the workers run spawned tasks at once, and they serve the
    /// reactor.
    ///
    /// ```
    /// let rt = nbio::Runtime::new()?;
    /// let task = {
    ///     let _guard = rt.enter();
    ///     // Without the guard this would panic: no runtime on this thread.
    ///     nbio::spawn(async { 6 * 7 })
    /// };
    /// // Queued, not run yet: the current-thread loop runs inside block_on.
    /// assert!(!task.is_finished());
    /// assert_eq!(rt.block_on(task).unwrap(), 42);
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// Entered inside `block_on`, another runtime is current until the guard goes; the loop
    /// that runs is still the outer one, so a nested `block_on` still panics.
    pub fn enter(&self) -> EnterGuard<'_> {
        let (owned, entered) = match &self.flavor {
            Flavor::CurrentThread(scheduler) => (
                Loop::Thread(Rc::clone(scheduler)),
                Entered {
                    reactor: Arc::clone(&scheduler.remote.reactor),
                    observer: Some(Rc::clone(&scheduler.observer)),
                    blocking: scheduler.remote.blocking.clone(),
                },
            ),
            Flavor::MultiThread(runtime) => {
                let block_on = runtime.block_on_side();
                (
                    Loop::BlockOn(Rc::clone(block_on)),
                    Entered {
                        reactor: Arc::clone(&runtime.shared().reactor),
                        observer: Some(block_on.observer_rc()),
                        blocking: runtime.shared().blocking.clone(),
                    },
                )
            }
        };
        EnterGuard {
            _entered: current::enter_only(owned, entered),
            _runtime: PhantomData,
        }
    }
}

/// The error of [`Handle::try_current`]: this thread belongs to no nbio runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TryCurrentError(());

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no nbio runtime on this thread: it is not inside block_on, a runtime's task or \
             blocking job, or under Runtime::enter",
        )
    }
}

impl std::error::Error for TryCurrentError {}

impl Handle {
    /// The handle of the runtime this thread belongs to, or an error if it belongs to none.
    /// It is found inside `block_on`, in tasks, in blocking jobs, and under
    /// [`Runtime::enter`].
    ///
    /// ```
    /// assert!(nbio::Handle::try_current().is_err()); // a plain thread
    /// nbio::block_on(async {
    ///     let job = nbio::spawn_blocking(|| nbio::Handle::try_current().is_ok());
    ///     assert!(job.await.unwrap()); // a blocking job belongs to its runtime
    /// });
    /// ```
    ///
    /// # Errors
    /// [`TryCurrentError`] outside of a runtime.
    pub fn try_current() -> Result<Handle, TryCurrentError> {
        current::with_current(|current| match current {
            Some(Current::Thread(scheduler)) => Ok(Handle::current_thread(&scheduler.remote)),
            Some(Current::Worker(worker)) => Ok(Handle::multi_thread(&worker.shared)),
            Some(Current::BlockOn(block_on)) => Ok(Handle::multi_thread(block_on.shared())),
            Some(Current::Handle(handle)) => Ok(handle.clone()),
            None => Err(TryCurrentError(())),
        })
    }

    /// Runs `future` to completion on this thread, which belongs to the runtime meanwhile, and
    /// blocks the thread until it completes: the way from blocking code (a plain thread, a
    /// [`spawn_blocking`](crate::spawn_blocking) job, the closure of
    /// [`block_in_place`](crate::task::block_in_place)) back into async code.
    ///
    /// This thread only polls `future`; the runtime's loop serves its timers and sockets. On
    /// the multi-thread runtime the workers do that at any time. On the current-thread runtime
    /// only its `block_on` does: a timer or socket awaited here completes only while the
    /// runtime's thread is inside `block_on` (as it is while it awaits the blocking job that
    /// called this). On a virtual clock, which holds still while a blocking job runs, a job
    /// parked here counts as waiting, not running: the clock moves on to the timer it waits for.
    ///
    /// ```
    /// use std::time::Duration;
    /// nbio::block_on(async {
    ///     let job = nbio::spawn_blocking(|| {
    ///         let handle = nbio::Handle::current();
    ///         handle.block_on(async {
    ///             nbio::time::sleep(Duration::from_millis(2)).await;
    ///             "slept in a blocking job"
    ///         })
    ///     });
    ///     assert_eq!(job.await.unwrap(), "slept in a blocking job");
    /// });
    /// ```
    ///
    /// # Panics
    /// On a thread that runs a loop of an nbio runtime (inside `block_on`, in a task on a
    /// worker thread): blocking there would stall every task that thread runs. Await the future
    /// instead, spawn it, or move the blocking code into `spawn_blocking` and call this there.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let at = Location::caller();
        assert!(
            !current::looping(),
            "nbio::Handle::block_on called on a thread that runs an nbio runtime's loop (inside \
             block_on, or in a task) (at {at}): it would block the thread, and every task it \
             runs, until the future completes; `.await` the future, or spawn it \
             (Handle::spawn), or do the blocking work in nbio::spawn_blocking and call \
             Handle::block_on inside that job"
        );
        let _entered = self.enter_here(None);
        let pool = self.pool();
        // In a job of this runtime's pool, the job waits for the runtime while parked here: a
        // virtual clock, which holds still while a job runs, may then move.
        let job = pool.runs_here().then(|| pool.clone());
        let unparker = Arc::new(Unparker {
            thread: thread::current(),
            job: job.map(|pool| (pool, AtomicBool::new(false))),
        });
        let waker = Waker::from(Arc::clone(&unparker));
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            // A fresh budget each poll: a spent one makes a socket operation wake itself and
            // return Pending, and the next poll must be able to go on.
            context::reset_budget();
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            unparker.waiting();
            // An unpark that came before this park makes it return at once; a spurious return
            // only costs a poll.
            thread::park();
            unparker.going_on();
        }
    }

    fn pool(&self) -> &BlockingPool {
        match self.flavor() {
            HandleFlavor::CurrentThread(remote) => &remote.blocking,
            HandleFlavor::MultiThread(shared) => &shared.blocking,
        }
    }

    /// Makes this thread belong to the handle's runtime, with no loop of it running here.
    pub(crate) fn enter_here(&self, observer: Option<Rc<Observer>>) -> EnteredGuard {
        let reactor = match self.flavor() {
            HandleFlavor::CurrentThread(remote) => &remote.reactor,
            HandleFlavor::MultiThread(shared) => &shared.reactor,
        };
        let entered = Entered {
            reactor: Arc::clone(reactor),
            observer,
            blocking: self.pool().clone(),
        };
        current::enter_only(Loop::Handle(Rc::new(self.clone())), entered)
    }
}

/// Makes every thread of `handle`'s blocking pool belong to its runtime, with the thread's own
/// recorder for the journal.
pub(crate) fn pool_threads_enter(handle: &Handle) {
    let weak = handle.downgrade();
    handle
        .pool()
        .on_thread_enter(Box::new(move |observer: &Rc<Observer>| {
            let handle = weak.upgrade()?;
            let entered = handle.enter_here(Some(Rc::clone(observer)));
            Some(Box::new(entered) as Box<dyn std::any::Any>)
        }));
}

/// The waker of a future in `Handle::block_on`: unparks the waiting thread.
struct Unparker {
    thread: Thread,
    /// In a blocking job: its pool, and whether the job counts as waiting (`job_waits`). Each
    /// `job_waits` is matched by one `job_goes_on`, made by whoever turns the flag off: the
    /// wake (so that a virtual clock holds still again from the wake on), or the thread
    /// itself after a park that no wake ended.
    job: Option<(BlockingPool, AtomicBool)>,
}

impl Unparker {
    /// The thread is about to park. The count goes down before the flag goes up: a wake
    /// that sees the flag up has a `job_waits` to match, and one that comes before it leaves
    /// the flag for `going_on`, after the park that its unpark ends at once.
    fn waiting(&self) {
        if let Some((pool, waiting)) = &self.job {
            pool.job_waits();
            waiting.store(true, SeqCst);
        }
    }

    /// The thread is awake again.
    fn going_on(&self) {
        if let Some((pool, waiting)) = &self.job {
            if waiting.swap(false, SeqCst) {
                pool.job_goes_on();
            }
        }
    }
}

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.going_on();
        self.thread.unpark();
    }
}
