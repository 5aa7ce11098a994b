//! `nbio::task::JoinSet`: a group of tasks awaited as they finish, and cancelled together.
//!
//! The article's loop keeps its generators in one list and drops the list's finished ones as it
//! goes. A `JoinSet` is that list as a value: tasks join it when spawned through it, leave it
//! when `join_next` hands out their result (in the order they finish, not the order they were
//! spawned), and are all aborted when the set is dropped, so that a group of tasks can never
//! outlive the code that owns it.
//!
//! Waiting is cheap however large the set: each member's handle is polled with a waker of its
//! own, which files the member's index on the set's ready list and wakes the set's awaiter. So
//! `join_next` polls only the members that were woken, never the whole set.

use std::fmt;
use std::future::{poll_fn, Future};
use std::mem;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use super::{spawn_local_named, spawn_named};
use crate::context;
use crate::task::{JoinError, JoinHandle};

/// A set of tasks spawned together, joined as they finish, aborted together.
///
/// ```
/// use nbio::task::JoinSet;
/// use std::time::Duration;
///
/// nbio::block_on(async {
///     let mut set = JoinSet::new();
///     for ms in [30, 10, 20] {
///         set.spawn(async move {
///             nbio::time::sleep(Duration::from_millis(ms)).await;
///             ms
///         });
///     }
///     let mut order = Vec::new();
///     while let Some(result) = set.join_next().await {
///         order.push(result.unwrap());
///     }
///     assert_eq!(order, [10, 20, 30]); // as they finished
/// });
/// ```
///
/// Dropping the set aborts every task still in it: each one's future is dropped (its
/// destructors run) the next time its runtime reaches it.
pub struct JoinSet<T> {
    /// The members, by index; a `None` is a free place, listed in `free`.
    members: Vec<Option<Member<T>>>,
    free: Vec<usize>,
    len: usize,
    /// The ready list and the set's awaiter, shared with the members' wakers.
    ready: Arc<Ready>,
}

struct Member<T> {
    handle: JoinHandle<T>,
    /// The waker its handle is polled with.
    waker: Waker,
    /// Its waker's flag, cleared when its index is taken off the ready list.
    listed: Arc<MemberWaker>,
}

/// The indexes of members woken since the set last looked, and who awaits the set.
#[derive(Default)]
struct Ready {
    state: Mutex<ReadyState>,
}

#[derive(Default)]
struct ReadyState {
    indexes: Vec<usize>,
    awaiter: Option<Waker>,
}

impl Ready {
    fn lock(&self) -> MutexGuard<'_, ReadyState> {
        // Each update is one push or one swap: poisoning is harmless.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The waker of one member: it lists the member as ready (once until the set takes it) and
/// wakes the set's awaiter.
struct MemberWaker {
    index: usize,
    listed: AtomicBool,
    ready: Arc<Ready>,
}

impl Wake for MemberWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.listed.swap(true, SeqCst) {
            return; // already on the list, and its waking already woke the awaiter
        }
        let awaiter = {
            let mut state = self.ready.lock();
            state.indexes.push(self.index);
            state.awaiter.take()
        };
        if let Some(awaiter) = awaiter {
            awaiter.wake();
        }
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            members: Vec::new(),
            free: Vec::new(),
            len: 0,
            ready: Arc::default(),
        }
    }

    /// How many tasks are in the set: spawned and not yet handed out by `join_next`.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set has no task.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Spawns `future` on the current runtime, as [`nbio::spawn`](crate::spawn), into the set.
    ///
    /// # Panics
    /// Outside of a runtime.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F)
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let handle = spawn_named(future, None, Location::caller());
        self.insert(handle);
    }

    /// Spawns a future that need not be `Send`, as [`nbio::spawn_local`](crate::spawn_local),
    /// into the set.
    ///
    /// # Panics
    /// Outside of a runtime.
    #[track_caller]
    pub fn spawn_local<F>(&mut self, future: F)
    where
        F: Future<Output = T> + 'static,
        T: 'static,
    {
        let handle = spawn_local_named(future, None, Location::caller());
        self.insert(handle);
    }

    /// Runs `f` on the blocking pool, as [`nbio::spawn_blocking`](crate::spawn_blocking), with
    /// the job in the set. Aborting it only cancels it if no thread has started it.
    ///
    /// # Panics
    /// Outside of a runtime.
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let location = Location::caller();
        let handle = context::spawn_blocking(f, location).unwrap_or_else(|| {
            panic!(
                "JoinSet::spawn_blocking called outside of an nbio runtime (at {location}); \
                 call it from code run by nbio::block_on"
            )
        });
        self.insert(handle);
    }

    fn insert(&mut self, handle: JoinHandle<T>) {
        let index = self.free.pop().unwrap_or(self.members.len());
        let listed = Arc::new(MemberWaker {
            index,
            // Listed from the start: its first poll registers its waker.
            listed: AtomicBool::new(true),
            ready: Arc::clone(&self.ready),
        });
        let member = Member {
            handle,
            waker: Waker::from(Arc::clone(&listed)),
            listed,
        };
        if index == self.members.len() {
            self.members.push(Some(member));
        } else {
            self.members[index] = Some(member);
        }
        self.ready.lock().indexes.push(index);
        self.len += 1;
    }

    /// Waits for the next task of the set to finish and hands out its result; `None` when the
    /// set is empty. A task that panicked or was aborted gives its [`JoinError`].
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// The poll form of [`join_next`](Self::join_next).
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        // The awaiter is filed before the list is taken: a member woken after the take wakes it.
        let mut indexes = {
            let mut state = self.ready.lock();
            if !state
                .awaiter
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                state.awaiter = Some(cx.waker().clone());
            }
            mem::take(&mut state.indexes)
        };
        let mut found = None;
        let mut taken = 0;
        for &index in &indexes {
            taken += 1;
            let Some(Some(member)) = self.members.get_mut(index) else {
                continue; // a stale wake of a member already handed out
            };
            member.listed.listed.store(false, SeqCst);
            let mut member_cx = Context::from_waker(&member.waker);
            if let Poll::Ready(result) = Pin::new(&mut member.handle).poll(&mut member_cx) {
                self.members[index] = None;
                self.free.push(index);
                self.len -= 1;
                found = Some(result);
                break;
            }
        }
        if taken < indexes.len() {
            // Handing out one result: the others stay listed for the next call.
            let rest = indexes.split_off(taken);
            self.ready.lock().indexes.extend(rest);
            cx.waker().wake_by_ref();
        }
        match found {
            Some(result) => Poll::Ready(Some(result)),
            None => Poll::Pending,
        }
    }

    /// Aborts every task in the set. They stay in it: `join_next` hands out their results
    /// (a cancelled `JoinError`, or the output of those that finished first).
    pub fn abort_all(&self) {
        for member in self.members.iter().flatten() {
            member.handle.abort();
        }
    }

    /// Aborts every task and waits until each one is gone, dropping their results.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> JoinSet<T> {
        JoinSet::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len).finish()
    }
}
