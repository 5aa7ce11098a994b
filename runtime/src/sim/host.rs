//! Which simulated host the code being polled belongs to.
//!
//! A host is not a thread or a runtime: every host of a simulation runs on the one
//! current-thread runtime. What makes a task belong to a host is the wrapper [`OnHost`], which
//! sets this thread's "current host" around each poll of the task (and around its drop). Two
//! things read it:
//!
//! - `nbio::net`: inside a host, binding, connecting and looking up names reach the simulated
//!   network (`super::tcp`) instead of the kernel;
//! - `nbio::spawn`: a task spawned while a host is current is wrapped the same way, so the host
//!   follows its tasks, and a crash of the host can find and drop all of them.
//!
//! A crash bumps the host's epoch and wakes every task of it; each wrapper, polled with an
//! epoch that is not its own, drops its future (the destructors run, with the host still
//! current) and stays pending for good: nothing of the crashed host runs again.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use super::world::{HostId, World};

/// A host of a running simulation: the world it lives in and its index there.
#[derive(Clone)]
pub(crate) struct Hosted {
    pub(crate) world: Arc<World>,
    pub(crate) host: HostId,
}

thread_local! {
    /// The host whose code is being polled on this thread, if any.
    static CURRENT: RefCell<Option<Hosted>> = const { RefCell::new(None) };
    /// Whether `CURRENT` holds a host. A plain flag, with no destructor to register, is one
    /// load on every spawn and socket of the real path; `CURRENT` is read only when it is set.
    static HOSTED: Cell<bool> = const { Cell::new(false) };
}

/// The host whose code runs now, or `None` outside a simulation (the real path: one look at
/// a thread-local flag).
#[inline]
pub(crate) fn current() -> Option<Hosted> {
    if !HOSTED.with(Cell::get) {
        return None;
    }
    CURRENT.with(|current| current.borrow().clone())
}

/// Makes `host` (or no host) the current one, and says whether one is.
fn set_current(host: Option<Hosted>) -> Option<Hosted> {
    HOSTED.with(|hosted| hosted.set(host.is_some()));
    CURRENT.with(|current| current.replace(host))
}

/// Makes `host` (or no host) current until dropped; puts back what was current before.
pub(crate) struct HostGuard {
    previous: Option<Hosted>,
}

impl HostGuard {
    pub(crate) fn enter(host: Option<Hosted>) -> HostGuard {
        HostGuard {
            previous: set_current(host),
        }
    }
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        set_current(self.previous.take());
    }
}

/// Where a crash finds a task of its host: the waker of its latest poll.
#[derive(Default)]
pub(crate) struct TaskSlot {
    waker: Mutex<Option<Waker>>,
}

impl TaskSlot {
    /// Wakes the task, so that its wrapper sees the crash and drops its future.
    pub(crate) fn wake(&self) {
        let waker = self
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn file(&self, waker: &Waker) {
        let mut slot = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
        if !slot.as_ref().is_some_and(|filed| filed.will_wake(waker)) {
            // The old waker is dropped under this lock: a task's waker runs no user code on
            // drop (it is nbio's own).
            *slot = Some(waker.clone());
        }
    }
}

/// A future that belongs to a host: polled (and dropped) with the host current, and dropped
/// for good once the host crashes.
pub(crate) struct OnHost<F> {
    hosted: Hosted,
    /// The host's epoch when the task was made; another epoch means the host crashed since.
    epoch: u64,
    slot: Arc<TaskSlot>,
    /// The runtime's id of the task, once it was first polled (filed in `World::task_hosts`).
    task: Option<crate::task::TaskId>,
    future: Option<Pin<Box<F>>>,
}

impl Hosted {
    /// Wraps `future` as a task of this host, and files it where a crash will find it.
    pub(crate) fn wrap<F: Future>(&self, future: F) -> OnHost<F> {
        let slot = Arc::new(TaskSlot::default());
        let epoch = self.world.adopt(self.host, &slot);
        OnHost {
            hosted: self.clone(),
            epoch,
            slot,
            task: None,
            future: Some(Box::pin(future)),
        }
    }
}

impl<F: Future> Future for OnHost<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        if this.world_epoch() != this.epoch {
            let _host = HostGuard::enter(Some(this.hosted.clone()));
            this.future = None;
            // What is left is an empty shell, not a task of the host any more.
            this.hosted.world.forget_task(this.task.take());
            return Poll::Pending;
        }
        let Some(future) = this.future.as_mut() else {
            return Poll::Pending;
        };
        this.slot.file(cx.waker());
        if this.task.is_none() {
            this.task = crate::task::polled::polled_task();
            this.hosted.world.file_task(this.task, this.hosted.host);
        }
        this.hosted.world.count_poll(this.hosted.host);
        let _host = HostGuard::enter(Some(this.hosted.clone()));
        match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(panic) => {
                let message = panic_message(&*panic);
                this.hosted.world.host_panicked(this.hosted.host, message);
                panic::resume_unwind(panic)
            }
        }
    }
}

impl<F> OnHost<F> {
    fn world_epoch(&self) -> u64 {
        self.hosted.world.epoch(self.hosted.host)
    }
}

impl<F> Drop for OnHost<F> {
    fn drop(&mut self) {
        self.hosted.world.forget_task(self.task);
        if self.future.is_some() {
            let _host = HostGuard::enter(Some(self.hosted.clone()));
            self.future = None;
        }
    }
}

/// What a panic said, as text.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a payload that is not text".to_string()
    }
}

impl Hosted {
    /// A host name, as this host's code looks it up: another host's name (or `localhost`)
    /// gives that host's address.
    pub(crate) fn resolve(
        &self,
        name: &str,
        port: u16,
    ) -> std::io::Result<Vec<std::net::SocketAddr>> {
        self.world.with(|state, _| {
            let host = match name {
                "localhost" => Some(self.host),
                name => state.host_named(name),
            };
            match host {
                Some(host) => Ok(vec![std::net::SocketAddr::new(
                    state.hosts[host as usize].ip,
                    port,
                )]),
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!(
                        "could not resolve {name}:{port}: no simulated host is called {name:?} \
                         (add it with Sim::host)"
                    ),
                )),
            }
        })
    }
}

/// Inside a simulated host, a real socket is an error (and fails the run): it would reach the
/// real network, outside the seed's control. `what` names the call; the message names where
/// it was made. Outside a simulation: `Ok`, after one look at a thread-local.
#[track_caller]
pub(crate) fn refuse_real(what: &str) -> std::io::Result<()> {
    let Some(hosted) = current() else {
        return Ok(());
    };
    let at = std::panic::Location::caller();
    let message = hosted.world.with(|state, wakes| {
        let host = state.name(hosted.host).to_string();
        let message = format!(
            "{what} at {at} made a real socket inside simulated host {host}: it would reach \
             the real network, which no seed replays; inside nbio::sim use the addresses and \
             calls that reach the simulated one (AsyncTcpListener::bind, \
             AsyncTcpStream::connect, AsyncUdpSocket::bind)"
        );
        let failure = super::SimFailure::Leak {
            host,
            message: message.clone(),
        };
        state.fail(failure, wakes);
        message
    });
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        message,
    ))
}
