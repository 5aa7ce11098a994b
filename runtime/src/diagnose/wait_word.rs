//! The wait word: what a waiting future said it waits on, in one word of its task.
//!
//! In the article a generator that cannot go on says why as it yields (`yield 'w', sock`): the
//! loop knows which socket each one waits for. An nbio future says the same through
//! `context::waiting_on` at the one place it returns `Pending`: a socket (fd and direction), a
//! timer (its deadline), a child process's exit (its pid), a `JoinHandle` (task N, or blocking
//! job N), a channel, oneshot, `Notify`, `Semaphore`, `Barrier`, `OnceCell` or
//! `CancellationToken` or `duplex` pair (where it was made), a `Mutex` (where it was made and which task held it)
//! or an `RwLock` (where it was made and which task held it for writing). The task layer points each poll at one word of the polled task (`task/polled.rs`),
//! so a `Pending` pays one thread-local load and one plain store; each new poll clears the word,
//! so it always describes the *last* `Pending`. This file says what the bits mean: [`WaitOn`]
//! and its encoding, and which waits are edges of the wait graph (`graph.rs`).
//!
//! Task ids are numbered per runtime and the primitives work across runtimes, so a wait names a
//! task only if it is of the waiter's own runtime (`task::RuntimeNo` tells): task 8 of another
//! runtime is not followed to this one's task 8.

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
    /// The other parties of a `Barrier`.
    Barrier {
        /// Where it was made.
        made_at: Option<&'static Location<'static>>,
    },
    /// A `OnceCell` that another future is initialising.
    OnceCell {
        /// Where it was made.
        made_at: Option<&'static Location<'static>>,
    },
    /// The cancellation of a `CancellationToken` (its own, or an ancestor's).
    Cancelled {
        /// Where the token was made (its `new` or `child_token` call).
        made_at: Option<&'static Location<'static>>,
    },
    /// A `broadcast` channel's next value (a `Receiver::recv`).
    Broadcast {
        /// Where the channel was made.
        made_at: Option<&'static Location<'static>>,
    },
    /// A change of a `watch` channel's value (a `Receiver::changed`, a `Sender::closed`).
    Watch {
        /// Where the channel was made.
        made_at: Option<&'static Location<'static>>,
    },
    /// The other end of an in-memory `nbio::io::duplex` pair: bytes to read, or room to write.
    Duplex {
        /// Where the pair was made.
        made_at: Option<&'static Location<'static>>,
    },
    /// A read or a write lock of an `RwLock`.
    RwLock {
        /// Where it was made.
        made_at: Option<&'static Location<'static>>,
        /// The task that held it for writing when the waiter last looked, if a task of the
        /// waiter's runtime did. `None` also when readers hold it: a write waiting on readers
        /// waits on all of them, and names no single task (nor does the wait graph follow it).
        writer: Option<TaskId>,
    },
    /// The exit of a child process (`nbio::process::Child::wait`, `status`, `output`).
    ChildExit {
        /// The child's process id.
        pid: u32,
    },
}

const TAG_SHIFT: u32 = 60;
const PAYLOAD: u64 = (1 << TAG_SHIFT) - 1;
const READ: u64 = 1;
const WRITE: u64 = 2;
const TIMER: u64 = 3;
/// The same as `task::polled::JOIN_TAG`, which a `JoinHandle` writes (that layer cannot see
/// this one): the tests of `runtime/tests/wait_graph.rs` check a join reads back as one.
const JOIN: u64 = 4;
/// The same as `task::polled::JOIN_ELSEWHERE`: a `Join` of another runtime's task.
const ELSEWHERE: u64 = 1 << 58;
/// The same as `task::polled::OWN_WAKER`, in a `JOIN` or `MUTEX` word: the waker the wait
/// registered is the waiter's own (see [`edge`]).
const OWN_WAKER: u64 = 1 << 59;
const CHANNEL: u64 = 5;
const ONESHOT: u64 = 6;
const NOTIFY: u64 = 7;
const SEMAPHORE: u64 = 8;
const MUTEX: u64 = 9;
/// Laid out as `MUTEX`: the writer where the mutex has its holder.
const RWLOCK: u64 = 11;
/// The waits that say nothing but where their primitive was made share this tag, and say
/// which primitive in the byte above the site (bits 32 to 39): four bits of tag are few, and
/// kept for waits whose payload differs.
const MADE_AT_ONLY: u64 = 10;
const BARRIER: u64 = 1;
const ONCE_CELL: u64 = 2;
const CANCELLED: u64 = 3;
const BROADCAST: u64 = 4;
const WATCH: u64 = 5;
const DUPLEX: u64 = 6;
/// A child process's exit; the payload is its pid.
const CHILD_EXIT: u64 = 12;
/// A site as an offset from `ANCHOR` does not fit: "unknown".
const NO_SITE: u32 = u32::MAX;
/// The holder field of a mutex or the writer of an RwLock (27 bits, below `OWN_WAKER`); its
/// largest value means "a task, id too large".
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
    if address % std::mem::align_of::<Location<'static>>() != 0 {
        return None; // not an offset `site_bits` made: no `Location` lives there
    }
    // SAFETY: `bits` came from `site_bits`, which took the offset of a `&'static Location`
    // from the anchor and checked it fits; adding it back gives that reference's address,
    // whose provenance the `as usize` cast there exposed. A `'static` location lives forever.
    Some(unsafe { &*(address as *const Location<'static>) })
}

/// The payload of a `MUTEX` or `RWLOCK` wait: the task holding it (0 for none) above the site.
#[inline]
fn held_by(made_at: Option<&'static Location<'static>>, holder: Option<TaskId>) -> u64 {
    let holder = holder.map_or(0, |id| id.0.min(HOLDER_MAX));
    (holder << 32) | made_at.map_or(NO_SITE.into(), site_bits)
}

/// The task of a `MUTEX` or `RWLOCK` payload (`OWN_WAKER` already cleared).
fn holder_of(payload: u64) -> Option<TaskId> {
    match payload >> 32 {
        0 | HOLDER_MAX => None,
        id => Some(TaskId(id)),
    }
}

/// The payload of a `MADE_AT_ONLY` wait: which primitive, above where it was made.
#[inline]
fn made_at_only(which: u64, made_at: Option<&'static Location<'static>>) -> u64 {
    (which << 32) | made_at.map_or(NO_SITE.into(), site_bits)
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
            WaitOn::Mutex { made_at, holder } => (MUTEX, held_by(made_at, holder)),
            WaitOn::RwLock { made_at, writer } => (RWLOCK, held_by(made_at, writer)),
            WaitOn::Barrier { made_at } => (MADE_AT_ONLY, made_at_only(BARRIER, made_at)),
            WaitOn::OnceCell { made_at } => (MADE_AT_ONLY, made_at_only(ONCE_CELL, made_at)),
            WaitOn::Cancelled { made_at } => (MADE_AT_ONLY, made_at_only(CANCELLED, made_at)),
            WaitOn::Broadcast { made_at } => (MADE_AT_ONLY, made_at_only(BROADCAST, made_at)),
            WaitOn::Watch { made_at } => (MADE_AT_ONLY, made_at_only(WATCH, made_at)),
            WaitOn::Duplex { made_at } => (MADE_AT_ONLY, made_at_only(DUPLEX, made_at)),
            WaitOn::ChildExit { pid } => (CHILD_EXIT, u64::from(pid)),
        };
        (tag << TAG_SHIFT) | payload
    }

    /// What `word` says, if anything.
    pub(crate) fn decode(word: u64) -> Option<WaitOn> {
        let tag = word >> TAG_SHIFT;
        let payload = match tag {
            JOIN | MUTEX | RWLOCK => word & PAYLOAD & !OWN_WAKER,
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
                holder: holder_of(payload),
            },
            RWLOCK => WaitOn::RwLock {
                made_at: site_of(payload),
                writer: holder_of(payload),
            },
            // The kind first: a word of an unknown kind says nothing, not even a site.
            MADE_AT_ONLY => match payload >> 32 {
                BARRIER => WaitOn::Barrier {
                    made_at: site_of(payload),
                },
                ONCE_CELL => WaitOn::OnceCell {
                    made_at: site_of(payload),
                },
                CANCELLED => WaitOn::Cancelled {
                    made_at: site_of(payload),
                },
                BROADCAST => WaitOn::Broadcast {
                    made_at: site_of(payload),
                },
                WATCH => WaitOn::Watch {
                    made_at: site_of(payload),
                },
                DUPLEX => WaitOn::Duplex {
                    made_at: site_of(payload),
                },
                _ => return None,
            },
            CHILD_EXIT => WaitOn::ChildExit {
                pid: payload as u32,
            },
            _ => return None,
        })
    }

    /// The task this wait depends on, if it names one: the graph's edge.
    pub(crate) fn on_task(self) -> Option<TaskId> {
        match self {
            WaitOn::Join(id) => Some(id),
            WaitOn::Mutex { holder, .. } => holder,
            WaitOn::RwLock { writer, .. } => writer,
            _ => None,
        }
    }
}

/// The kind of wait a word says, as the trace's wait view groups them: `io`, `timer`,
/// `channel` (a message or a signal from another task: mpsc, oneshot, broadcast, watch, `Notify`,
/// a `Barrier`'s other parties, a `CancellationToken`, a `duplex` peer), `lock` (another task letting go: `Mutex`,
/// `Semaphore`, `RwLock`, a `OnceCell` another future initialises), `join` (a task's or a blocking job's
/// handle), or `other` (a future that does not say).
/// A child process's exit is `io`: on Linux it is the readiness of a descriptor (the child's
/// pidfd), as a socket's is.
pub(crate) fn kind_of(word: u64) -> &'static str {
    match WaitOn::decode(word) {
        Some(WaitOn::Socket { .. } | WaitOn::ChildExit { .. }) => "io",
        Some(WaitOn::Timer { .. }) => "timer",
        Some(WaitOn::Join(_) | WaitOn::JoinElsewhere(_)) => "join",
        Some(
            WaitOn::Channel { .. }
            | WaitOn::Oneshot { .. }
            | WaitOn::Notify { .. }
            | WaitOn::Barrier { .. }
            | WaitOn::Cancelled { .. }
            | WaitOn::Broadcast { .. }
            | WaitOn::Watch { .. }
            | WaitOn::Duplex { .. },
        ) => "channel",
        Some(
            WaitOn::Mutex { .. }
            | WaitOn::Semaphore { .. }
            | WaitOn::RwLock { .. }
            | WaitOn::OnceCell { .. },
        ) => "lock",
        None => "other",
    }
}

/// Whether `word` says a wait on a lock (a `Mutex`'s, a `Semaphore`'s or an `RwLock`'s).
pub(crate) fn is_lock_wait(word: u64) -> bool {
    matches!(word >> TAG_SHIFT, MUTEX | SEMAPHORE | RWLOCK)
}

/// What the word `slot` of an idle task says.
pub(crate) fn read(slot: &AtomicU64) -> Option<WaitOn> {
    WaitOn::decode(slot.load(Relaxed))
}

/// The task the wait `word` names, if the deadlock check may follow it: the wait is on a task
/// of the waiter's runtime, and it registered the waiter's own waker, so that the one waker it
/// holds is accounted for by that task (a combinator that hands its futures wakers of its own
/// holds the waiter's waker itself, for any of them to wake).
pub(crate) fn edge(word: u64) -> Option<TaskId> {
    if word & OWN_WAKER == 0 {
        return None;
    }
    WaitOn::decode(word).and_then(WaitOn::on_task)
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
            WaitOn::Barrier {
                made_at: Some(here),
            },
            WaitOn::Barrier { made_at: None },
            WaitOn::OnceCell {
                made_at: Some(here),
            },
            WaitOn::Cancelled {
                made_at: Some(here),
            },
            WaitOn::Cancelled { made_at: None },
            WaitOn::Broadcast {
                made_at: Some(here),
            },
            WaitOn::Broadcast { made_at: None },
            WaitOn::Watch {
                made_at: Some(here),
            },
            WaitOn::Watch { made_at: None },
            WaitOn::Duplex {
                made_at: Some(here),
            },
            WaitOn::Duplex { made_at: None },
            WaitOn::RwLock {
                made_at: Some(here),
                writer: Some(TaskId(9)),
            },
            WaitOn::RwLock {
                made_at: None,
                writer: None,
            },
            WaitOn::ChildExit { pid: 4_194_304 },
            WaitOn::ChildExit { pid: 1 },
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
        assert_eq!(
            WaitOn::decode((MADE_AT_ONLY << TAG_SHIFT) | (99 << 32)),
            None,
            "an unknown primitive under the shared tag is no wait"
        );
    }

    #[test]
    fn the_waits_sharing_a_tag_fall_into_their_kinds() {
        let made_at = Some(Location::caller());
        let kind = |wait: WaitOn| kind_of(wait.encode());
        assert_eq!(kind(WaitOn::Barrier { made_at }), "channel");
        assert_eq!(kind(WaitOn::Cancelled { made_at }), "channel");
        assert_eq!(kind(WaitOn::Broadcast { made_at }), "channel");
        assert_eq!(kind(WaitOn::Watch { made_at }), "channel");
        assert!(!is_lock_wait(WaitOn::Watch { made_at }.encode()));
        assert_eq!(kind(WaitOn::Duplex { made_at }), "channel");
        assert!(!is_lock_wait(WaitOn::Duplex { made_at }.encode()));
        assert_eq!(kind(WaitOn::OnceCell { made_at }), "lock");
        assert!(!is_lock_wait(WaitOn::OnceCell { made_at }.encode()));
        assert_eq!(WaitOn::OnceCell { made_at }.on_task(), None);
    }

    #[test]
    fn a_read_waiting_on_a_writer_is_a_lock_wait_on_that_task() {
        let made_at = Some(Location::caller());
        let writer = Some(TaskId(3));
        let word = WaitOn::RwLock { made_at, writer }.encode();
        assert_eq!(kind_of(word), "lock");
        assert!(is_lock_wait(word));
        assert_eq!(edge(word), None, "not the waiter's own waker: no edge");
        assert_eq!(edge(word | OWN_WAKER), writer);
        assert_eq!(
            WaitOn::decode(word | OWN_WAKER),
            Some(WaitOn::RwLock { made_at, writer })
        );
        let on_readers = WaitOn::RwLock {
            made_at,
            writer: None,
        };
        assert_eq!(edge(on_readers.encode() | OWN_WAKER), None);
    }

    #[test]
    fn a_child_exit_is_an_io_wait_on_no_task() {
        let wait = WaitOn::ChildExit { pid: 77 };
        assert_eq!(kind_of(wait.encode()), "io");
        assert_eq!(wait.on_task(), None);
        assert_eq!(edge(wait.encode()), None);
        assert!(!is_lock_wait(wait.encode()));
    }
}
