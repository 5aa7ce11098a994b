//! The state both kinds of mpsc channel share, and its wake protocol.
//!
//! Everything lives under one lock: the queue of messages, the receiver's waker, the senders
//! waiting for room, the room kept for some of them, and the two ways a channel ends. One lock makes
//! the protocol short enough to read whole, and every step below is one critical section of a
//! few instructions; `docs/10-channels.md` measures what that costs against tokio and
//! async-channel, whose queues are lock-free.
//!
//! - A sender pushes its message and takes the receiver's waker, if one is stored, to wake it
//!   once the lock is released.
//! - A receiver that finds the queue empty stores its waker and returns `Pending`. The lock
//!   orders this against every push: a push either came before (and the receiver found the
//!   message) or after (and found the waker). No wake is lost.
//! - A bounded sender that finds the queue full parks in a waiter list. Its message stays in
//!   its send future: **a message belongs to its send until that send completes**, so a send
//!   dropped before (the losing branch of a `select!`, a `timeout` that elapsed) has sent
//!   nothing.
//! - Each message the receiver takes frees one slot of the queue. If senders are parked, the
//!   receiver *keeps the slot* for the first of them (`reserved`), marks its entry
//!   `Parked::Room` and wakes it; that sender's next poll moves its own message in. If the
//!   sender's future is dropped first, the kept slot passes to the next parked sender, or
//!   becomes free room again. So the queue never holds more than its capacity (`queue.len() +
//!   reserved <= capacity`), parked senders get in in the order they came, and a newcomer
//!   cannot slip in ahead of them: while anyone is parked, every slot is taken or kept.
//! - The channel ends when the receiver closes (or is dropped): parked senders, and those a
//!   slot was kept for, get their message back; later sends fail. Or when the last sender is
//!   dropped: the receiver drains what is left, then gets `None`.

use std::collections::VecDeque;
use std::fmt;
use std::mem;
use std::panic::Location;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::sync::PoisonError;
use std::task::{Context, Poll, Waker};

use super::{SendError, TryRecvError, TrySendError};
use crate::loom::{AtomicUsize, Mutex, MutexGuard};
use crate::sync::waiters::{store_waker_and_unlock, Key, WaitList, WakeList};
use crate::task::TaskId;

/// The shared part of a channel; each half holds an `Arc` of it.
pub(super) struct Chan<T> {
    inner: Mutex<Inner<T>>,
    /// Live sender handles; the last one to go ends the channel for the receiver.
    senders: AtomicUsize,
    /// How many messages the queue may hold; `usize::MAX` for an unbounded channel.
    capacity: usize,
    /// Where the channel was made: what a report of who waits on it names.
    made_at: &'static Location<'static>,
}

struct Inner<T> {
    queue: VecDeque<T>,
    /// Slots of the queue kept for parked senders that were woken to fill them (their entries
    /// say `Parked::Room`) and have not come back yet. With the queued messages, never more
    /// than the capacity: `queue.len() + reserved <= capacity`.
    reserved: usize,
    /// The receiver's waker, stored when it found the queue empty.
    receiver: Option<Waker>,
    /// The task that stored it, if it was a task of an nbio runtime.
    receiver_task: Option<TaskId>,
    /// Senders waiting for room (their messages stay in their futures).
    parked: WaitList<Parked>,
    /// The receiver closed or was dropped: no message is taken any more.
    closed: bool,
    /// Every sender is gone: no message will come after those queued.
    senders_gone: bool,
}

/// What became of a parked sender, written by whoever took it off the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Parked {
    /// Waiting for room.
    Waiting,
    /// A slot of the queue is kept for this sender (counted in `reserved`): its next poll
    /// moves its message in; dropped before, it passes the slot on.
    Room,
    /// The receiver closed the channel first: the send fails with its message.
    Refused,
}

/// A send in progress: its message, which stays here until it is queued (or given back), and
/// its entry in the waiter list while it waits.
pub(super) struct SendState<T> {
    pub(super) message: Option<T>,
    pub(super) parked: Option<Key>,
}

impl<T> Chan<T> {
    pub(super) fn new(capacity: usize, made_at: &'static Location<'static>) -> Chan<T> {
        Chan {
            inner: Mutex::new(Inner {
                // A bounded queue never grows past its capacity: reserve it, up to a point.
                queue: VecDeque::with_capacity(capacity.min(1024)),
                reserved: 0,
                receiver: None,
                receiver_task: None,
                parked: WaitList::new(),
                closed: false,
                senders_gone: false,
            }),
            senders: AtomicUsize::new(1),
            capacity,
            made_at,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // No code of the user runs under this lock (wakers are cloned before it is taken, and
        // wakers and messages are dropped after it is released), so a poisoned lock still
        // guards a consistent channel.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn made_at(&self) -> &'static Location<'static> {
        self.made_at
    }

    /// Queues `message` if there is room, waking the receiver.
    pub(super) fn try_send(&self, message: T) -> Result<(), TrySendError<T>> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(TrySendError::Closed(message));
        }
        if !self.has_room(&inner) {
            return Err(TrySendError::Full(message));
        }
        inner.queue.push_back(message);
        let receiver = inner.receiver.take();
        drop(inner);
        wake(receiver);
        Ok(())
    }

    /// Whether a newcomer's message fits: a free slot that is not kept for a parked sender.
    /// (While anyone is parked there is none: every slot is taken or kept.)
    #[inline]
    fn has_room(&self, inner: &Inner<T>) -> bool {
        inner.queue.len() + inner.reserved < self.capacity
    }

    /// The polled task waits on this channel: its dump line says so.
    #[inline]
    fn waiting(&self) {
        crate::context::waiting_on(crate::context::WaitOn::Channel {
            made_at: Some(self.made_at),
        });
    }

    /// Polls a bounded send: queue the message, or park (the message stays in `state`), or,
    /// parked, learn what became of the wait.
    pub(super) fn poll_send(
        &self,
        state: &mut SendState<T>,
        cx: &Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        if state.parked.is_some() {
            return self.poll_parked(state, cx);
        }
        if !crate::context::spend_budget() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let message = state
            .message
            .take()
            .expect("an mpsc send future was polled after it completed");
        // Parking stores a clone of the waker, made outside the lock (see `Chan::lock`): on
        // finding the queue full, the first pass lets go of the lock, clones, and looks again.
        let mut fresh = None;
        loop {
            let mut inner = self.lock();
            if inner.closed {
                drop(inner);
                drop(fresh);
                return Poll::Ready(Err(SendError(message)));
            }
            if self.has_room(&inner) {
                inner.queue.push_back(message);
                let receiver = inner.receiver.take();
                drop(inner);
                drop(fresh);
                wake(receiver);
                return Poll::Ready(Ok(()));
            }
            let Some(waker) = fresh.take() else {
                drop(inner);
                fresh = Some(cx.waker().clone());
                continue;
            };
            // Full: park, in the same critical section that saw it full, so that the receiver
            // cannot make room in between without finding us. The message stays ours.
            let key = inner.parked.push_back(waker, Parked::Waiting);
            drop(inner);
            state.message = Some(message);
            state.parked = Some(key);
            self.waiting();
            return Poll::Pending;
        }
    }

    /// Polls a parked send again: still waiting (this poll's waker stored), or a slot was kept
    /// for it (its message goes in now), or the channel closed (the message comes back).
    fn poll_parked(
        &self,
        state: &mut SendState<T>,
        cx: &Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        let mut fresh = None;
        loop {
            let mut inner = self.lock();
            let key = state.parked.as_ref().expect("a parked send has a key");
            let outcome = inner.parked.get(key).data;
            if outcome == Parked::Waiting {
                let (waker, fresh) = (cx.waker(), &mut fresh);
                if store_waker_and_unlock(inner, |i| &mut i.parked.get_mut(key).waker, waker, fresh)
                {
                    self.waiting();
                    return Poll::Pending;
                }
                continue;
            }
            let slot = inner.parked.remove(state.parked.take().expect("parked"));
            let message = state
                .message
                .take()
                .expect("a parked send keeps its message");
            if outcome == Parked::Room {
                inner.reserved -= 1;
            }
            if inner.closed {
                // Refused while parked, or closed before we came back to the kept slot.
                drop(inner);
                drop((slot, fresh));
                return Poll::Ready(Err(SendError(message)));
            }
            // The slot kept for us: our message goes in, and the receiver is woken for it.
            inner.queue.push_back(message);
            let receiver = inner.receiver.take();
            drop(inner);
            drop((slot, fresh));
            wake(receiver);
            return Poll::Ready(Ok(()));
        }
    }

    /// A send future is dropped while parked: its slot is given back, and its message, still
    /// in the future, is dropped with it after this returns, outside the lock: it was never
    /// sent. A slot of the queue kept for it passes to the next parked sender (or is free
    /// again).
    pub(super) fn cancel_send(&self, key: Key) {
        let (slot, next) = {
            let mut inner = self.lock();
            let slot = inner.parked.remove(key);
            let mut next = None;
            if slot.data == Parked::Room {
                inner.reserved -= 1;
                next = Self::slot_freed(&mut inner);
            }
            (slot, next)
        };
        drop(slot);
        wake(next);
    }

    /// Polls for a message.
    pub(super) fn poll_recv(&self, cx: &Context<'_>) -> Poll<Option<T>> {
        if !crate::context::spend_budget() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // A new waker to store is cloned outside the lock (see `Chan::lock`): the first pass
        // that needs one lets go of the lock, clones, and looks at the queue again.
        let mut fresh = None;
        loop {
            let mut inner = self.lock();
            if let Some((message, sender)) = Self::take(&mut inner) {
                drop(inner);
                drop(fresh);
                wake(sender);
                return Poll::Ready(Some(message));
            }
            if inner.closed || inner.senders_gone {
                drop(inner);
                drop(fresh);
                return Poll::Ready(None);
            }
            inner.receiver_task = crate::context::current_task().map(TaskId);
            let waker = cx.waker();
            if store_waker_and_unlock(inner, |inner| &mut inner.receiver, waker, &mut fresh) {
                self.waiting();
                return Poll::Pending;
            }
        }
    }

    /// Takes a message without waiting.
    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut inner = self.lock();
        if let Some((message, sender)) = Self::take(&mut inner) {
            drop(inner);
            wake(sender);
            return Ok(message);
        }
        if inner.closed || inner.senders_gone {
            return Err(TryRecvError::Disconnected);
        }
        Err(TryRecvError::Empty)
    }

    /// Under the lock: takes the first message. The slot it frees is kept for the first parked
    /// sender, whose waker is returned, to be woken once the lock is released.
    fn take(inner: &mut Inner<T>) -> Option<(T, Option<Waker>)> {
        let message = inner.queue.pop_front()?;
        // Whoever queued the message took the receiver's waker with it: none to forget.
        debug_assert!(
            inner.receiver.is_none(),
            "a receiver waker beside a message"
        );
        Some((message, Self::slot_freed(inner)))
    }

    /// Under the lock: a slot of the queue came free (a message taken, or a kept slot given
    /// up). It is kept for the first parked sender, if any, whose waker is returned to be
    /// woken after the lock; else it is free room.
    #[inline]
    fn slot_freed(inner: &mut Inner<T>) -> Option<Waker> {
        let waiter = inner.parked.pop_front()?;
        debug_assert_eq!(
            waiter.data,
            Parked::Waiting,
            "only waiting senders are queued"
        );
        waiter.data = Parked::Room;
        let waker = waiter.waker.take();
        inner.reserved += 1;
        waker
    }

    /// The receiver's waiting future is dropped: forget its waker (dropped after the lock).
    pub(super) fn forget_receiver(&self) {
        let forgotten = {
            let mut inner = self.lock();
            inner.receiver_task = None;
            inner.receiver.take()
        };
        drop(forgotten);
    }

    /// The receiver refuses further messages; parked senders get theirs back (as do those a
    /// slot was kept for, when they come back to it: they see `closed`).
    pub(super) fn close(&self) {
        let mut wakers = WakeList::new();
        {
            let mut inner = self.lock();
            inner.closed = true;
            inner.parked.drain(|waiter| {
                waiter.data = Parked::Refused;
                wakers.push(waiter.waker.take());
            });
        }
        wakers.wake_all();
    }

    /// The receiver is dropped: close, and drop its waker and the queued messages outside the
    /// lock (a message may hold a sender of this very channel, whose drop takes the lock).
    pub(super) fn receiver_dropped(&self) {
        self.close();
        let (waker, queued) = {
            let mut inner = self.lock();
            (inner.receiver.take(), mem::take(&mut inner.queue))
        };
        drop((waker, queued));
    }

    pub(super) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub(super) fn sender_cloned(&self) {
        self.senders.fetch_add(1, Relaxed);
    }

    /// A sender handle is dropped; the last one wakes the receiver to say the channel ended.
    pub(super) fn sender_dropped(&self) {
        if self.senders.fetch_sub(1, AcqRel) != 1 {
            return;
        }
        let receiver = {
            let mut inner = self.lock();
            inner.senders_gone = true;
            inner.receiver.take()
        };
        wake(receiver);
    }

    /// What `Debug` shows of a channel: where it was made, and who waits on it.
    pub(super) fn describe(&self, kind: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        let parked: Vec<_> = inner.parked.iter().filter_map(|w| w.task).collect();
        let mut out = f.debug_struct(kind);
        out.field("made_at", &format_args!("{}", self.made_at))
            .field("queued", &inner.queue.len());
        if self.capacity != usize::MAX {
            out.field("capacity", &self.capacity)
                .field("parked_senders", &inner.parked.len())
                .field("parked_tasks", &parked)
                .field("kept_for_woken_senders", &inner.reserved);
        }
        out.field("senders", &self.senders.load(Relaxed))
            .field("receiver_waiting", &inner.receiver_task)
            .field("closed", &inner.closed)
            .finish()
    }
}

/// Wakes a waker taken under the lock, now that it is released.
#[inline]
fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        crate::loom::wake_guarded(waker);
    }
}
