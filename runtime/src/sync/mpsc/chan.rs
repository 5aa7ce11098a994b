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
//! - A reservation (`Sender::reserve`) is a send without its message: it waits in the same
//!   line, and what it is given is the slot itself, held by a `Permit` (counted in `reserved`
//!   and `permits`) until the permit sends into it or is dropped, which frees it as a taken
//!   message does: to the first parked sender.
//! - The channel ends when the receiver closes (or is dropped): parked senders, and those a
//!   slot was kept for, get their message back; later sends fail, but a permit already held
//!   may still send, and the receiver waits for it. Or when the last sender is dropped (a
//!   `WeakSender` does not count): the receiver drains what is left, then gets `None`.

use std::collections::VecDeque;
use std::fmt;
use std::mem;
use std::panic::Location;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::PoisonError;
use std::task::{Context, Poll, Waker};

use super::{SendError, TryRecvError, TrySendError};
use crate::loom::{AtomicUsize, Mutex, MutexGuard};
use crate::sync::waiters::{store_waker_and_unlock, Key, WaitList, WakeList};
use crate::task::TaskId;

mod closing;
mod reserve;
mod senders;

/// The shared part of a channel; each half holds an `Arc` of it.
pub(super) struct Chan<T> {
    inner: Mutex<Inner<T>>,
    /// Live sender handles; the last one to go ends the channel for the receiver. Once 0 it
    /// stays 0: a `WeakSender` upgrades only while it is not (`try_upgrade`).
    senders: AtomicUsize,
    /// Live `WeakSender` handles, for `weak_count` alone: they do not keep the channel open.
    weak_senders: AtomicUsize,
    /// How many messages the queue may hold; `usize::MAX` for an unbounded channel.
    capacity: usize,
    /// Where the channel was made: what a report of who waits on it names.
    made_at: &'static Location<'static>,
}

struct Inner<T> {
    queue: VecDeque<T>,
    /// Slots of the queue held out of it: kept for parked senders that were woken to fill them
    /// (their entries say `Parked::Room`) and have not come back yet, and held by permits. With
    /// the queued messages, never more than the capacity: `queue.len() + reserved <= capacity`.
    reserved: usize,
    /// How many of the `reserved` slots permits hold: each may still send, even after the
    /// receiver closed the channel, so the receiver waits for them before it says `None`.
    permits: usize,
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
    /// The receiver is dropped: a permit's message would never be taken, so it is dropped.
    receiver_gone: bool,
    /// Senders waiting in `Sender::closed` for the receiver to close or go.
    closing: WaitList<()>,
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
/// its entry in the waiter list while it waits. A reservation is one whose message is `()`.
pub(super) struct SendState<M> {
    pub(super) message: Option<M>,
    pub(super) parked: Option<Key>,
}

impl<M> SendState<M> {
    pub(super) fn new(message: M) -> SendState<M> {
        SendState {
            message: Some(message),
            parked: None,
        }
    }
}

impl<T> Chan<T> {
    pub(super) fn new(capacity: usize, made_at: &'static Location<'static>) -> Chan<T> {
        Chan {
            inner: Mutex::new(Inner {
                // A bounded queue never grows past its capacity: reserve it, up to a point.
                queue: VecDeque::with_capacity(capacity.min(1024)),
                reserved: 0,
                permits: 0,
                receiver: None,
                receiver_task: None,
                parked: WaitList::new(),
                closed: false,
                senders_gone: false,
                receiver_gone: false,
                closing: WaitList::new(),
            }),
            senders: AtomicUsize::new(1),
            weak_senders: AtomicUsize::new(0),
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
    #[inline]
    pub(super) fn poll_send(
        &self,
        state: &mut SendState<T>,
        cx: &Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        self.poll_slot(state, cx, Self::queue).map_err(SendError)
    }

    /// Under the lock: `message` fills a slot that was free or kept for it; the receiver's
    /// waker is returned, to be woken after the lock.
    #[inline]
    fn queue(inner: &mut Inner<T>, message: T) -> Option<Waker> {
        inner.queue.push_back(message);
        inner.receiver.take()
    }

    /// The protocol of a bounded send and of a reservation: take a slot for `state`'s message
    /// and `fill` it (under the lock that found it), or park (the message stays in `state`),
    /// or, parked, learn what became of the wait. A closed channel gives the message back.
    #[inline]
    fn poll_slot<M>(
        &self,
        state: &mut SendState<M>,
        cx: &Context<'_>,
        fill: impl FnOnce(&mut Inner<T>, M) -> Option<Waker>,
    ) -> Poll<Result<(), M>> {
        if state.parked.is_some() {
            return self.poll_parked(state, cx, fill);
        }
        if !crate::context::spend_budget() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let message = state
            .message
            .take()
            .expect("an mpsc send or reserve future was polled after it completed");
        // Parking stores a clone of the waker, made outside the lock (see `Chan::lock`): on
        // finding the queue full, the first pass lets go of the lock, clones, and looks again.
        let mut fresh = None;
        loop {
            let mut inner = self.lock();
            if inner.closed {
                drop(inner);
                drop(fresh);
                return Poll::Ready(Err(message));
            }
            if self.has_room(&inner) {
                let receiver = fill(&mut inner, message);
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
    /// for it (its message fills it now), or the channel closed (the message comes back).
    fn poll_parked<M>(
        &self,
        state: &mut SendState<M>,
        cx: &Context<'_>,
        fill: impl FnOnce(&mut Inner<T>, M) -> Option<Waker>,
    ) -> Poll<Result<(), M>> {
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
                return Poll::Ready(Err(message));
            }
            // The slot kept for us: our message fills it (the receiver is woken for it).
            let receiver = fill(&mut inner, message);
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
            if Self::ended(&inner) {
                drop(inner);
                drop(fresh);
                return Poll::Ready(None);
            }
            if self.store_receiver_waker(inner, cx, &mut fresh) {
                return Poll::Pending;
            }
        }
    }

    /// Under the lock, which it releases: the queue is empty and the channel open, so the
    /// receiver leaves its waker (see `store_waker_and_unlock`; `false`: look again).
    #[inline]
    fn store_receiver_waker(
        &self,
        mut inner: MutexGuard<'_, Inner<T>>,
        cx: &Context<'_>,
        fresh: &mut Option<Waker>,
    ) -> bool {
        inner.receiver_task = crate::context::current_task().map(TaskId);
        if store_waker_and_unlock(inner, |inner| &mut inner.receiver, cx.waker(), fresh) {
            self.waiting();
            return true;
        }
        false
    }

    /// Polls for up to `limit` messages, appended to `buffer`: all that are queued, up to
    /// `limit`, or, if none is, a wait as `poll_recv`'s. 0 once the channel ended, and at once
    /// for a `limit` of 0.
    pub(super) fn poll_recv_many(
        &self,
        cx: &Context<'_>,
        buffer: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        if limit == 0 {
            return Poll::Ready(0);
        }
        if !crate::context::spend_budget() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let mut fresh = None;
        loop {
            let mut inner = self.lock();
            let count = inner.queue.len().min(limit);
            if count > 0 {
                // Moving messages into the caller's vector runs no code of the user (it may
                // allocate): it is done under the lock, and only the wakes wait for after.
                buffer.extend(inner.queue.drain(..count));
                let mut senders = WakeList::new();
                for _ in 0..count {
                    if inner.parked.is_empty() {
                        break;
                    }
                    senders.push(Self::slot_freed(&mut inner));
                }
                drop(inner);
                drop(fresh);
                senders.wake_all();
                return Poll::Ready(count);
            }
            if Self::ended(&inner) {
                drop(inner);
                drop(fresh);
                return Poll::Ready(0);
            }
            if self.store_receiver_waker(inner, cx, &mut fresh) {
                return Poll::Pending;
            }
        }
    }

    /// How many messages are queued.
    pub(super) fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// How many more messages a newcomer could queue now: the capacity less the queued
    /// messages, the slots kept for woken senders and those permits hold.
    pub(super) fn free_slots(&self) -> usize {
        let inner = self.lock();
        self.capacity - inner.queue.len() - inner.reserved
    }

    /// How many messages the channel holds at most (`usize::MAX`: unbounded).
    pub(super) fn max_capacity(&self) -> usize {
        self.capacity
    }

    /// Takes a message without waiting.
    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut inner = self.lock();
        if let Some((message, sender)) = Self::take(&mut inner) {
            drop(inner);
            wake(sender);
            return Ok(message);
        }
        if Self::ended(&inner) {
            return Err(TryRecvError::Disconnected);
        }
        Err(TryRecvError::Empty)
    }

    /// Under the lock, the queue empty: whether it stays so. Every sender is gone, or the
    /// receiver closed the channel and no permit is left that could still send.
    #[inline]
    fn ended(inner: &Inner<T>) -> bool {
        inner.senders_gone || (inner.closed && inner.permits == 0)
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
    /// slot was kept for, when they come back to it: they see `closed`), and senders waiting
    /// in `Sender::closed` are woken. Permits already held may still send.
    pub(super) fn close(&self) {
        let mut wakers = WakeList::new();
        {
            let mut inner = self.lock();
            inner.closed = true;
            inner.parked.drain(|waiter| {
                waiter.data = Parked::Refused;
                wakers.push(waiter.waker.take());
            });
            inner
                .closing
                .drain(|waiter| wakers.push(waiter.waker.take()));
        }
        wakers.wake_all();
    }

    /// The receiver is dropped: close, and drop its waker and the queued messages outside the
    /// lock (a message may hold a sender of this very channel, whose drop takes the lock).
    /// From now on a permit's message is dropped as it is sent: nobody would take it.
    pub(super) fn receiver_dropped(&self) {
        self.close();
        let (waker, queued) = {
            let mut inner = self.lock();
            inner.receiver_gone = true;
            (inner.receiver.take(), mem::take(&mut inner.queue))
        };
        drop((waker, queued));
    }

    /// Whether sends would fail: the receiver closed the channel or is gone.
    pub(super) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Whether no message will come beyond those queued, as the receiver sees it: it closed
    /// the channel, or every sender is gone.
    pub(super) fn receiver_sees_closed(&self) -> bool {
        let inner = self.lock();
        inner.closed || inner.senders_gone
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
                .field("kept_for_woken_senders", &(inner.reserved - inner.permits))
                .field("permits", &inner.permits);
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
