//! Reservations: a slot of the queue taken before its message exists.
//!
//! A reservation is a send whose message is `()`: it takes a free slot at once, or parks in
//! the same line as the sends (`Chan::poll_slot`), and a slot kept for it is handed over as
//! one kept for a send is. What fills the slot is not a message but a permit: the slot stays
//! counted in `reserved` (and in `permits`) while the permit lives. The permit then either
//! sends into it, which queues the message and wakes the receiver, or is dropped, which frees
//! the slot as a taken message does: to the first parked sender, or as free room.

use std::task::{Context, Poll, Waker};

use super::{wake, Chan, Inner, SendState};
use crate::sync::mpsc::{SendError, TrySendError};

impl<T> Chan<T> {
    /// Polls a reservation: take a slot, or wait for one in the line of senders. `Ok`: the
    /// caller now holds a permit (see `permit_send`, `permit_dropped`).
    pub(in crate::sync::mpsc) fn poll_reserve(
        &self,
        state: &mut SendState<()>,
        cx: &Context<'_>,
    ) -> Poll<Result<(), SendError<()>>> {
        self.poll_slot(state, cx, Self::hold).map_err(SendError)
    }

    /// Under the lock: the slot that was free, or kept for a parked reservation, is held by a
    /// permit from now on.
    fn hold(inner: &mut Inner<T>, (): ()) -> Option<Waker> {
        inner.reserved += 1;
        inner.permits += 1;
        None
    }

    /// Takes a slot for a permit if one is free now, without waiting. A slot kept for a
    /// waiting sender is not free.
    pub(in crate::sync::mpsc) fn try_reserve(&self) -> Result<(), TrySendError<()>> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(TrySendError::Closed(()));
        }
        if !self.has_room(&inner) {
            return Err(TrySendError::Full(()));
        }
        Self::hold(&mut inner, ());
        Ok(())
    }

    /// A permit sends `message` into its slot. It never fails: the slot was held for it. If
    /// the receiver closed the channel, it can still take the message; if it is gone, nobody
    /// can, and the message is dropped here, after the lock is released.
    pub(in crate::sync::mpsc) fn permit_send(&self, message: T) {
        let mut inner = self.lock();
        inner.reserved -= 1;
        inner.permits -= 1;
        if inner.receiver_gone {
            drop(inner);
            drop(message);
            return;
        }
        let receiver = Self::queue(&mut inner, message);
        drop(inner);
        wake(receiver);
    }

    /// A permit is dropped unused: its slot goes to the first parked sender, or is free room.
    /// A receiver that waits on a closed channel only for the permits to go is woken by the
    /// last of them.
    pub(in crate::sync::mpsc) fn permit_dropped(&self) {
        let (next, receiver) = {
            let mut inner = self.lock();
            inner.reserved -= 1;
            inner.permits -= 1;
            let next = Self::slot_freed(&mut inner);
            let receiver = if Self::ended(&inner) {
                inner.receiver.take()
            } else {
                None
            };
            (next, receiver)
        };
        wake(next);
        wake(receiver);
    }
}
