//! Child processes whose pipes and exit are events on the reactor.
//!
//! The article's loop waits on sockets; a program also runs other programs, feeds them input,
//! reads what they print and waits for them to end. [`Command`] is std's builder (the same
//! methods, the same defaults); [`Command::spawn`] starts the child with std, then takes its
//! pipes, switches them to non-blocking mode and registers them with the reactor like sockets,
//! so that [`ChildStdin`] is an `AsyncWrite` and [`ChildStdout`] / [`ChildStderr`] are
//! `AsyncRead`s that never block the thread.
//!
//! ```
//! use futures_lite::{AsyncReadExt, AsyncWriteExt};
//! use nbio::process::{Command, Stdio};
//!
//! nbio::block_on(async {
//!     // Three lines through `sort`: one task writes while this one reads.
//!     let mut child = Command::new("sort").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
//!     let mut stdin = child.stdin.take().unwrap();
//!     let writer = nbio::spawn(async move { stdin.write_all(b"pear\napple\nfig\n").await });
//!     let mut sorted = String::new();
//!     child.stdout.take().unwrap().read_to_string(&mut sorted).await?;
//!     writer.await.unwrap()?;
//!     assert_eq!(sorted, "apple\nfig\npear\n");
//!     assert!(child.wait().await?.success());
//!
//!     // The short forms: run to the end, and collect what it printed.
//!     let output = Command::new("echo").arg("hello").output().await?;
//!     assert_eq!(output.stdout, b"hello\n");
//!     assert!(Command::new("true").status().await?.success());
//!     std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```
//!
//! # Waiting for a child to exit
//!
//! On Linux 5.3 and later a child's exit is a readiness event: nbio opens the child's *pidfd*
//! and registers it with the reactor; epoll reports it readable once the child exited, and
//! [`Child::wait`] then reaps exactly that child. There is no thread per child, and no `SIGCHLD`
//! handler: such a handler would have to reap with `waitpid(-1)`, taking the children of every
//! other library in the process. On older kernels (or where a sandbox refuses `pidfd_open`)
//! each waited-on child costs a thread of the blocking pool, asleep in `waitid(.., WNOWAIT)`
//! until the child exits; still no handler. The status is std's [`ExitStatus`]: `code()`, and
//! `signal()` through `std::os::unix::process::ExitStatusExt`.
//!
//! A [`Child`] dropped before it was reaped runs on, as with std, unless its command had
//! [`kill_on_drop(true)`](Command::kill_on_drop): then it is sent `SIGKILL`. Either way nbio
//! reaps it, so no zombie is left behind: a killed child by a short wait on nbio's reaper thread
//! (one for the whole process), another by a sweep (`WNOHANG`) each time nbio spawns or reaps a
//! child.
//!
//! # Broken pipes
//!
//! Writing to a child that closed its stdin (or exited) fails with
//! [`BrokenPipe`](std::io::ErrorKind::BrokenPipe): Rust programs ignore `SIGPIPE` from before
//! `main`, so the kernel's `EPIPE` arrives as an error rather than as a signal that ends the
//! process. (A program whose `main` is not Rust's must ignore `SIGPIPE` itself.)

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::Path;
use std::process;

mod child;
mod exit;
mod pipe;

pub use child::Child;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

/// A builder for a child process: std's [`Command`](std::process::Command), whose children
/// are [`Child`]ren with non-blocking pipes, plus [`kill_on_drop`](Self::kill_on_drop).
///
/// ```
/// use nbio::process::Command;
///
/// nbio::block_on(async {
///     let output = Command::new("sh")
///         .args(["-c", "echo $GREETING; echo oops >&2; exit 2"])
///         .env("GREETING", "hi")
///         .output()
///         .await?;
///     assert_eq!(output.stdout, b"hi\n");
///     assert_eq!(output.stderr, b"oops\n");
///     assert_eq!(output.status.code(), Some(2));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct Command {
    std: process::Command,
    kill_on_drop: bool,
    /// Which streams the caller set: `output` pipes (or nulls) only the others.
    set: [bool; 3],
    /// Wait for exits on the blocking pool even where a pidfd would do (for the tests).
    pool: bool,
}

impl Command {
    /// A command that runs `program` (found in `PATH` if it has no `/`), with no arguments,
    /// this process's environment and working directory, and its standard streams inherited
    /// (by [`spawn`](Self::spawn) and [`status`](Self::status); [`output`](Self::output)
    /// captures stdout and stderr).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(process::Command::new(program))
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, value);
        self
    }

    /// Sets environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with no environment but what [`env`](Self::env) adds.
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's stdin: `Stdio::piped()` to write to it through [`Child::stdin`],
    /// `Stdio::null()`, `Stdio::inherit()`, or a descriptor (`Stdio::from(fd)`).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.set[0] = true;
        self
    }

    /// The child's stdout: `Stdio::piped()` to read it through [`Child::stdout`], and so on.
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.set[1] = true;
        self
    }

    /// The child's stderr: `Stdio::piped()` to read it through [`Child::stderr`], and so on.
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.set[2] = true;
        self
    }

    /// Whether dropping the [`Child`] before it was reaped sends it `SIGKILL` (off by default,
    /// as with std, where a dropped child runs on). Either way nbio reaps it.
    ///
    /// ```
    /// use nbio::process::Command;
    ///
    /// nbio::block_on(async {
    ///     let child = Command::new("sleep").arg("1000").kill_on_drop(true).spawn()?;
    ///     drop(child); // sleep gets SIGKILL, and nbio's reaper thread reaps it
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// For nbio's tests: wait for this command's children on the blocking pool, as on a kernel
    /// without pidfds.
    #[doc(hidden)]
    pub fn wait_on_pool_for_tests(&mut self) -> &mut Command {
        self.pool = true;
        self
    }

    /// std's command, to read back what was set (`get_program`, `get_args`, `get_envs`, ...).
    pub fn as_std(&self) -> &process::Command {
        &self.std
    }

    /// std's command, for what this builder does not repeat (`std::os::unix::process::
    /// CommandExt`: `uid`, `process_group`, `pre_exec`, ...).
    pub fn as_std_mut(&mut self) -> &mut process::Command {
        &mut self.std
    }

    /// Starts the child. Works outside a runtime too; its pipes and its exit are registered
    /// with the runtime that first waits on them.
    ///
    /// The call itself is synchronous, as std's: `fork`/`exec` and the wait for the child to
    /// report that `exec` worked, about a millisecond (1.3 ms each for 200 `sh` children in a
    /// row, in a debug build on a busy 2-core machine). Spawning hundreds in one poll holds the
    /// thread that long; spread them over tasks, or yield between them.
    ///
    /// ```
    /// let err = nbio::process::Command::new("no-such-program-here").spawn().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// assert!(err.to_string().contains("no-such-program-here"));
    /// ```
    ///
    /// # Errors
    /// std's, with the program named in the message: `NotFound` for a program that is not
    /// there, `PermissionDenied` for one that may not be run, ...
    pub fn spawn(&mut self) -> io::Result<Child> {
        exit::sweep_orphans();
        let std = self.std.spawn().map_err(|err| self.name_in(err))?;
        Child::new(std, self.kill_on_drop, self.pool)
    }

    /// Runs the child to its end, its standard streams inherited unless set, and returns how
    /// it ended.
    ///
    /// Cancel safety: dropping the future drops the child: with `kill_on_drop` it is killed,
    /// otherwise it runs on. Either way it is reaped.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn) and [`Child::wait`].
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait().await
    }

    /// Runs the child to its end and collects its stdout and stderr (piped unless set; stdin
    /// is `Stdio::null()` unless set), read at once while it runs, so that a child that prints
    /// much never stalls on a full pipe.
    ///
    /// Cancel safety: as [`status`](Self::status); what was read so far is lost.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), [`Child::wait`], and a read of the pipes.
    pub async fn output(&mut self) -> io::Result<Output> {
        let [stdin, stdout, stderr] = self.set;
        let child = self.spawn_for_output(stdin, stdout, stderr);
        let mut child = child?;
        let (out, err) = (child.stdout.take(), child.stderr.take());
        let ((stdout, stderr), status) = futures_lite::future::zip(
            futures_lite::future::zip(read_all(out), read_all(err)),
            child.wait(),
        )
        .await;
        Ok(Output {
            status: status?,
            stdout: stdout?,
            stderr: stderr?,
        })
    }

    /// Spawns with `output`'s defaults for the streams not set, then puts std's default
    /// (inherit) back on them, so that a later `spawn` is not changed.
    fn spawn_for_output(&mut self, stdin: bool, stdout: bool, stderr: bool) -> io::Result<Child> {
        if !stdin {
            self.std.stdin(Stdio::null());
        }
        if !stdout {
            self.std.stdout(Stdio::piped());
        }
        if !stderr {
            self.std.stderr(Stdio::piped());
        }
        let child = self.spawn();
        for (set, reset) in [(stdin, 0), (stdout, 1), (stderr, 2)] {
            if !set {
                match reset {
                    0 => self.std.stdin(Stdio::inherit()),
                    1 => self.std.stdout(Stdio::inherit()),
                    _ => self.std.stderr(Stdio::inherit()),
                };
            }
        }
        child
    }

    /// std's spawn error, with the program named: "cannot run `frob`: No such file or
    /// directory (os error 2)", of the same kind.
    fn name_in(&self, err: io::Error) -> io::Error {
        let program = self.std.get_program().to_string_lossy();
        io::Error::new(err.kind(), format!("cannot run `{program}`: {err}"))
    }
}

/// Reads a pipe to its end; nothing if there is none.
///
/// Through a buffer of its own, not `read_to_end`: futures-lite's zeroes the spare capacity of
/// the `Vec` again at each poll that waits, which for a child that prints much is quadratic.
async fn read_all(pipe: Option<impl futures_lite::AsyncRead + Unpin>) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let Some(mut pipe) = pipe else {
        return Ok(out);
    };
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        match futures_lite::AsyncReadExt::read(&mut pipe, &mut chunk).await? {
            0 => return Ok(out),
            n => out.extend_from_slice(&chunk[..n]),
        }
    }
}

impl From<process::Command> for Command {
    /// Takes std's command as it is configured (its streams count as set only if set here).
    fn from(std: process::Command) -> Command {
        Command {
            std,
            kill_on_drop: false,
            set: [false; 3],
            pool: false,
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.std.fmt(f)?;
        if self.kill_on_drop {
            f.write_str(" (kill on drop)")?;
        }
        Ok(())
    }
}
