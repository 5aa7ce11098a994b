//! Senders that wait for the receiver to close the channel or go (`Sender::closed`).
//!
//! The same two-sided rule as every wait here: a waiter looks at `closed` and queues in one
//! critical section, and `close` sets `closed` and empties the queue in one, so a close
//! either comes before the look (and is seen) or after the queueing (and wakes the waiter).

use std::task::{Context, Poll};

use super::{Chan, Key};
use crate::sync::waiters::store_waker_and_unlock;

impl<T> Chan<T> {
    /// Polls a wait for the channel to close: `Ready` once it is; otherwise queued in
    /// `closing` (or its waker refreshed there), its key in `key`.
    pub(in crate::sync::mpsc) fn poll_closed(
        &self,
        key: &mut Option<Key>,
        cx: &Context<'_>,
    ) -> Poll<()> {
        if key.is_none() && !crate::context::spend_budget() {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // A waker to store is cloned outside the lock: the first pass that needs one lets go
        // of the lock, clones, and looks again.
        let mut fresh = None;
        loop {
            let mut inner = self.lock();
            if inner.closed {
                let slot = key.take().map(|key| inner.closing.remove(key));
                drop(inner);
                drop((slot, fresh));
                return Poll::Ready(());
            }
            match key {
                Some(queued) => {
                    let (waker, fresh) = (cx.waker(), &mut fresh);
                    if !store_waker_and_unlock(
                        inner,
                        |i| &mut i.closing.get_mut(queued).waker,
                        waker,
                        fresh,
                    ) {
                        continue;
                    }
                }
                None => {
                    let Some(waker) = fresh.take() else {
                        drop(inner);
                        fresh = Some(cx.waker().clone());
                        continue;
                    };
                    *key = Some(inner.closing.push_back(waker, ()));
                    drop(inner);
                }
            }
            self.waiting();
            return Poll::Pending;
        }
    }

    /// A waiting `closed` future is dropped: its entry goes, and its waker is dropped after
    /// the lock is released.
    pub(in crate::sync::mpsc) fn cancel_closed(&self, key: Key) {
        let slot = self.lock().closing.remove(key);
        drop(slot);
    }
}
