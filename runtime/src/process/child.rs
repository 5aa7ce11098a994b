//! [`Child`]: a running process, its pipes, and the wait for its exit.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::process::{self, ExitStatus};

use super::exit::{self, ExitWatch};
use super::{ChildStderr, ChildStdin, ChildStdout};
use crate::net::registered::Wait;
use crate::reactor::Direction;

/// A child process started by [`Command::spawn`](super::Command::spawn).
///
/// Its pipes are public fields, as in std: take them out to read and write in other tasks
/// while this one waits. Dropping a `Child` does not end the process unless the command had
/// [`kill_on_drop(true)`](super::Command::kill_on_drop); either way nbio reaps it (see the
/// module doc of [`nbio::process`](super)).
///
/// ```
/// use nbio::process::Command;
///
/// nbio::block_on(async {
///     let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn()?;
///     let status = child.wait().await?;
///     assert_eq!(status.code(), Some(3));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct Child {
    /// The writing end of the child's stdin, if the command piped it.
    pub stdin: Option<ChildStdin>,
    /// The reading end of the child's stdout, if the command piped it.
    pub stdout: Option<ChildStdout>,
    /// The reading end of the child's stderr, if the command piped it.
    pub stderr: Option<ChildStderr>,
    /// std's handle: the pid, `try_wait` (which reaps and remembers the status, so that a kill
    /// after it never signals a reused pid) and `kill`. `None` only inside `drop`.
    std: Option<process::Child>,
    watch: ExitWatch,
    kill_on_drop: bool,
}

impl Child {
    /// Takes over a child std just spawned: its pipes go non-blocking, its exit gets a watch.
    pub(crate) fn new(
        mut std: process::Child,
        kill_on_drop: bool,
        pool: bool,
    ) -> io::Result<Child> {
        let watch = ExitWatch::for_child(std.id(), pool);
        let pipes = (std.stdin.take(), std.stdout.take(), std.stderr.take());
        let mut child = Child {
            stdin: None,
            stdout: None,
            stderr: None,
            std: Some(std),
            watch,
            // A child we fail to take over is not left running behind the caller's back.
            kill_on_drop: true,
        };
        child.stdin = pipes.0.map(ChildStdin::from_std).transpose()?;
        child.stdout = pipes.1.map(ChildStdout::from_std).transpose()?;
        child.stderr = pipes.2.map(ChildStderr::from_std).transpose()?;
        child.kill_on_drop = kill_on_drop;
        Ok(child)
    }

    fn std(&mut self) -> &mut process::Child {
        self.std
            .as_mut()
            .expect("a Child's std handle is there until it is dropped")
    }

    /// The child's process id (as std's: the number stays, even once the child was reaped
    /// and the number may name another process).
    pub fn id(&self) -> u32 {
        self.std.as_ref().map_or(0, process::Child::id)
    }

    /// Waits for the child to exit and reaps it: its exit code or the signal that ended it.
    /// The child's stdin, if still here, is closed first (as std does), so that a child that
    /// reads to the end of its input can finish. Once it returned, every later call returns
    /// the same status at once.
    ///
    /// On Linux the wait is a readiness event of the child's pidfd, on the reactor: no thread
    /// waits. (Without pidfds, a blocking-pool job waits; see the module doc.)
    ///
    /// Cancel safety: dropping the future loses nothing; the child is not reaped until a
    /// wait completes, and a later `wait` (or [`try_wait`](Self::try_wait)) gets the status.
    ///
    /// # Errors
    /// The error of `waitpid`; outside a runtime, when the wait must go to the blocking pool.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        let Child { std, watch, .. } = self;
        let std = std
            .as_mut()
            .expect("a Child's std handle is there until it is dropped");
        match watch {
            #[cfg(target_os = "linux")]
            ExitWatch::Pidfd(pidfd) => {
                let pidfd = &*pidfd;
                // Takes the filed waker back if this future is dropped before the exit.
                let mut wait = Wait::new(pidfd, Direction::Read);
                poll_fn(|cx| exit::poll_pidfd(std, pidfd, cx, wait.filed())).await
            }
            ExitWatch::Pool(job) => poll_fn(|cx| exit::poll_pool(std, job, cx)).await,
        }
    }

    /// Reaps the child if it has exited, without waiting: `Ok(None)` while it runs.
    ///
    /// # Errors
    /// The error of `waitpid`.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        match exit::try_reap(self.std()) {
            Ok(status) => Ok(Some(status)),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Sends `SIGKILL` to the child, and returns without waiting for it to end. A child that
    /// was already reaped is not signalled (its pid may be another process's now): `Ok(())`.
    ///
    /// # Errors
    /// The error of `kill(2)`.
    pub fn start_kill(&mut self) -> io::Result<()> {
        self.std().kill()
    }

    /// Sends `SIGKILL` and waits for the child to end (and reaps it).
    ///
    /// Cancel safety: the signal is sent at the first poll; dropping the future after that
    /// loses nothing ([`wait`](Self::wait) as above).
    ///
    /// # Errors
    /// As [`start_kill`](Self::start_kill) and [`wait`](Self::wait).
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await.map(drop)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(mut std) = self.std.take() else {
            return;
        };
        let killed = self.kill_on_drop && std.kill().is_ok();
        exit::adopt(std, killed);
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("exit_watch", &self.watch.name())
            .field("kill_on_drop", &self.kill_on_drop)
            .finish()
    }
}
