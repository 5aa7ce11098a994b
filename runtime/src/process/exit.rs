//! How nbio learns that a child exited, and who reaps the children nobody waits for.
//!
//! **With a pidfd (Linux 5.3 and later).** `pidfd_open(pid)` gives a descriptor that epoll
//! reports readable once the process has exited. nbio registers it with the reactor like a
//! socket: a task that waits on a child files its waker with the pidfd's source, and the
//! child's exit is one more readiness event. Then `waitpid(pid, WNOHANG)` (std's `try_wait`)
//! reaps it, exactly that pid: no thread per child, and no `SIGCHLD` handler that would have
//! to reap every child of the process, those of other libraries included.
//!
//! **Without one** (an older kernel, or a sandbox that refuses `pidfd_open`): the first wait
//! hands one job to the blocking pool, which sleeps in `waitid(P_PID, pid, WEXITED | WNOWAIT)`
//! until the child exits. `WNOWAIT` leaves the child a zombie, so its pid cannot be reused; the
//! waiting task, woken by the job's end, reaps it with `try_wait` as above. That is a pool
//! thread per child being waited on, for as long as it runs; still no `SIGCHLD` handler.
//!
//! **Dropped without a wait.** A child with `kill_on_drop` gets `SIGKILL`, and nbio's reaper
//! thread (one for the process, started at the first such drop) reaps it with a blocking
//! `wait`: a killed process ends at once, so the wait is short, and it does not depend on a
//! runtime that may be shutting down. A child dropped without `kill_on_drop` runs on,
//! as with std; it goes on a list of orphans, which nbio sweeps (`WNOHANG`, never blocking)
//! whenever it spawns a child or reaps one, so a program that keeps spawning leaves no zombies.

use std::io;
use std::panic::Location;
use std::process::{self, ExitStatus};
use std::sync::{mpsc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};

use crate::context;
use crate::net::registered::Registered;
use crate::reactor::Direction;
use crate::task::JoinHandle;

/// What tells a [`Child`](super::Child) that its process exited.
pub(crate) enum ExitWatch {
    /// The process's pidfd, registered with the reactor at the first wait.
    #[cfg(target_os = "linux")]
    Pidfd(Registered<std::os::fd::OwnedFd>),
    /// A job on the blocking pool that returns when the process exited (not yet reaped),
    /// started at the first wait that must wait.
    Pool(Option<JoinHandle<()>>),
}

impl ExitWatch {
    /// A pidfd for `pid` where the kernel gives one (and `pool` does not ask for the pool);
    /// the pool otherwise.
    pub(crate) fn for_child(pid: u32, pool: bool) -> ExitWatch {
        #[cfg(target_os = "linux")]
        if !pool {
            if let Some(pidfd) = open_pidfd(pid) {
                return ExitWatch::Pidfd(Registered::new(pidfd));
            }
        }
        let _ = (pid, pool);
        ExitWatch::Pool(None)
    }

    /// Which one this is, for `Debug`.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            #[cfg(target_os = "linux")]
            ExitWatch::Pidfd(_) => "pidfd",
            ExitWatch::Pool(_) => "blocking pool",
        }
    }
}

/// The pidfd of our child `pid`, or `None` where there is none (`ENOSYS` before Linux 5.3,
/// `EPERM` under some seccomp filters). The child is not reaped yet, so `pid` is still ours.
#[cfg(target_os = "linux")]
fn open_pidfd(pid: u32) -> Option<std::os::fd::OwnedFd> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

/// One non-blocking attempt to reap `child`: its status, or `WouldBlock` while it runs. A
/// reaped child also sweeps the orphans (see the module doc).
pub(crate) fn try_reap(child: &mut process::Child) -> io::Result<ExitStatus> {
    match child.try_wait()? {
        Some(status) => {
            sweep_orphans();
            Ok(status)
        }
        None => Err(io::ErrorKind::WouldBlock.into()),
    }
}

/// Polls for `child`'s exit through its pidfd, reaping it once it exited. `filed` remembers
/// the waker filed with the reactor, for the caller's `Wait` to take back when dropped.
#[cfg(target_os = "linux")]
pub(crate) fn poll_pidfd(
    child: &mut process::Child,
    pidfd: &Registered<std::os::fd::OwnedFd>,
    cx: &mut Context<'_>,
    filed: &mut Option<std::task::Waker>,
) -> Poll<io::Result<ExitStatus>> {
    let poll = pidfd.poll_io(Direction::Read, cx, filed, || {
        pidfd.try_io(Direction::Read, None, |_| try_reap(child))
    });
    if poll.is_pending() {
        context::waiting_on(context::WaitOn::ChildExit { pid: child.id() });
    }
    poll
}

/// The pool's way: reap if it exited; otherwise make sure a job watches it, and wait for the
/// job's end.
pub(crate) fn poll_pool(
    child: &mut process::Child,
    job: &mut Option<JoinHandle<()>>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<ExitStatus>> {
    use std::future::Future;
    loop {
        match try_reap(child) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            result => return Poll::Ready(result),
        }
        let handle = match job {
            Some(handle) => handle,
            None => {
                let pid = child.id();
                let started = context::spawn_blocking(move || wait_for_exit(pid), here());
                job.insert(started.ok_or_else(no_runtime)?)
            }
        };
        match std::pin::Pin::new(handle).poll(cx) {
            Poll::Pending => {
                context::waiting_on(context::WaitOn::ChildExit { pid: child.id() });
                return Poll::Pending;
            }
            // Exited (or the job failed): reap, or start another job for a child that lives on.
            Poll::Ready(_) => *job = None,
        }
    }
}

/// Where the pool's jobs say they were started, for the dump.
#[track_caller]
fn here() -> &'static Location<'static> {
    Location::caller()
}

fn no_runtime() -> io::Error {
    io::Error::other(
        "nbio::process::Child::wait needs an nbio runtime (it waits for the exit on the \
         runtime's blocking pool on this system); await it inside nbio::block_on",
    )
}

/// Sleeps until process `pid` exited, leaving it a zombie (`WNOWAIT`) for its owner to reap.
fn wait_for_exit(pid: u32) {
    use rustix::process::{waitid, Pid, WaitId, WaitIdOptions};
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return;
    };
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
    while let Err(rustix::io::Errno::INTR) = waitid(WaitId::Pid(pid), options) {}
}

/// Children dropped without `kill_on_drop` that had not exited yet.
static ORPHANS: Mutex<Vec<process::Child>> = Mutex::new(Vec::new());

/// Reaps every orphan that has exited, without waiting.
pub(crate) fn sweep_orphans() {
    let mut orphans = ORPHANS.lock().unwrap_or_else(PoisonError::into_inner);
    // A child gone for good (reaped, or an error such as `ECHILD`) leaves the list.
    orphans.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
}

/// Takes a dropped child that was not reaped (see the module doc): a `killed` one goes to the
/// reaper thread, the others join the orphans.
pub(crate) fn adopt(mut child: process::Child, killed: bool) {
    if !matches!(child.try_wait(), Ok(None)) {
        return; // reaped now, or not ours to reap
    }
    if killed {
        if let Err(mpsc::SendError(child)) = reaper().send(child) {
            ORPHANS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(child);
        }
        return;
    }
    ORPHANS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(child);
}

/// The queue of the reaper thread: one thread for the whole process, started at the first
/// child killed on drop, that waits for each killed child in turn. Not the runtime's pool: a
/// job queued there would be dropped unrun if the runtime shut down first, and its child left
/// a zombie.
fn reaper() -> &'static mpsc::Sender<process::Child> {
    static REAPER: OnceLock<mpsc::Sender<process::Child>> = OnceLock::new();
    REAPER.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<process::Child>();
        let started = std::thread::Builder::new()
            .name("nbio-reaper".into())
            .spawn(move || {
                for mut child in receiver {
                    // SIGKILL cannot be caught: the wait is short.
                    let _ = child.wait();
                }
            });
        // Without a thread, the receiver is gone and `adopt` falls back to the orphans.
        drop(started);
        sender
    })
}
