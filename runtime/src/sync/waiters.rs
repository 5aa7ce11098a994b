//! The list of waiting tasks that every primitive of `nbio::sync` keeps, in the order they
//! arrived.
//!
//! In the article, a generator that cannot go on is put on a list (`fds['w']`) and the loop
//! takes it off when the socket is ready. A lock or a channel does the same with tasks: a
//! future that must wait puts its [`Waker`] at the back of the primitive's `WaitList`, and
//! whoever releases the primitive takes waiters off the front and wakes them.
//!
//! The list is a slab: a `Vec` of slots, linked into a queue by index, under the primitive's
//! own lock. A waiting future holds the [`Key`] of its slot. The rule that makes cancellation
//! simple: **a slot belongs to the future that made it.** A releaser may take the slot off
//! the queue (`pop_front`) and write the outcome into it (granted, notified, sent, closed),
//! but only the owner frees it (`remove`), when it completes or is dropped. So a key never
//! points at a slot that was freed and handed to someone else, and a future that is dropped
//! finds in its slot what happened to it, and passes on what it was given.
//!
//! Each slot also keeps the waiting task's id (when a task of an nbio runtime was being polled):
//! what a dump of who-waits-on-what will read.
//!
//! A second rule keeps the lock free of anyone else's code: **no waker is cloned, woken or
//! dropped while the primitive's lock is held.** A waker is code nbio did not write (another
//! executor's, a hand-made one), and its clone, wake or drop may call back into the very
//! primitive whose lock is held, which would then wait on itself forever. So a waker is cloned
//! before the lock is taken (`push_back` takes it by value; [`store_waker_and_unlock`] clones
//! between two critical sections), and a waker taken out of a slot (`remove`, a [`WakeList`])
//! is woken or dropped by the caller once the lock is released.
//!
//! Why not an intrusive list pinned in the futures (what tokio does)? It saves the `Vec`, but
//! every link is a raw pointer into a future that may be dropped at any moment; the slab
//! needs no `unsafe`, its memory is reused from one wait to the next, and the waits it serves
//! are the slow path: a primitive that is free never touches its list.

use std::task::Waker;

use crate::context;
use crate::task::TaskId;

/// No slot: the end of a chain.
const NIL: u32 = u32::MAX;
/// When the list empties, a slab grown past this many slots gives its memory back.
const KEEP_SLOTS: usize = 64;

/// One waiting future, as its primitive sees it.
#[derive(Debug)]
pub(crate) struct Waiter<E> {
    /// Woken by whoever takes the waiter off the queue; `None` once taken for waking.
    pub(crate) waker: Option<Waker>,
    /// The task that waits, if a task of an nbio runtime was being polled when it arrived.
    pub(crate) task: Option<TaskId>,
    /// What the primitive keeps per waiter: its outcome, a message waiting for room, …
    pub(crate) data: E,
}

/// The ticket of a waiting future: the index of the slot it owns. Not `Clone`: one owner.
#[derive(Debug)]
pub(crate) struct Key(u32);

#[derive(Debug)]
struct Slot<E> {
    /// `None` for a free slot, whose `next` then links the free chain.
    waiter: Option<Waiter<E>>,
    /// Whether the slot is on the queue (an owned slot may be off it: popped, outcome written).
    queued: bool,
    prev: u32,
    next: u32,
}

/// Waiters in arrival order, first in, first out.
#[derive(Debug)]
pub(crate) struct WaitList<E> {
    slots: Vec<Slot<E>>,
    head: u32,
    tail: u32,
    /// The first free slot; free slots are chained through `next`.
    free: u32,
    /// Slots on the queue.
    queued: usize,
    /// Slots owned (queued or not).
    owned: usize,
}

impl<E> WaitList<E> {
    pub(crate) const fn new() -> WaitList<E> {
        WaitList {
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            queued: 0,
            owned: 0,
        }
    }

    /// Whether no waiter is on the queue.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// How many waiters are on the queue.
    pub(crate) fn len(&self) -> usize {
        self.queued
    }

    /// Puts a waiter at the back of the queue, recording the task being polled. The caller
    /// cloned `waker` before it took the lock.
    pub(crate) fn push_back(&mut self, waker: Waker, data: E) -> Key {
        let waiter = Waiter {
            waker: Some(waker),
            task: context::current_task().map(TaskId),
            data,
        };
        let index = if self.free != NIL {
            let index = self.free;
            let slot = &mut self.slots[index as usize];
            self.free = slot.next;
            slot.waiter = Some(waiter);
            index
        } else {
            let index = u32::try_from(self.slots.len())
                .ok()
                .filter(|&index| index != NIL)
                .expect("more than 4 billion waiters on one nbio::sync primitive");
            self.slots.push(Slot {
                waiter: Some(waiter),
                queued: false,
                prev: NIL,
                next: NIL,
            });
            index
        };
        self.owned += 1;
        self.link_back(index);
        Key(index)
    }

    /// Takes the first waiter off the queue; its slot stays with its owner, who will find in it
    /// what the caller writes there.
    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<&mut Waiter<E>> {
        if self.head == NIL {
            return None;
        }
        let index = self.head;
        self.unlink(index);
        self.slots[index as usize].waiter.as_mut()
    }

    /// The first waiter, left on the queue: a semaphore hands it part of what it asked for.
    pub(crate) fn front_mut(&mut self) -> Option<&mut Waiter<E>> {
        if self.head == NIL {
            return None;
        }
        self.slots[self.head as usize].waiter.as_mut()
    }

    /// Takes every waiter off the queue, front to back, handing each to `f`.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(&mut Waiter<E>)) {
        while let Some(waiter) = self.pop_front() {
            f(waiter);
        }
    }

    /// The waiter that owns `key`.
    pub(crate) fn get(&self, key: &Key) -> &Waiter<E> {
        self.slots[key.0 as usize]
            .waiter
            .as_ref()
            .expect("a wait key names an owned slot")
    }

    /// The waiter that owns `key`, to write its outcome or refresh its waker.
    pub(crate) fn get_mut(&mut self, key: &Key) -> &mut Waiter<E> {
        self.slots[key.0 as usize]
            .waiter
            .as_mut()
            .expect("a wait key names an owned slot")
    }

    /// Whether the owner of `key` is still on the queue (nobody has taken it off yet).
    pub(crate) fn is_queued(&self, key: &Key) -> bool {
        self.slots[key.0 as usize].queued
    }

    /// The owner gives its slot back (taking it off the queue if it is still on it) and gets
    /// what was written in it, its waker too: the caller drops it once the lock is released.
    pub(crate) fn remove(&mut self, key: Key) -> Waiter<E> {
        let index = key.0;
        if self.slots[index as usize].queued {
            self.unlink(index);
        }
        let slot = &mut self.slots[index as usize];
        let waiter = slot.waiter.take().expect("a wait key names an owned slot");
        slot.next = self.free;
        self.free = index;
        self.owned -= 1;
        if self.owned == 0 {
            // Nobody holds a key: start afresh, and give back the memory of a past crowd.
            self.slots.clear();
            self.free = NIL;
            if self.slots.capacity() > KEEP_SLOTS {
                self.slots.shrink_to(KEEP_SLOTS);
            }
        }
        waiter
    }

    /// The queued waiters, front to back.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Waiter<E>> + '_ {
        let mut at = self.head;
        std::iter::from_fn(move || {
            let slot = self.slots.get(at as usize)?;
            at = slot.next;
            slot.waiter.as_ref()
        })
    }

    fn link_back(&mut self, index: u32) {
        let old_tail = self.tail;
        {
            let slot = &mut self.slots[index as usize];
            slot.queued = true;
            slot.prev = old_tail;
            slot.next = NIL;
        }
        if old_tail == NIL {
            self.head = index;
        } else {
            self.slots[old_tail as usize].next = index;
        }
        self.tail = index;
        self.queued += 1;
    }

    fn unlink(&mut self, index: u32) {
        let (prev, next) = {
            let slot = &mut self.slots[index as usize];
            debug_assert!(slot.queued, "unlinking a waiter that is not queued");
            slot.queued = false;
            (slot.prev, slot.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next as usize].prev = prev;
        }
        self.queued -= 1;
    }
}

/// Stores the waker of the poll in progress (`waker`) in the slot `slot` picks out of what
/// `guard` locks, and releases the lock: how a waiter that polls again, or a receiver that
/// must wait, leaves its waker, without cloning or dropping one under the lock.
///
/// If the stored waker wakes the same task (the common case), nothing changes. Otherwise the
/// caller's clone `fresh` takes its place, and the waker it replaces is dropped once the lock
/// is released. Without a clone at hand, the lock is released, `waker` is cloned into `fresh`,
/// and `false` says so: the caller takes the lock again and looks afresh, since a release may
/// have come meanwhile, then calls this again. `true`: stored, the lock released; `Pending`.
pub(crate) fn store_waker_and_unlock<G>(
    mut guard: G,
    slot: impl FnOnce(&mut G) -> &mut Option<Waker>,
    waker: &Waker,
    fresh: &mut Option<Waker>,
) -> bool {
    let stored = slot(&mut guard);
    if stored.as_ref().is_some_and(|old| old.will_wake(waker)) {
        drop(guard);
        drop(fresh.take());
        return true;
    }
    match fresh.take() {
        Some(clone) => {
            let replaced = stored.replace(clone);
            drop(guard);
            drop(replaced);
            true
        }
        None => {
            drop(guard);
            *fresh = Some(waker.clone());
            false
        }
    }
}

/// Wakers collected under a primitive's lock, woken after it is released: a waker may run
/// anything (another executor's code, a thread's unpark), and none of it should run while the
/// lock is held. One waker needs no allocation.
#[derive(Default)]
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    pub(crate) fn new() -> WakeList {
        WakeList::default()
    }

    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes them all, in the order they were pushed. A waker that panics is reported and
    /// the others are still woken (`loom::wake_guarded`).
    pub(crate) fn wake_all(self) {
        if let Some(first) = self.first {
            crate::loom::wake_guarded(first);
        }
        for waker in self.rest {
            crate::loom::wake_guarded(waker);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    fn noop() -> Waker {
        Waker::from(Arc::new(Noop))
    }

    fn order(list: &WaitList<u32>) -> Vec<u32> {
        list.iter().map(|waiter| waiter.data).collect()
    }

    #[test]
    fn waiters_leave_in_arrival_order_and_a_removed_one_leaves_no_gap() {
        let mut list = WaitList::new();
        let keys: Vec<Key> = (0..4).map(|n| list.push_back(noop(), n)).collect();
        assert_eq!(order(&list), [0, 1, 2, 3]);
        let mut keys = keys.into_iter();
        let (k0, k1, k2, k3) = (
            keys.next().unwrap(),
            keys.next().unwrap(),
            keys.next().unwrap(),
            keys.next().unwrap(),
        );
        assert_eq!(list.remove(k1).data, 1);
        assert_eq!(order(&list), [0, 2, 3]);
        let first = list.pop_front().expect("a waiter");
        first.data = 10;
        assert!(!list.is_queued(&k0) && list.is_queued(&k2));
        assert_eq!(order(&list), [2, 3]);
        // A slot freed by its owner is reused; the popped one still belongs to its owner.
        let k4 = list.push_back(noop(), 4);
        assert_eq!(order(&list), [2, 3, 4]);
        assert_eq!(list.remove(k0).data, 10);
        for key in [k2, k3, k4] {
            list.remove(key);
        }
        assert!(list.is_empty());
        assert_eq!(list.slots.len(), 0, "an emptied list starts afresh");
    }
}
