//! How a simulation fails: [`SimError`], which always says the seed that replays it.

use std::fmt;
use std::time::Duration;

/// A run that failed: what went wrong, when (in virtual time), and the faults injected until
/// then. Its `Display` starts with `NBIO_SEED=<n> replays this run`.
#[derive(Clone, Debug)]
pub struct SimError {
    /// The seed that replays the run.
    pub seed: u64,
    /// Virtual time from the start to the failure.
    pub at: Duration,
    /// What went wrong.
    pub failure: SimFailure,
    /// The faults injected before it, in order, each with its time.
    pub faults: Vec<String>,
}

/// What made a run fail.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimFailure {
    /// A task of a host or client panicked.
    Panic {
        /// The host (or client) it belonged to.
        host: String,
        /// What the panic said.
        message: String,
    },
    /// A host's or client's future returned an error.
    Failed {
        /// The host (or client).
        host: String,
        /// The error, as text.
        message: String,
    },
    /// The virtual time limit passed with a client still running: a deadlock, a livelock, or
    /// a limit too short.
    TimeLimit {
        /// The limit.
        limit: Duration,
        /// When the network last did anything.
        last_event: Duration,
    },
    /// Nothing in the simulation could ever happen again while a client was still running: no
    /// task could run, no timer was pending, no message was in flight (a deadlock); or tasks
    /// waited on each other in a cycle. `SimError::at` is when the run last moved.
    Deadlock {
        /// The cycles of tasks waiting on each other, each as "task#3 on db1 waits on Mutex
        /// made at src/lib.rs:12, held by task#5 on db1; task#5 on db1 waits on ...".
        cycles: Vec<String>,
        /// Every task of every host, one line each: its host, its state, what it waits on.
        tasks: Vec<String>,
    },
    /// Tasks were polled over and over while the virtual clock stood still: some task never
    /// waits (a retry loop with no sleep), and time could never move again.
    Livelock {
        /// The host whose task was polled last.
        host: String,
        /// How many polls one instant saw.
        polls: u64,
    },
    /// Code inside a host reached outside the simulation: a real socket, a blocking job, a
    /// wake from a thread outside the simulation, a wait on another runtime's task.
    Leak {
        /// The host.
        host: String,
        /// What it did, and where (the call site).
        message: String,
    },
    /// The runtime stopped the run (a deadlock it proved outside the simulation's own check),
    /// or could not start it.
    Stuck(String),
}

impl fmt::Display for SimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimFailure::Panic { host, message } => {
                write!(f, "a task of {host} panicked: {message}")
            }
            SimFailure::Failed { host, message } => write!(f, "{host} failed: {message}"),
            SimFailure::TimeLimit { limit, last_event } => write!(
                f,
                "the virtual time limit of {limit:?} passed with a client still running (the \
                 network last did something at {last_event:?}: a deadlock?)"
            ),
            SimFailure::Deadlock { cycles, .. } => {
                if cycles.is_empty() {
                    write!(
                        f,
                        "a deadlock: a client is still running, but no task can run, no timer \
                         is pending and no message is in flight, so nothing in the simulation \
                         can happen again"
                    )?;
                } else {
                    write!(
                        f,
                        "a deadlock: tasks wait on each other in a cycle: {}",
                        cycles.join("; and in another: ")
                    )?;
                }
                Ok(())
            }
            SimFailure::Livelock { host, polls } => write!(
                f,
                "a livelock: {polls} polls of hosts' tasks (the last on {host}) without the \
                 virtual clock moving; a task that never waits holds it still"
            ),
            SimFailure::Leak { message, .. } => write!(f, "{message}"),
            SimFailure::Stuck(report) => write!(f, "the runtime stopped the run: {report}"),
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "NBIO_SEED={} replays this run: {} (at {:?} of virtual time); ",
            self.seed, self.failure, self.at
        )?;
        if self.faults.is_empty() {
            write!(f, "no faults were injected")?;
        } else {
            write!(f, "faults so far: {}", self.faults.join(", "))?;
        }
        if let SimFailure::Deadlock { tasks, .. } = &self.failure {
            write!(f, "\nthe tasks of the hosts, and what each waits on:")?;
            tasks.iter().try_for_each(|task| write!(f, "\n  {task}"))?;
        }
        Ok(())
    }
}

impl std::error::Error for SimError {}
