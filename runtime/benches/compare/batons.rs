//! W4's runtime-agnostic cells: two players hand a baton back and forth, each waiting for its
//! turn with nothing but a `Waker`. No runtime's own channel or notify is involved, so what is
//! measured is the runtime's wake → schedule → poll path, and nothing else.
//!
//! Protocol (the same for both variants): `turn` says whose move it is. A player whose turn it
//! is not stores its waker in its slot and returns `Pending`; the other player, after its move,
//! flips `turn` and wakes whatever waker sits in the slot of the player it hands to. Checking
//! `turn` and storing the waker happen under one lock (or on one thread), so no hand-off is
//! lost between them.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::sync::{Mutex, PoisonError};
use std::task::{Poll, Waker};

/// Whose turn it is, and the waker each player left while waiting: one `Mutex`, shareable
/// across threads in an `Arc` (tasks started with `spawn`).
pub struct SharedBaton {
    state: Mutex<BatonState>,
}

struct BatonState {
    turn: usize,
    waiting: [Option<Waker>; 2],
}

impl SharedBaton {
    /// A baton held by player 0.
    pub fn new() -> SharedBaton {
        SharedBaton {
            state: Mutex::new(BatonState {
                turn: 0,
                waiting: [None, None],
            }),
        }
    }

    /// Resolves when it is `player`'s turn.
    pub fn my_turn(&self, player: usize) -> impl Future<Output = ()> + Send + '_ {
        poll_fn(move |cx| {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.turn == player {
                return Poll::Ready(());
            }
            state.waiting[player] = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    /// `player` hands the baton to the other player and wakes it if it is waiting.
    pub fn pass(&self, player: usize) {
        let other = 1 - player;
        let waker = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.turn = other;
            state.waiting[other].take()
        };
        // Woken outside the lock, as a channel would: the woken task may run at once on
        // another thread (tokio multi_thread) and should not find the lock held.
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The same protocol for tasks that share a thread: `Cell`s in an `Rc`, no lock, no atomics.
pub struct LocalBaton {
    turn: Cell<usize>,
    waiting: [Cell<Option<Waker>>; 2],
}

impl LocalBaton {
    /// A baton held by player 0.
    pub fn new() -> LocalBaton {
        LocalBaton {
            turn: Cell::new(0),
            waiting: [Cell::new(None), Cell::new(None)],
        }
    }

    /// Resolves when it is `player`'s turn.
    pub fn my_turn(&self, player: usize) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| {
            if self.turn.get() == player {
                return Poll::Ready(());
            }
            self.waiting[player].set(Some(cx.waker().clone()));
            Poll::Pending
        })
    }

    /// `player` hands the baton to the other player and wakes it if it is waiting.
    pub fn pass(&self, player: usize) {
        let other = 1 - player;
        self.turn.set(other);
        if let Some(waker) = self.waiting[other].take() {
            waker.wake();
        }
    }
}
