//! How many senders a channel has, strong and weak, and the end of the strong ones.
//!
//! The count of strong senders is an atomic beside the lock, so that cloning and dropping a
//! sender costs no lock; only the last drop takes it, to tell the receiver. A weak sender
//! upgrades with a compare-and-swap that never raises the count from 0: once the last strong
//! sender is gone it stays gone, and the `None` the receiver was given stays true.

use std::sync::atomic::Ordering::{AcqRel, Relaxed};

use super::{wake, Chan};

impl<T> Chan<T> {
    pub(in crate::sync::mpsc) fn sender_cloned(&self) {
        self.senders.fetch_add(1, Relaxed);
    }

    /// A `WeakSender` asks to become a sender. The count goes up only from a number above 0
    /// (a compare-and-swap, not an add): once the last sender is gone, and the receiver told,
    /// none comes back, so a `None` the receiver was given stays true.
    pub(in crate::sync::mpsc) fn try_upgrade(&self) -> bool {
        let mut count = self.senders.load(Relaxed);
        loop {
            if count == 0 {
                return false;
            }
            match self
                .senders
                .compare_exchange_weak(count, count + 1, Relaxed, Relaxed)
            {
                Ok(_) => return true,
                Err(now) => count = now,
            }
        }
    }

    /// Live senders (`WeakSender`s not counted).
    pub(in crate::sync::mpsc) fn sender_count(&self) -> usize {
        self.senders.load(Relaxed)
    }

    /// Live `WeakSender`s.
    pub(in crate::sync::mpsc) fn weak_count(&self) -> usize {
        self.weak_senders.load(Relaxed)
    }

    pub(in crate::sync::mpsc) fn weak_cloned(&self) {
        self.weak_senders.fetch_add(1, Relaxed);
    }

    pub(in crate::sync::mpsc) fn weak_dropped(&self) {
        self.weak_senders.fetch_sub(1, Relaxed);
    }

    /// A sender handle is dropped; the last one wakes the receiver to say the channel ended.
    pub(in crate::sync::mpsc) fn sender_dropped(&self) {
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
}
