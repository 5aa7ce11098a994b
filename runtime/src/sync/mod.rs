//! Tasks that talk to each other and share things: channels, a mutex, a notifier, a
//! semaphore, a barrier, a cell set once and a cancellation signal.
//!
//! The article's generators share one list and never wait for each other. Tasks do: one
//! waits for a result another computes ([`oneshot`]), a consumer waits for producers
//! ([`mpsc`]), tasks take turns with shared data ([`Mutex`]), wait for "something changed"
//! ([`Notify`]), or for a free slot among `n` ([`Semaphore`]); an [`RwLock`] lets many readers
//! in at once, or one writer, and a writer that waits stops new readers. A [`Barrier`] holds
//! `n` tasks until the last of them arrives, then lets them all go on. A [`OnceCell`] is set once, by
//! the first task to ask, while the others wait for that value rather than make their own. A
//! [`CancellationToken`] tells a tree of tasks to stop: cancelling it cancels the tokens made
//! below it, never the one above. A [`broadcast`] channel gives every receiver every value
//! (one that falls too far behind is told how many it missed); a [`watch`] channel keeps
//! only the latest value, and its receivers wait for it to change. Each primitive is a small state machine plus a list of
//! waiting tasks (`waiters.rs`), and each wait follows the rule of every future in nbio:
//! **store the waker, then look again**, so that whatever the release does meanwhile, it finds
//! the waker or the waiter finds the release.
//!
//! What they all promise:
//! - `Send + Sync` when the data is `Send`: usable from tasks on any thread, from several
//!   runtimes, and from plain threads through [`block_on`](crate::block_on); they need no
//!   runtime of their own, only wakers.
//! - Fair: a [`Mutex`] and a [`Semaphore`] serve waiters in the order they came, and a bounded
//!   channel lets waiting senders in that order. A release hands the lock, permit or room
//!   straight to the first waiter, so a newcomer never takes it from under them.
//! - Cancel-safe: dropping a waiting future (`recv`, `send`, `lock`, `acquire`, `notified`)
//!   removes its entry and loses nothing; a lock, permit or notification already handed to it
//!   goes on to the next waiter. A `send` dropped before it completed has sent nothing (room
//!   made for it goes on to the next waiting sender). Each method's documentation says what
//!   its future promises, under "Cancel safety", and `tests/sync_cancel.rs` tests each claim.
//! - No code of yours runs under their locks: a waker is cloned before a primitive takes its
//!   lock, and woken or dropped (as is a message) after it lets go, so a waker whose clone,
//!   wake or drop calls back into the same primitive does not deadlock (`waiters.rs` says
//!   how; the oneshot has no lock at all).
//! - A wait that completes at once spends one unit of the poll's budget, as socket operations
//!   do (`recv`, `send`, `lock`, `acquire`, `notified`, a barrier's `wait`, a watch's
//!   `changed`; not the oneshot,
//!   which completes once), so a loop over a channel that another thread keeps full still
//!   lets the others run.
//!
//! A channel's sender may reserve a slot before its message exists ([`mpsc::Permit`]), and a
//! plain thread may send or receive by blocking ([`mpsc::Sender::blocking_send`]).
//!
//! Each primitive remembers where it was made (`made_at`, a `#[track_caller]` location), and
//! each waiter records which task waits; a [`Mutex`] records which task holds it. Their `Debug`
//! output shows it. The guide's chapter "How a channel wakes a task" narrates the protocols.

mod barrier;
mod cancel;
mod mutex;
mod notify;
mod once_cell;
mod rwlock;
mod semaphore;
mod waiters;

pub mod broadcast;
pub mod mpsc;
pub mod oneshot;
pub mod watch;

#[cfg(all(test, nbio_loom))]
mod loom_channels;
#[cfg(all(test, nbio_loom))]
mod loom_mpsc;
#[cfg(all(test, nbio_loom))]
mod loom_rwlock;
#[cfg(all(test, nbio_loom))]
mod loom_tests;

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult};
pub use cancel::{CancellationToken, Cancelled};
pub use mutex::{Lock, LockOwned, Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use once_cell::{OnceCell, SetError};
pub use rwlock::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, Read, ReadOwned, RwLock, RwLockReadGuard,
    RwLockWriteGuard, Write, WriteOwned,
};
pub use semaphore::{
    Acquire, AcquireError, AcquireOwned, OwnedSemaphorePermit, Semaphore, SemaphorePermit,
    TryAcquireError,
};
