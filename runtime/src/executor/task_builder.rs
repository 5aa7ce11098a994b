//! `nbio::task::Builder`: spawning a task with a name.

use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use super::{spawn_local_named, spawn_named, Runtime};
use crate::task::JoinHandle;

/// Spawns tasks with options; today, a name. Named tasks are easier to find in slow-poll
/// warnings, dumps, the narrative and traces (`counter#1` instead of `task#1`).
///
/// ```
/// nbio::block_on(async {
///     let handle = nbio::task::Builder::new().name("counter").spawn(async { 41 + 1 });
///     assert_eq!(handle.await.unwrap(), 42);
/// });
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    name: Option<Arc<str>>,
}

impl Builder {
    /// No options yet.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task.
    pub fn name(mut self, name: &str) -> Builder {
        self.name = Some(Arc::from(name));
        self
    }

    /// Spawns on the current runtime, as [`nbio::spawn`](crate::spawn).
    ///
    /// # Panics
    /// If called outside of a runtime.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        spawn_named(future, self.name, Location::caller())
    }

    /// Spawns a future that need not be `Send` on the current runtime, as
    /// [`nbio::spawn_local`](crate::spawn_local).
    ///
    /// # Panics
    /// If called outside of a runtime.
    #[track_caller]
    pub fn spawn_local<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        spawn_local_named(future, self.name, Location::caller())
    }

    /// Spawns on `runtime`, as [`Runtime::spawn`]; works outside of `block_on` too.
    #[track_caller]
    pub fn spawn_on<F>(self, runtime: &Runtime, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        runtime.spawn_named(future, self.name, Location::caller())
    }

    /// Spawns a future that need not be `Send` on `runtime`, as [`Runtime::spawn_local`].
    #[track_caller]
    pub fn spawn_local_on<F>(self, runtime: &Runtime, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        runtime.spawn_local_named(future, self.name, Location::caller())
    }
}
