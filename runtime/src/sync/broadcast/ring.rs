//! The ring a broadcast channel keeps its values in, and its wake protocol.
//!
//! # The ring
//!
//! Every value sent gets a *position*, 0, 1, 2, … (`Tail::pos` is the next one to give), and
//! lives in slot `pos % capacity` until a later value takes the slot. Each receiver keeps the
//! position of the next value it wants (`next`): the slot of `next` holds that value (its
//! `pos` is `next`: take it), an older one (not sent yet: wait), or a newer one (it was
//! overwritten: the receiver *lagged*, and jumps to the oldest value still held).
//!
//! A slot also counts the receivers that have yet to take its value (`rem`, set to the
//! number of receivers when the value is sent). The last of them takes the value out of the
//! slot instead of copying it, so a value everyone has seen is not kept alive by the ring,
//! and it is moved out rather than cloned when that receiver holds the only reference.
//!
//! # Locks, and no code of the user under them
//!
//! One lock for the tail (the next position, the counts of senders and receivers, the list
//! of receivers waiting), and one per slot. A sender takes the tail lock, then the lock of
//! the slot it writes; a receiver takes the lock of the slot it reads and lets go of it
//! before it takes the tail lock: the order is always tail, then slot, so two of them never
//! wait on each other. Receivers of different slots never meet.
//!
//! A value is kept in its slot as an `Arc<T>`: a receiver copies the `Arc` under the slot's
//! lock and calls `T::clone` (code of the user) only after letting go. An overwritten value
//! leaves its slot under the lock and is dropped after it; a waker is cloned before the tail
//! lock is taken and woken or dropped after it is released.
//!
//! # The wake protocol
//!
//! 1. A sender, under the tail lock: writes the slot, advances `pos`, takes every waiting
//!    receiver off the list; after the lock, wakes them.
//! 2. A receiver that found its slot not yet written takes the tail lock and **looks again**:
//!    if `pos` moved past its `next` meanwhile, a send came between its look at the slot and
//!    now, and it reads the slot again; else it puts its waker on the list in that same
//!    critical section. Since a sender advances `pos` under the same lock, it either came
//!    before (the receiver sees `pos` moved) or after (the sender finds the waker).
//! 3. The last sender to go, under the tail lock, marks the channel closed and wakes every
//!    waiting receiver. A receiver says `Closed` only from step 2's critical section: no value
//!    can be left unread behind it.

use std::panic::Location;
use std::sync::{Arc, PoisonError};
use std::task::Waker;

use super::TryRecvError;
use crate::loom::{Mutex, MutexGuard};
use crate::sync::waiters::{Key, WaitList, WakeList};

/// A slot never written: its position matches no receiver's.
const NEVER: u64 = u64::MAX;

/// The part of a broadcast channel its senders and receivers share.
pub(super) struct Shared<T> {
    slots: Box<[Mutex<Slot<T>>]>,
    /// `capacity - 1` if the capacity is a power of two: the slot of a position is then
    /// `pos & mask`.
    mask: Option<u64>,
    tail: Mutex<Tail>,
    /// Where the channel was made: what a dump of who waits on it names.
    pub(super) made_at: &'static Location<'static>,
}

struct Slot<T> {
    /// The position of the value in the slot (or of the value that was, once it is taken out);
    /// `NEVER` for a slot not yet written.
    pos: u64,
    /// Receivers that have yet to take the value.
    rem: usize,
    /// `None` once every receiver counted in `rem` took it.
    value: Option<Arc<T>>,
}

pub(super) struct Tail {
    /// The position the next value sent will get.
    pos: u64,
    senders: usize,
    pub(super) receivers: usize,
    /// Every sender is gone: no value will come after those in the ring.
    closed: bool,
    /// Receivers waiting for the next value. A popped entry (no longer queued) was woken.
    pub(super) waiting: WaitList<()>,
}

/// What a receiver found at its next position.
pub(super) enum Look<'a, T> {
    Value(T),
    Lagged(u64),
    /// Nothing to take: the tail is locked, and no send came since the receiver looked at its
    /// slot (`pos` has not moved past `next`). The caller waits, or says `Empty` or `Closed`.
    Nothing(MutexGuard<'a, Tail>),
}

impl<T> Shared<T> {
    pub(super) fn new(capacity: usize, made_at: &'static Location<'static>) -> Shared<T> {
        let slots = (0..capacity)
            .map(|_| {
                Mutex::new(Slot {
                    pos: NEVER,
                    rem: 0,
                    value: None,
                })
            })
            .collect();
        Shared {
            slots,
            mask: capacity.is_power_of_two().then(|| capacity as u64 - 1),
            tail: Mutex::new(Tail {
                pos: 0,
                senders: 1,
                receivers: 1,
                closed: false,
                waiting: WaitList::new(),
            }),
            made_at,
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn lock_tail(&self) -> MutexGuard<'_, Tail> {
        // No code of the user runs under the locks of a broadcast channel (module doc), so a
        // poisoned lock still guards a consistent ring.
        self.tail.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_slot(&self, pos: u64) -> MutexGuard<'_, Slot<T>> {
        // A mask for a capacity that is a power of two: a division costs tens of cycles.
        let index = match self.mask {
            Some(mask) => (pos & mask) as usize,
            None => (pos % self.slots.len() as u64) as usize,
        };
        self.slots[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Step 1: stores `value` for every receiver now subscribed and wakes those waiting.
    /// Gives the value back if there is no receiver.
    pub(super) fn send(&self, value: T) -> Result<usize, T> {
        // Allocated before the lock: the critical section stays a few stores long.
        let value = Arc::new(value);
        let mut wakers = WakeList::new();
        let (receivers, overwritten) = {
            let mut tail = self.lock_tail();
            if tail.receivers == 0 {
                drop(tail);
                return Err(Arc::into_inner(value).expect("a value not yet shared"));
            }
            let pos = tail.pos;
            tail.pos += 1;
            let overwritten = {
                let mut slot = self.lock_slot(pos);
                slot.pos = pos;
                slot.rem = tail.receivers;
                slot.value.replace(value)
            };
            tail.waiting
                .drain(|waiter| wakers.push(waiter.waker.take()));
            (tail.receivers, overwritten)
        };
        wakers.wake_all();
        // Its receivers that had not taken it lagged; its `Drop` runs here, after the locks.
        drop(overwritten);
        Ok(receivers)
    }

    /// Steps 2 (the look at the slot, the second look under the tail lock) for the receiver
    /// whose next position is `next`.
    pub(super) fn look(&self, next: &mut u64) -> Look<'_, T>
    where
        T: Clone,
    {
        loop {
            let mut slot = self.lock_slot(*next);
            if slot.pos == *next {
                slot.rem -= 1;
                let last = slot.rem == 0;
                let value = if last {
                    slot.value.take()
                } else {
                    slot.value.clone()
                };
                drop(slot);
                *next += 1;
                let value = value.expect("a value every receiver counted in `rem` can take");
                // `T::clone` runs here, after the lock. The last reader moves the value out
                // instead, unless a reader before it is still cloning from it.
                return Look::Value(if last {
                    Arc::unwrap_or_clone(value)
                } else {
                    T::clone(&value)
                });
            }
            let overwritten = slot.pos != NEVER && slot.pos > *next;
            drop(slot);
            let tail = self.lock_tail();
            if overwritten {
                // Every value from `next` to the oldest one still held was overwritten.
                let oldest = tail.pos - self.slots.len() as u64;
                let missed = oldest - *next;
                *next = oldest;
                return Look::Lagged(missed);
            }
            if tail.pos > *next {
                // A send came after we looked at the slot: look again.
                continue;
            }
            return Look::Nothing(tail);
        }
    }

    /// `try_recv`: a value, or why there is none.
    pub(super) fn try_recv(&self, next: &mut u64) -> Result<T, TryRecvError>
    where
        T: Clone,
    {
        match self.look(next) {
            Look::Value(value) => Ok(value),
            Look::Lagged(missed) => Err(TryRecvError::Lagged(missed)),
            Look::Nothing(tail) if tail.closed => Err(TryRecvError::Closed),
            Look::Nothing(_) => Err(TryRecvError::Empty),
        }
    }

    /// Puts a receiver on the waiting list, under the lock `look` returned with.
    pub(super) fn wait(tail: &mut Tail, waker: Waker) -> Key {
        tail.waiting.push_back(waker, ())
    }

    pub(super) fn is_closed(tail: &Tail) -> bool {
        tail.closed
    }

    /// A new receiver, whose first value is the next one sent.
    pub(super) fn subscribe(&self) -> u64 {
        let mut tail = self.lock_tail();
        tail.receivers += 1;
        tail.pos
    }

    /// A copy of the receiver at `next`: a new receiver that owes every value that one owes.
    pub(super) fn clone_receiver(&self, next: u64) {
        // Under the tail lock throughout: no send overwrites a slot while we count ourselves in.
        let mut tail = self.lock_tail();
        tail.receivers += 1;
        let from = next.max(tail.pos.saturating_sub(self.slots.len() as u64));
        for pos in from..tail.pos {
            let mut slot = self.lock_slot(pos);
            if slot.pos == pos {
                // Still held: the receiver copied has yet to take it, so `rem` >= 1.
                slot.rem += 1;
            }
        }
    }

    /// A receiver is gone: it no longer counts among those that must take the values from
    /// `next` on; a value it was the last to owe is taken out and dropped, after the lock.
    pub(super) fn unsubscribe(&self, next: u64) {
        let until = {
            let mut tail = self.lock_tail();
            tail.receivers -= 1;
            tail.pos
        };
        // Sends from now on do not count us; those before `until` did, if they are still held.
        let from = next.max(until.saturating_sub(self.slots.len() as u64));
        for pos in from..until {
            let released = {
                let mut slot = self.lock_slot(pos);
                if slot.pos != pos {
                    continue;
                }
                slot.rem -= 1;
                if slot.rem == 0 {
                    slot.value.take()
                } else {
                    None
                }
            };
            drop(released);
        }
    }

    pub(super) fn sender_cloned(&self) {
        self.lock_tail().senders += 1;
    }

    /// Step 3: the last sender closes the channel and wakes every waiting receiver.
    pub(super) fn sender_dropped(&self) {
        let mut wakers = WakeList::new();
        {
            let mut tail = self.lock_tail();
            tail.senders -= 1;
            if tail.senders > 0 {
                return;
            }
            tail.closed = true;
            tail.waiting
                .drain(|waiter| wakers.push(waiter.waker.take()));
        }
        wakers.wake_all();
    }

    /// How many values the ring holds that some receiver has yet to take.
    pub(super) fn held(&self) -> usize {
        (0..self.slots.len() as u64)
            .filter(|&index| self.lock_slot(index).value.is_some())
            .count()
    }

    /// The position the next value sent will get.
    pub(super) fn tail_pos(&self) -> u64 {
        self.lock_tail().pos
    }

    pub(super) fn counts(&self) -> (usize, usize, usize) {
        let tail = self.lock_tail();
        (tail.senders, tail.receivers, tail.waiting.len())
    }
}
