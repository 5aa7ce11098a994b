//! The wait graph: what each waiting task waits on, in one word per task, and the cycles of
//! tasks that wait on each other.
//!
//! In the article a generator that cannot go on says why as it yields (`yield 'w', sock`):
//! the loop knows which socket each one waits for. An nbio future says the same through
//! `context::waiting_on` at the one place it returns `Pending`: a socket (fd and direction), a
//! timer (its deadline), a `JoinHandle` (task N, or blocking job N), a channel, oneshot,
//! `Notify`, `Semaphore` (where it was made) or a `Mutex` (where it was made and which task
//! held it). The note goes into a word of the polled task's header that the observer owns
//! (`Header::waits`, reached through `task/waiting.rs`): a poll that returns `Pending` pays one thread-local load and one plain
//! store; each new poll clears the word, so it always describes the *last* `Pending`.
//!
//! A dump reads the words back ([`WaitOn`]) and follows the edges that point at tasks (a
//! `JoinHandle` names its task, a `Mutex` its holder). Task ids are numbered per runtime and
//! the primitives work across runtimes, so a recorder names a task only if it is of the
//! waiter's own runtime (`task::RuntimeNo` tells): task 8 of another runtime is not followed
//! to this one's task 8. A chain of idle tasks that comes back on itself is a cycle that
//! nothing inside it can break, and every task on or into it is marked. Whether anything *outside* could still break it (a timer, a socket, a waker held by
//! another thread) is the deadlock check's business, not this file's.

use std::collections::HashMap;
use std::fmt;
use std::os::fd::RawFd;
use std::panic::Location;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::task::TaskId;

/// What a waiting task waits on, as it said at its last `Pending` (see [`TaskInfo::waits_on`]).
///
/// [`TaskInfo::waits_on`]: crate::task::TaskInfo::waits_on
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitOn {
    /// Readiness of a socket (or an `AsyncFd`): readable or writable.
    Socket {
        /// The file descriptor.
        fd: RawFd,
        /// True when it waits to write, false to read.
        write: bool,
    },
    /// A timer (`sleep`, `timeout`, `Interval`) falling due.
    Timer {
        /// When it falls due (to the millisecond or so).
        deadline: Instant,
    },
    /// The `JoinHandle` of a task, or of a blocking job (the dump says which), of the waiter's
    /// runtime.
    Join(TaskId),
    /// The `JoinHandle` of a task, or of a blocking job, of another runtime than the waiter's:
    /// the id is in that runtime's numbering, so the wait graph does not follow it.
    JoinElsewhere(TaskId),
    /// An `mpsc` channel (a `recv`, or a `send` waiting for room).
    Channel {
        /// Where the channel was made; `None` if it could not be recorded.
        made_at: Option<&'static Location<'static>>,
    },
    /// A `oneshot` channel's value.
    Oneshot {
        /// Where the channel was made.
        made_at: Option<&'static Location<'static>>,
    },
    /// A `Notify`.
    Notify {
        /// Where it was made.
        made_at: Option<&'static Location<'static>>,
    },
    /// A permit of a `Semaphore`.
    Semaphore {
        /// Where it was made.
        made_at: Option<&'static Location<'static>>,
    },
    /// The lock of a `Mutex`.
    Mutex {
        /// Where it was made.
        made_at: Option<&'static Location<'static>>,
        /// The task that held it when the waiter last looked, if a task of the waiter's runtime
        /// did (`None`: the future given to `block_on`, code outside any runtime, or a task of
        /// another runtime, whose id would name another task here).
        holder: Option<TaskId>,
    },
}

const TAG_SHIFT: u32 = 60;
const PAYLOAD: u64 = (1 << TAG_SHIFT) - 1;
const READ: u64 = 1;
const WRITE: u64 = 2;
const TIMER: u64 = 3;
/// The same as `task::waiting::JOIN_TAG`, which a `JoinHandle` writes (that layer cannot see
/// this one): `wait_graph.rs` checks a join reads back as one.
const JOIN: u64 = 4;
/// The same as `task::waiting::JOIN_ELSEWHERE`: a `Join` of another runtime's task.
const ELSEWHERE: u64 = 1 << 58;
/// The same as `task::waiting::OWN_WAKER`, in a `JOIN` or `MUTEX` word: the waker the wait
/// registered is the waiter's own (see [`edge`]).
const OWN_WAKER: u64 = 1 << 59;
const CHANNEL: u64 = 5;
const ONESHOT: u64 = 6;
const NOTIFY: u64 = 7;
const SEMAPHORE: u64 = 8;
const MUTEX: u64 = 9;
/// A site as an offset from `ANCHOR` does not fit: "unknown".
const NO_SITE: u32 = u32::MAX;
/// The holder field of a mutex (27 bits, below `OWN_WAKER`); its largest value means "a task,
/// id too large".
const HOLDER_MAX: u64 = (1 << 27) - 1;

/// Sites are stored as 32-bit offsets from this static: the `Location`s of a program live
/// beside it in its read-only data, a few megabytes away at most.
static ANCHOR: u8 = 0;

fn anchor() -> usize {
    std::ptr::addr_of!(ANCHOR) as usize
}

#[inline]
fn site_bits(site: &'static Location<'static>) -> u64 {
    let offset = (site as *const Location<'static> as usize).wrapping_sub(anchor()) as isize;
    match i32::try_from(offset) {
        Ok(offset) if offset as u32 != NO_SITE => u64::from(offset as u32),
        _ => u64::from(NO_SITE),
    }
}

fn site_of(bits: u64) -> Option<&'static Location<'static>> {
    let offset = bits as u32;
    if offset == NO_SITE {
        return None;
    }
    let address = anchor().wrapping_add(offset as i32 as isize as usize);
    // SAFETY: `bits` came from `site_bits`, which took the offset of a `&'static Location`
    // from the anchor and checked it fits; adding it back gives that reference's address,
    // whose provenance the `as usize` cast there exposed. A `'static` location lives forever.
    Some(unsafe { &*(address as *const Location<'static>) })
}

/// Deadlines are stored as nanoseconds since the first time one was (60 bits: 36 years); one
/// already past then reads back as "due".
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl WaitOn {
    /// The word that says it. Inlined: each caller knows which kind it says, and the match
    /// folds away (out of line, the encoding was a fifth of `oneshot_wait`'s extra cost).
    #[inline]
    pub(crate) fn encode(self) -> u64 {
        let (tag, payload) = match self {
            WaitOn::Socket { fd, write } => (if write { WRITE } else { READ }, fd as u32 as u64),
            WaitOn::Timer { deadline } => {
                let nanos = deadline.saturating_duration_since(epoch()).as_nanos();
                (TIMER, (nanos.min(u128::from(PAYLOAD))) as u64)
            }
            WaitOn::Join(id) => (JOIN, id.0 & (ELSEWHERE - 1)),
            WaitOn::JoinElsewhere(id) => (JOIN, ELSEWHERE | (id.0 & (ELSEWHERE - 1))),
            WaitOn::Channel { made_at } => (CHANNEL, made_at.map_or(NO_SITE.into(), site_bits)),
            WaitOn::Oneshot { made_at } => (ONESHOT, made_at.map_or(NO_SITE.into(), site_bits)),
            WaitOn::Notify { made_at } => (NOTIFY, made_at.map_or(NO_SITE.into(), site_bits)),
            WaitOn::Semaphore { made_at } => (SEMAPHORE, made_at.map_or(NO_SITE.into(), site_bits)),
            WaitOn::Mutex { made_at, holder } => {
                let holder = holder.map_or(0, |id| id.0.min(HOLDER_MAX));
                let site = made_at.map_or(NO_SITE.into(), site_bits);
                (MUTEX, (holder << 32) | site)
            }
        };
        (tag << TAG_SHIFT) | payload
    }

    /// What `word` says, if anything.
    pub(crate) fn decode(word: u64) -> Option<WaitOn> {
        let tag = word >> TAG_SHIFT;
        let payload = match tag {
            JOIN | MUTEX => word & PAYLOAD & !OWN_WAKER,
            _ => word & PAYLOAD,
        };
        Some(match tag {
            READ | WRITE => WaitOn::Socket {
                fd: payload as u32 as RawFd,
                write: tag == WRITE,
            },
            TIMER => WaitOn::Timer {
                deadline: epoch() + Duration::from_nanos(payload),
            },
            JOIN if payload & ELSEWHERE != 0 => WaitOn::JoinElsewhere(TaskId(payload & !ELSEWHERE)),
            JOIN => WaitOn::Join(TaskId(payload)),
            CHANNEL => WaitOn::Channel {
                made_at: site_of(payload),
            },
            ONESHOT => WaitOn::Oneshot {
                made_at: site_of(payload),
            },
            NOTIFY => WaitOn::Notify {
                made_at: site_of(payload),
            },
            SEMAPHORE => WaitOn::Semaphore {
                made_at: site_of(payload),
            },
            MUTEX => WaitOn::Mutex {
                made_at: site_of(payload),
                holder: match payload >> 32 {
                    0 | HOLDER_MAX => None,
                    id => Some(TaskId(id)),
                },
            },
            _ => return None,
        })
    }

    /// The task this wait depends on, if it names one: the graph's edge.
    pub(crate) fn on_task(self) -> Option<TaskId> {
        match self {
            WaitOn::Join(id) => Some(id),
            WaitOn::Mutex { holder, .. } => holder,
            _ => None,
        }
    }
}

/// The kind of wait a word says, as the trace's wait view groups them: `io`, `timer`,
/// `channel` (mpsc, oneshot, `Notify`), `lock` (`Mutex`, `Semaphore`), `join` (a task's or a
/// blocking job's handle), or `other` (a future that does not say).
pub(crate) fn kind_of(word: u64) -> &'static str {
    match WaitOn::decode(word) {
        Some(WaitOn::Socket { .. }) => "io",
        Some(WaitOn::Timer { .. }) => "timer",
        Some(WaitOn::Join(_) | WaitOn::JoinElsewhere(_)) => "join",
        Some(WaitOn::Channel { .. } | WaitOn::Oneshot { .. } | WaitOn::Notify { .. }) => "channel",
        Some(WaitOn::Mutex { .. } | WaitOn::Semaphore { .. }) => "lock",
        None => "other",
    }
}

/// Whether `word` says a wait on a lock (a `Mutex`'s or a `Semaphore`'s).
pub(crate) fn is_lock_wait(word: u64) -> bool {
    matches!(word >> TAG_SHIFT, MUTEX | SEMAPHORE)
}

/// What the word `slot` of an idle task says.
pub(crate) fn read(slot: &AtomicU64) -> Option<WaitOn> {
    WaitOn::decode(slot.load(Relaxed))
}

/// The task the wait in `slot` names, if the deadlock check may follow it: the wait is on a
/// task of the waiter's runtime, and it registered the waiter's own waker, so that the one
/// waker it holds is accounted for by that task (a combinator that hands its futures wakers of
/// its own holds the waiter's waker itself, for any of them to wake).
pub(crate) fn edge(slot: &AtomicU64) -> Option<TaskId> {
    let word = slot.load(Relaxed);
    if word & OWN_WAKER == 0 {
        return None;
    }
    WaitOn::decode(word).and_then(WaitOn::on_task)
}

/// The tasks of a dump whose wait can never be signalled by anything in the graph: each is on
/// a cycle of tasks waiting on each other, or waits on a task that is. For each, the cycle it
/// ends in (in the order the edges go, starting on the cycle).
///
/// `edges` gives, for each idle task, the task its wait names (a functional graph: one edge
/// at most per task).
pub(crate) fn doomed(edges: &[(TaskId, Option<TaskId>)]) -> Vec<(TaskId, Vec<TaskId>)> {
    // One walk per task at most: each task is settled once (its cycle known, or none), and a
    // walk stops at the first settled task. Linear in the number of tasks, for dumps of many.
    let index: HashMap<TaskId, usize> = edges
        .iter()
        .enumerate()
        .map(|(at, (id, _))| (*id, at))
        .collect();
    let next = |at: usize| edges[at].1.and_then(|on| index.get(&on).copied());
    // Per task: `None` unsettled, `Some(None)` no cycle, `Some(Some(c))` ends in cycle `c`.
    let mut settled: Vec<Option<Option<usize>>> = vec![None; edges.len()];
    let mut cycles: Vec<Vec<TaskId>> = Vec::new();
    for start in 0..edges.len() {
        let mut path: Vec<usize> = Vec::new();
        let mut at = Some(start);
        let outcome = loop {
            let Some(here) = at else { break None };
            if let Some(known) = settled[here] {
                break known;
            }
            if let Some(position) = path.iter().position(|&seen| seen == here) {
                cycles.push(path[position..].iter().map(|&at| edges[at].0).collect());
                break Some(cycles.len() - 1);
            }
            path.push(here);
            at = next(here);
        };
        for at in path {
            settled[at] = Some(outcome);
        }
    }
    let mut doomed = Vec::new();
    for (at, (id, _)) in edges.iter().enumerate() {
        if let Some(Some(cycle)) = settled[at] {
            // Each member sees the cycle starting from itself; those waiting into it see it
            // from where they enter.
            let cycle = &cycles[cycle];
            let from = cycle.iter().position(|member| member == id).unwrap_or(0);
            let mut rotated = cycle[from..].to_vec();
            rotated.extend_from_slice(&cycle[..from]);
            doomed.push((*id, rotated));
        }
    }
    doomed
}

/// Prints a wait as a dump line's tail: "waits on Mutex made at src/main.rs:12, held by task
/// 5". `job` says whether a `Join` target is a blocking job.
pub(crate) struct Shown<'a> {
    pub(crate) on: WaitOn,
    pub(crate) is_job: bool,
    pub(crate) label: &'a dyn Fn(TaskId) -> String,
}

fn made(f: &mut fmt::Formatter<'_>, what: &str, at: Option<&Location<'_>>) -> fmt::Result {
    match at {
        Some(at) => write!(f, "{what} made at {at}"),
        None => write!(f, "{what} (where it was made is not known)"),
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("waits on ")?;
        match self.on {
            WaitOn::Socket { fd, write } => {
                let dir = if write { "writable" } else { "readable" };
                write!(f, "fd {fd} becoming {dir}")
            }
            WaitOn::Timer { deadline } => {
                let now = Instant::now();
                match deadline.checked_duration_since(now) {
                    Some(left) => write!(f, "a timer due in {}", super::human(left)),
                    None => write!(f, "a timer that is due"),
                }
            }
            WaitOn::Join(id) if self.is_job => write!(f, "the JoinHandle of blocking job#{}", id.0),
            WaitOn::Join(id) => write!(f, "the JoinHandle of {}", (self.label)(id)),
            WaitOn::JoinElsewhere(id) => {
                write!(f, "the JoinHandle of #{} of another runtime", id.0)
            }
            WaitOn::Channel { made_at } => made(f, "an mpsc channel", made_at),
            WaitOn::Oneshot { made_at } => made(f, "a oneshot channel", made_at),
            WaitOn::Notify { made_at } => made(f, "a Notify", made_at),
            WaitOn::Semaphore { made_at } => made(f, "a Semaphore", made_at),
            WaitOn::Mutex { made_at, holder } => {
                made(f, "Mutex", made_at)?;
                match holder {
                    Some(id) => write!(f, ", held by {}", (self.label)(id)),
                    None => f.write_str(", held by no task of this runtime"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wait_survives_its_word() {
        let here = Location::caller();
        let deadline = Instant::now() + Duration::from_millis(250);
        let waits = [
            WaitOn::Socket { fd: 7, write: true },
            WaitOn::Socket {
                fd: 0,
                write: false,
            },
            WaitOn::Join(TaskId(42)),
            WaitOn::JoinElsewhere(TaskId(42)),
            WaitOn::Channel {
                made_at: Some(here),
            },
            WaitOn::Oneshot { made_at: None },
            WaitOn::Notify {
                made_at: Some(here),
            },
            WaitOn::Semaphore {
                made_at: Some(here),
            },
            WaitOn::Mutex {
                made_at: Some(here),
                holder: Some(TaskId(5)),
            },
            WaitOn::Mutex {
                made_at: Some(here),
                holder: None,
            },
        ];
        for wait in waits {
            assert_eq!(WaitOn::decode(wait.encode()), Some(wait));
        }
        let Some(WaitOn::Timer { deadline: back }) =
            WaitOn::decode(WaitOn::Timer { deadline }.encode())
        else {
            panic!("a timer came back as something else");
        };
        let apart = back.max(deadline) - back.min(deadline);
        assert!(apart < Duration::from_micros(1), "{apart:?}");
        assert_eq!(WaitOn::decode(0), None);
    }

    #[test]
    fn a_cycle_dooms_its_members_and_those_waiting_on_them_only() {
        let t = TaskId;
        let edges = [
            (t(1), Some(t(2))),
            (t(2), Some(t(3))),
            (t(3), Some(t(2))),
            (t(4), None),
            (t(5), Some(t(4))),
        ];
        let doomed = doomed(&edges);
        let ids: Vec<_> = doomed.iter().map(|(id, _)| id.0).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(doomed[0].1, [t(2), t(3)]);
        assert_eq!(doomed[1].1, [t(2), t(3)]);
        assert_eq!(doomed[2].1, [t(3), t(2)]);
    }
}
