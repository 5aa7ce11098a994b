//! `Runtime`: one of two flavours behind one API (its settings are in `builder.rs`).
//!
//! Without `Builder::worker_threads`, a runtime is the current-thread loop (`current_thread/`):
//! everything runs on the thread that calls `block_on`, the article's loop grown up. With it,
//! the multi-thread flavour (`multi_thread/`): the `block_on` future runs on the calling thread
//! and every spawned task on the worker threads.

use std::future::Future;
use std::io::{self, Write};
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

pub use super::builder::{Builder, OnCycle};
use super::current_thread::CurrentThread;
use super::multi_thread::MultiThread;
use super::Handle;
use crate::blocking::{ShutdownReport, DROP_GRACE};
use crate::observe::{Dump, Stats};
use crate::task::JoinHandle;

/// An nbio runtime: a run queue, a reactor and their loop, on the thread that calls
/// [`block_on`](Runtime::block_on), or on worker threads (see [`Builder::worker_threads`]).
///
/// Dropping the runtime drops the future of every task it still holds, so their destructors
/// run (and joins its worker threads); awaiting their handles afterwards gives a cancelled
/// [`JoinError`](crate::JoinError). Blocking jobs still queued are cancelled the same way; jobs
/// already running get at most one second to return, after which the drop names each one on
/// stderr and leaves its thread to finish it alone (see [`Runtime::shutdown_timeout`] to choose
/// the wait and get the list). Dropping a runtime never waits forever.
///
/// ```
/// let rt = nbio::Runtime::new()?;
/// let handle = rt.spawn(async { 1 + 1 }); // queued now, runs once block_on drives the loop
/// assert_eq!(rt.block_on(handle).unwrap(), 2);
/// # std::io::Result::Ok(())
/// ```
pub struct Runtime {
    pub(super) flavor: Flavor,
}

/// Which loop runs the tasks.
pub(crate) enum Flavor {
    /// The current-thread loop.
    CurrentThread(Rc<CurrentThread>),
    /// Worker threads.
    MultiThread(MultiThread),
}

impl Runtime {
    /// A runtime with the default settings: the current-thread flavour.
    ///
    /// # Errors
    /// If the poller cannot be created (the process is out of file descriptors, say).
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to choose settings first.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` to completion on this thread. On the current-thread flavour every spawned
    /// task runs on this thread too, while it waits; on the multi-thread one the workers run
    /// them, and this thread runs only `future` and the tasks `spawn_local` pinned to it.
    ///
    /// Tasks still pending when `future` completes stay in the runtime and go on at the next
    /// `block_on` (on worker threads they simply go on), or are dropped with the runtime.
    ///
    /// # Panics
    /// If this thread is already inside `block_on`: await the future instead. A panic of
    /// `future` itself propagates out of `block_on`; panics of spawned tasks do not.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.block_on(future),
            Flavor::MultiThread(runtime) => runtime.block_on(future),
        }
    }

    /// Spawns a task on this runtime. Works before `block_on` too: on the current-thread
    /// flavour the task runs once the loop is driven, on the multi-thread one at once.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named(future, None, Location::caller())
    }

    /// Spawns a task whose future need not be `Send` (it holds an `Rc`, say). It runs on this
    /// thread, in `block_on`, whichever the flavour.
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.spawn_local_named(future, None, Location::caller())
    }

    pub(crate) fn spawn_named<F>(
        &self,
        future: F,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.spawn(future, name, location),
            Flavor::MultiThread(runtime) => runtime.spawn(future, name, location),
        }
    }

    pub(crate) fn spawn_local_named<F>(
        &self,
        future: F,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.spawn(future, name, location),
            Flavor::MultiThread(runtime) => runtime.spawn_local(future, name, location),
        }
    }

    /// A handle to this runtime, to spawn onto it from any thread.
    ///
    /// ```
    /// let rt = nbio::Runtime::builder().worker_threads(2).build()?;
    /// let handle = rt.handle();
    /// let answer = std::thread::spawn(move || handle.spawn(async { 6 * 7 }))
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(rt.block_on(answer).unwrap(), 42);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn handle(&self) -> Handle {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => Handle::current_thread(&scheduler.remote),
            Flavor::MultiThread(runtime) => Handle::multi_thread(runtime.shared()),
        }
    }

    /// Runs `f` on this runtime's blocking pool, as [`nbio::spawn_blocking`](crate::spawn_blocking)
    /// does from inside it. Works before `block_on` too; the job starts at once.
    ///
    /// ```
    /// let rt = nbio::Runtime::new()?;
    /// let sum = rt.spawn_blocking(|| (1..=10).sum::<u32>());
    /// assert_eq!(rt.block_on(sum).unwrap(), 55);
    /// # std::io::Result::Ok(())
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => {
                scheduler
                    .remote
                    .blocking
                    .spawn(f, Location::caller(), Some(&scheduler.observer))
            }
            Flavor::MultiThread(runtime) => {
                runtime.shared().blocking.spawn(f, Location::caller(), None)
            }
        }
    }

    /// Shuts the runtime down, waiting at most `grace` for its blocking jobs, and says which
    /// ones were still running.
    ///
    /// Every task's future is dropped (as when the runtime is dropped), blocking jobs that no
    /// thread has started are cancelled (their closures are dropped unrun), and the jobs that
    /// are running get `grace` to return. Those that do not are listed in the report; their
    /// threads are detached and leave as soon as their jobs return. A thread cannot be stopped
    /// from outside, so a job that never returns keeps its thread (and only that) forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = nbio::Runtime::new()?;
    /// let job = rt.spawn_blocking(|| std::thread::sleep(Duration::from_millis(5)));
    /// let report = rt.shutdown_timeout(Duration::from_secs(5));
    /// assert!(report.is_clean(), "{report}"); // the job had time to finish
    /// drop(job);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn shutdown_timeout(self, grace: Duration) -> ShutdownReport {
        self.shutdown(grace)
            .expect("a runtime is shut down once, by shutdown_timeout or by its drop")
    }

    fn shutdown(&self, grace: Duration) -> Option<ShutdownReport> {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.shutdown(grace),
            Flavor::MultiThread(runtime) => runtime.shutdown(grace),
        }
    }

    /// Counters of this runtime.
    pub fn stats(&self) -> Stats {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.stats(),
            Flavor::MultiThread(runtime) => runtime.stats(),
        }
    }

    /// The live tasks, one line each when printed: id, name, spawn location, state, polls,
    /// time since the last poll, the worker that last polled it, what last woke it, and
    /// whether anything still holds its waker (a waiting task whose waker nobody holds can
    /// never run again).
    pub fn dump(&self) -> Dump {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.dump(),
            Flavor::MultiThread(runtime) => runtime.dump(),
        }
    }

    /// Writes what the journal recorded as Chrome Trace Event JSON, which ui.perfetto.dev
    /// opens: one track per thread, each poll a slice named after its task, wakes and steals
    /// as arrows, reactor waits as slices.
    ///
    /// ```
    /// let rt = nbio::Runtime::builder().trace(true).build()?;
    /// rt.block_on(async { nbio::spawn(async {}).await.unwrap() });
    /// let mut json = Vec::new();
    /// rt.write_trace(&mut json)?;
    /// assert!(String::from_utf8(json).unwrap().contains("traceEvents"));
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` if tracing is off, or the writer's error.
    pub fn write_trace(&self, mut out: impl Write) -> io::Result<()> {
        let observed = match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.observer.shared(),
            Flavor::MultiThread(runtime) => &runtime.shared().observe,
        };
        observed.write_trace(&mut out)
    }
}

impl Runtime {
    /// Says where tasks live, for the dump and the trace (`nbio::sim`'s hosts).
    pub(crate) fn set_places(&self, places: Box<dyn crate::observe::Places>) {
        self.recorder().set_places(places);
    }

    /// Whether the journal keeps records for a trace (`Builder::trace`, `NBIO_TRACE`).
    pub(crate) fn keeps_trace(&self) -> bool {
        self.recorder().keeps_trace()
    }

    fn recorder(&self) -> &crate::observe::RuntimeRecorder {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.observer.shared(),
            Flavor::MultiThread(runtime) => &runtime.shared().observe,
        }
    }

    /// Calls `told` with each task woken from off the runtime's loop (another thread, say):
    /// `nbio::sim` fails the run on it. Only the current-thread flavour tells.
    pub(crate) fn on_wake_off_loop(&self, told: super::current_thread::OffLoopWake) {
        if let Flavor::CurrentThread(scheduler) = &self.flavor {
            let _ = scheduler.remote.woken_off_loop.set(told);
        }
    }

    /// The journal as decisions, for `sim::check_determinism`.
    pub(crate) fn decisions(&self) -> Option<(Vec<String>, u64)> {
        match &self.flavor {
            Flavor::CurrentThread(scheduler) => scheduler.observer.shared().decisions(),
            Flavor::MultiThread(runtime) => runtime.shared().observe.decisions(),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(report) = self.shutdown(DROP_GRACE) {
            if !report.is_clean() {
                eprintln!("nbio: the runtime was dropped; {report}");
            }
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("stats", &self.stats())
            .finish()
    }
}
