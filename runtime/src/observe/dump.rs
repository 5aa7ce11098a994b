//! `Runtime::dump()`: every live task, one line each, whether it can still run and what it waits
//! on (`diagnose`), the cycles of tasks that wait on each other; then every blocking job that is
//! queued or running, where it was spawned, for how long, and who waits on it.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

use super::explain::{human, thousands};
use super::shown::Shown;
use crate::diagnose::doomed;
use crate::diagnose::WaitOn;
use crate::task::TaskId;

/// The live tasks of a runtime, as they are now. Printing it gives one line per task, saying
/// what each waiting task waits on ("waits on Mutex made at src/main.rs:12, held by task#5"),
/// and marks the waits that nothing in the runtime can ever signal: a task on a cycle of tasks
/// waiting on each other (through `JoinHandle`s and `Mutex` holders), or waiting on one that
/// is. Whether something outside (a timer, a socket, another thread) could still break such a
/// cycle the dump does not know: the deadlock report, which fires only when nothing can, does.
///
/// ```
/// let rt = nbio::Runtime::new()?;
/// let handle = nbio::task::Builder::new().name("waiter").spawn_on(&rt, std::future::pending::<()>());
/// rt.block_on(nbio::yield_now()); // let it be polled once
/// let dump = rt.dump();
/// assert_eq!(dump.tasks().len(), 1);
/// assert_eq!(dump.tasks()[0].name.as_deref(), Some("waiter"));
/// assert!(dump.tasks()[0].can_never_run()); // pending() keeps no waker
/// println!("{dump}");
/// # drop(handle);
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Dump {
    pub(crate) tasks: Vec<TaskInfo>,
    pub(crate) jobs: Vec<JobInfo>,
}

impl Dump {
    /// The dump of `tasks` and `jobs`: marks the `JoinHandle` waits that are on jobs, and each
    /// task whose wait the graph says can never be signalled.
    pub(crate) fn new(mut tasks: Vec<TaskInfo>, jobs: Vec<JobInfo>) -> Dump {
        if !jobs.is_empty() {
            for task in &mut tasks {
                if let Some(WaitOn::Join(id)) = task.waits_on {
                    task.waits_on_job = jobs.iter().any(|job| job.id == id);
                }
            }
        }
        let edges: Vec<_> = tasks
            .iter()
            .filter(|task| task.state == TaskState::Idle)
            .map(|task| (task.id, task.waits_on.and_then(WaitOn::on_task)))
            .collect();
        let doomed = doomed(&edges);
        if !doomed.is_empty() {
            let at: std::collections::HashMap<TaskId, usize> = (tasks.iter().enumerate())
                .map(|(at, task)| (task.id, at))
                .collect();
            for (id, cycle) in doomed {
                tasks[at[&id]].wait_cycle = cycle;
            }
        }
        Dump { tasks, jobs }
    }

    /// The cycles of tasks waiting on each other, each once, as "task#3 (worker) waits on
    /// Mutex made at src/main.rs:12, held by task#5; task#5 waits on the JoinHandle of
    /// task#3".
    pub fn cycles(&self) -> Vec<String> {
        let mut seen: Vec<&[TaskId]> = Vec::new();
        let mut out = Vec::new();
        for task in &self.tasks {
            let cycle = task.wait_cycle();
            if cycle.is_empty() || seen.iter().any(|known| known.contains(&cycle[0])) {
                continue;
            }
            seen.push(cycle);
            let steps: Vec<String> = cycle
                .iter()
                .filter_map(|id| self.tasks.iter().find(|task| task.id == *id))
                .map(|task| format!("{} {}", self.label(task.id), self.shown(task)))
                .collect();
            out.push(steps.join("; "));
        }
        out
    }

    /// `fetch#12`, or `task#12`, with its host in a simulation: `task#12 on db2`.
    fn label(&self, id: TaskId) -> String {
        match self.tasks.iter().find(|task| task.id == id) {
            Some(task) => task.label(),
            None => format!("task#{}", id.0),
        }
    }

    fn shown(&self, task: &TaskInfo) -> String {
        match task.waits_on {
            Some(on) => Shown {
                on,
                is_job: task.waits_on_job,
                label: &|id| self.label(id),
            }
            .to_string(),
            None => match &task.net_wait {
                Some(wait) => format!("waits on {wait}"),
                None => "waits on something that does not say what".to_string(),
            },
        }
    }

    /// The live tasks, oldest first.
    pub fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }

    /// The blocking jobs queued or running on the runtime's pool, oldest first.
    ///
    /// ```
    /// let rt = nbio::Runtime::new()?;
    /// let (release, wait) = std::sync::mpsc::channel::<()>();
    /// let job = rt.spawn_blocking(move || wait.recv().ok());
    /// let dump = rt.dump();
    /// assert_eq!(dump.jobs().len(), 1);
    /// assert_eq!(dump.jobs()[0].id, job.id());
    /// println!("{dump}"); // "job#1 (spawned at ...): queued for ..." or "running on blocking 1 for ..."
    /// release.send(()).unwrap();
    /// rt.block_on(job).unwrap();
    /// assert!(rt.dump().jobs().is_empty());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn jobs(&self) -> &[JobInfo] {
        &self.jobs
    }
}

/// One blocking job in a [`Dump`] (or left running by
/// [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout)).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JobInfo {
    /// Its id, from the same counter as the runtime's tasks (`JoinHandle::id` names it too).
    pub id: TaskId,
    /// Where `spawn_blocking` (or the `nbio::fs` call, say) was called.
    pub spawned_at: &'static Location<'static>,
    /// Whether it waits in the queue or runs on a pool thread.
    pub state: JobState,
    /// How long it waited in the queue: until now if it still does.
    pub queued_for: Duration,
    /// How long it has been running, if it is.
    pub running_for: Option<Duration>,
    /// Who waits for its result.
    pub awaited_by: Awaiter,
}

/// Where a blocking job is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobState {
    /// In the pool's queue: every pool thread is busy and the pool is at its cap.
    Queued,
    /// Running on the named pool thread ("blocking 3").
    Running {
        /// The thread, as traces name its track.
        thread: String,
    },
}

/// Who waits for a blocking job's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Awaiter {
    /// This task awaits its `JoinHandle`.
    Task(TaskId),
    /// Code that is not an nbio task awaits it: the future passed to `block_on`, or a future
    /// polled by another executor.
    NotATask,
    /// Its `JoinHandle` exists but nobody is awaiting it right now.
    Nobody,
    /// Its `JoinHandle` was dropped: the job runs detached and its result will be dropped.
    Detached,
}

impl fmt::Display for JobInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job#{} (spawned at {}): ", self.id.0, self.spawned_at)?;
        match (&self.state, self.running_for) {
            (JobState::Running { thread }, Some(running)) => write!(
                f,
                "running on {thread} for {}, after {} in the queue",
                human(running),
                human(self.queued_for)
            )?,
            _ => write!(f, "queued for {}", human(self.queued_for))?,
        }
        match self.awaited_by {
            Awaiter::Task(id) => write!(f, "; awaited by task#{}", id.0),
            Awaiter::NotATask => write!(
                f,
                "; awaited by code outside any nbio task (block_on's future, say)"
            ),
            Awaiter::Nobody => write!(f, "; its JoinHandle is not being awaited"),
            Awaiter::Detached => write!(f, "; detached (its JoinHandle was dropped)"),
        }
    }
}

/// One live task in a [`Dump`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TaskInfo {
    /// Its id.
    pub id: TaskId,
    /// Its name, if it was spawned with [`task::Builder::name`](crate::task::Builder::name).
    pub name: Option<String>,
    /// The simulated host it belongs to (`nbio::sim`), printed as "task#7 on db2"; `None`
    /// outside a simulation.
    pub place: Option<String>,
    /// What it waits on in the simulated network (`nbio::sim`), if it waits there: "recv from
    /// db3:7000, partitioned since 4.2 s"; `None` outside a simulation.
    pub net_wait: Option<String>,
    /// Where it was spawned (unknown only past a million distinct spawn sites).
    pub spawned_at: Option<&'static Location<'static>>,
    /// Whether it is running, queued or waiting.
    pub state: TaskState,
    /// How many times it was polled (the count stops at 536,870,911).
    pub polls: u64,
    /// How long ago its last poll began, if it was ever polled.
    pub since_last_poll: Option<Duration>,
    /// What last made it runnable: "spawn", "a timer", "socket readiness", "another task", …
    pub last_woken_by: &'static str,
    /// Whether anything outside the runtime (a socket, a timer, another task, another thread)
    /// holds a waker of this task.
    pub waker_held: bool,
    /// On a multi-thread runtime, the index of the worker that last polled it (0 is the
    /// first); `None` on the current-thread runtime, or if it ran elsewhere.
    pub worker: Option<usize>,
    /// What it waits on, if it is idle and its last `Pending` came from a future of nbio that
    /// says (a socket, a timer, a `JoinHandle`, a channel, a lock, …).
    pub waits_on: Option<WaitOn>,
    /// The cycle of tasks waiting on each other that this task is on or waits into; empty if
    /// none.
    pub(crate) wait_cycle: Vec<TaskId>,
    /// Whether the `JoinHandle` it waits on is a blocking job's.
    pub(crate) waits_on_job: bool,
}

impl TaskInfo {
    /// `fetch#12` or `task#12`, and ` on db2` if it is a simulated host's.
    fn label(&self) -> String {
        let mut label = match &self.name {
            Some(name) => format!("{name}#{}", self.id.0),
            None => format!("task#{}", self.id.0),
        };
        if let Some(place) = &self.place {
            label.push_str(" on ");
            label.push_str(place);
        }
        label
    }

    /// A task that waits while nothing holds its waker can never be woken: it is stuck.
    pub fn can_never_run(&self) -> bool {
        self.state == TaskState::Idle && !self.waker_held
    }

    /// The tasks of the cycle its wait ends in (in the order they wait on each other), if it
    /// is on a cycle of tasks waiting on each other or waits on a task that is: then nothing
    /// in the runtime can ever signal its wait. Empty otherwise.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// let rt = nbio::Runtime::new()?;
    /// let other: Arc<Mutex<Option<nbio::task::JoinHandle<()>>>> = Arc::default();
    /// let first = rt.spawn({
    ///     let other = Arc::clone(&other);
    ///     async move {
    ///         nbio::yield_now().await;
    ///         let second = other.lock().unwrap().take().unwrap();
    ///         second.await.unwrap(); // the second waits on us: never
    ///     }
    /// });
    /// let first_id = first.id();
    /// *other.lock().unwrap() = Some(rt.spawn(async move { first.await.unwrap() }));
    /// rt.block_on(async { for _ in 0..4 { nbio::yield_now().await } });
    /// let dump = rt.dump();
    /// let task = dump.tasks().iter().find(|task| task.id == first_id).unwrap();
    /// assert_eq!(task.wait_cycle().len(), 2);
    /// println!("{dump}"); // "... waits on the JoinHandle of task#2; can never be signalled ..."
    /// # std::io::Result::Ok(())
    /// ```
    pub fn wait_cycle(&self) -> &[TaskId] {
        &self.wait_cycle
    }
}

/// Where a live task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Being polled right now.
    Running,
    /// In the run queue.
    Scheduled,
    /// Waiting to be woken.
    Idle,
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} live task(s):", self.tasks.len())?;
        for task in &self.tasks {
            writeln!(f, "  {task}")?;
        }
        for cycle in self.cycles() {
            writeln!(f, "tasks waiting on each other: {cycle}")?;
        }
        if !self.jobs.is_empty() {
            writeln!(f, "{} blocking job(s):", self.jobs.len())?;
            for job in &self.jobs {
                writeln!(f, "  {job}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.label())?;
        let state = match self.state {
            TaskState::Running => "running",
            TaskState::Scheduled => "scheduled",
            TaskState::Idle => "idle",
        };
        if let Some(at) = self.spawned_at {
            write!(f, " (spawned at {at})")?;
        }
        write!(f, ": {state}, {} poll(s)", thousands(self.polls))?;
        if let Some(worker) = self.worker {
            write!(f, ", last on worker {}", worker + 1)?;
        }
        if let Some(ago) = self.since_last_poll {
            write!(f, ", last polled {} ago", human(ago))?;
        }
        write!(f, ", last woken by {}", self.last_woken_by)?;
        if let Some(on) = self.waits_on {
            let label = |id: TaskId| format!("task#{}", id.0);
            let is_job = self.waits_on_job;
            write!(
                f,
                "; {}",
                Shown {
                    on,
                    is_job,
                    label: &label
                }
            )?;
        } else if let (Some(wait), TaskState::Idle) = (&self.net_wait, self.state) {
            write!(f, "; waits on {wait}")?;
        }
        if self.wait_cycle.contains(&self.id) {
            write!(
                f,
                "; can never be signalled: it is on a cycle of tasks waiting on each other"
            )?;
        } else if let Some(first) = self.wait_cycle.first() {
            write!(
                f,
                "; can never be signalled: it waits into a cycle of tasks waiting on each other \
                 (through task#{})",
                first.0
            )?;
        }
        if self.can_never_run() {
            write!(f, "; nothing holds its waker: it can never run again")
        } else if self.state == TaskState::Idle {
            write!(f, "; its waker is held elsewhere")
        } else {
            Ok(())
        }
    }
}
