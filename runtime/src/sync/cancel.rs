//! Telling a tree of tasks to stop: [`CancellationToken`].
//!
//! The article's program stops when its list of generators is empty; it never has to ask one
//! to stop early. A server does: on shutdown, every connection's task should finish what it
//! is doing and return. A `CancellationToken` is the signal. Tasks await
//! [`cancelled`](CancellationToken::cancelled) (beside their work, in a `select!`) or look at
//! [`is_cancelled`](CancellationToken::is_cancelled) between steps; whoever decides calls
//! [`cancel`](CancellationToken::cancel). Tokens form a tree: a
//! [`child_token`](CancellationToken::child_token) is cancelled with its parent, and can be
//! cancelled alone without touching the parent, so a connection can be stopped on its own or
//! with the whole server.
//!
//! # How it works
//!
//! Each token (its clones share it) is a node: a `cancelled` flag, the list of the futures
//! waiting on it (`waiters.rs`) and the list of its children, under one lock, and a strong
//! reference to its parent.
//!
//! 1. A token is cancelled if its own flag or an ancestor's is set: `is_cancelled` walks up
//!    the chain. So a child is cancelled the moment its parent is, however far the wake-ups
//!    below have got, and a child made just as its parent is cancelled is never missed.
//! 2. `cancel` sets the node's flag, takes its waiters off the queue and takes its list of
//!    children, all in one critical section; it wakes the waiters after letting go of the
//!    lock, and then does the same to each child, one node at a time, never holding two
//!    locks.
//! 3. A waiting future looks at the chain and queues in one critical section of its own node,
//!    so a `cancel` reaching that node either finds it queued, or came before, and then the
//!    future sees the flag (the walk in step 1 sees an ancestor's flag as well: the cancel
//!    set it before it reached this node).
//! 4. A parent keeps only weak references to its children: a child token dropped by everyone
//!    (and childless) takes itself off its parent's list, so a long-lived parent that hands a
//!    child to each connection does not grow.
//!
//! Wakers are cloned before the lock is taken and woken or dropped after it is let go.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::{Arc, PoisonError, Weak};
use std::task::{Context, Poll};

use super::waiters::{Key, WaitList, WakeList};
use crate::loom::{AtomicBool, Mutex, MutexGuard};

/// A signal to stop, shared by its clones and passed down to its child tokens.
///
/// Cloning a token gives another handle to the same token; [`child_token`] makes a new token
/// below it. Cancelling a token cancels its children (and theirs), never its parent.
/// `Send + Sync`.
///
/// [`child_token`]: CancellationToken::child_token
///
/// ```
/// use nbio::sync::CancellationToken;
///
/// nbio::block_on(async {
///     let shutdown = CancellationToken::new();
///     let worker = nbio::spawn({
///         let shutdown = shutdown.clone();
///         async move {
///             let mut rounds = 0;
///             while !shutdown.is_cancelled() {
///                 rounds += 1;
///                 nbio::yield_now().await; // a step of work
///             }
///             rounds
///         }
///     });
///     nbio::yield_now().await;
///     shutdown.cancel();
///     assert!(worker.await.unwrap() > 0);
/// });
/// ```
#[derive(Clone)]
pub struct CancellationToken {
    node: Arc<Node>,
}

/// One token of the tree; see the module's documentation.
struct Node {
    /// Set once, under `inner`'s lock, when this node is cancelled: by its own `cancel`, or
    /// on the way down from an ancestor's.
    cancelled: AtomicBool,
    /// The parent, kept alive by its children: `is_cancelled` walks up through it.
    parent: Option<Arc<Node>>,
    /// Our slot in the parent's list of children; `None` if the parent was already
    /// cancelled when we were made, and so did not list us.
    slot: Option<usize>,
    inner: Mutex<Inner>,
    /// Where the token was made (`new` or `child_token`).
    made_at: &'static Location<'static>,
}

/// A node's lists, under its lock.
struct Inner {
    /// The `cancelled()` futures waiting. A slot off the queue was woken by a cancel.
    waiters: WaitList<()>,
    /// The children to cancel with this node. Emptied for good when it is cancelled.
    children: Children,
}

/// The weak references of a node to its children: a slab, so that a child leaves by its
/// slot's number.
#[derive(Default)]
struct Children {
    slots: Vec<Option<Weak<Node>>>,
    free: Vec<usize>,
}

impl Children {
    fn insert(&mut self, child: Weak<Node>) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(child);
                slot
            }
            None => {
                self.slots.push(Some(child));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) -> Option<Weak<Node>> {
        let child = self.slots[slot].take();
        self.free.push(slot);
        if self.free.len() == self.slots.len() {
            // Nobody left: start afresh, and give back the memory of a past crowd.
            *self = Children::default();
        }
        child
    }
}

impl Node {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No code of the user runs under this lock; the lists stay consistent on a panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this node or an ancestor was cancelled (step 1).
    fn is_cancelled(&self) -> bool {
        let mut at = Some(self);
        while let Some(node) = at {
            if node.cancelled.load(Acquire) {
                return true;
            }
            at = node.parent.as_deref();
        }
        false
    }

    /// Cancels this node (step 2): its waiters are woken, and its children, still alive, are
    /// pushed on `below` for the caller to cancel next. Nothing if it was cancelled already.
    fn cancel_one(&self, below: &mut Vec<Arc<Node>>) {
        let mut wakers = WakeList::new();
        let children = {
            let mut inner = self.lock();
            if self.cancelled.load(Acquire) {
                return; // someone else cancelled it, and has woken or is waking what is below
            }
            self.cancelled.store(true, Release);
            inner
                .waiters
                .drain(|waiter| wakers.push(waiter.waker.take()));
            std::mem::take(&mut inner.children)
        };
        wakers.wake_all();
        // Upgraded with no lock held: a child that dies here runs its `Drop`, which takes
        // this node's lock.
        below.extend(
            children
                .slots
                .into_iter()
                .flatten()
                .filter_map(|c| c.upgrade()),
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let (Some(parent), Some(slot)) = (&self.parent, self.slot) else {
            return;
        };
        let gone = {
            let mut inner = parent.lock();
            // A cancelled parent took its whole list when it was cancelled (under this lock),
            // our slot with it.
            if parent.cancelled.load(Acquire) {
                None
            } else {
                inner.children.remove(slot)
            }
        };
        drop(gone);
    }
}

impl CancellationToken {
    /// A token that is not cancelled, with no parent.
    ///
    /// ```
    /// let token = nbio::sync::CancellationToken::new();
    /// assert!(!token.is_cancelled());
    /// ```
    #[track_caller]
    pub fn new() -> CancellationToken {
        CancellationToken {
            node: Arc::new(Node {
                cancelled: AtomicBool::new(false),
                parent: None,
                slot: None,
                inner: Mutex::new(Inner {
                    waiters: WaitList::new(),
                    children: Children::default(),
                }),
                made_at: Location::caller(),
            }),
        }
    }

    /// A new token below this one: cancelled when this one is (or already cancelled, if this
    /// one is), while cancelling it leaves this one alone.
    ///
    /// ```
    /// let server = nbio::sync::CancellationToken::new();
    /// let connection = server.child_token();
    /// connection.cancel(); // this connection only
    /// assert!(!server.is_cancelled());
    /// let other = server.child_token();
    /// server.cancel(); // everyone
    /// assert!(other.is_cancelled());
    /// ```
    #[track_caller]
    pub fn child_token(&self) -> CancellationToken {
        let parent = &self.node;
        let made_at = Location::caller();
        let node = Arc::new_cyclic(|me| {
            let slot = {
                let mut inner = parent.lock();
                // An ancestor cancelled already: its cancel will not come down to us, and need
                // not (step 1), so the parent need not list us.
                (!parent.is_cancelled()).then(|| inner.children.insert(me.clone()))
            };
            Node {
                cancelled: AtomicBool::new(false),
                parent: Some(Arc::clone(parent)),
                slot,
                inner: Mutex::new(Inner {
                    waiters: WaitList::new(),
                    children: Children::default(),
                }),
                made_at,
            }
        });
        CancellationToken { node }
    }

    /// Cancels this token and every token below it, and wakes every task waiting in
    /// [`cancelled`](CancellationToken::cancelled) on any of them. Calling it again does
    /// nothing. When it returns, [`is_cancelled`](CancellationToken::is_cancelled) is true for
    /// this token and all below it.
    ///
    /// ```
    /// let token = nbio::sync::CancellationToken::new();
    /// token.cancel();
    /// token.cancel(); // no more than once
    /// assert!(token.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        let mut below = Vec::new();
        self.node.cancel_one(&mut below);
        while let Some(node) = below.pop() {
            node.cancel_one(&mut below);
        }
    }

    /// Whether this token, or one above it, was cancelled.
    ///
    /// ```
    /// let parent = nbio::sync::CancellationToken::new();
    /// let child = parent.child_token();
    /// parent.cancel();
    /// assert!(child.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.node.is_cancelled()
    }

    /// A future that completes when this token is cancelled (by its own `cancel` or an
    /// ancestor's); at once if it is already.
    ///
    /// Cancel safety: dropping the future only gives up its place in the list; it takes
    /// nothing, and a cancellation it missed stays visible to every other future and to
    /// `is_cancelled`.
    ///
    /// ```
    /// use nbio::sync::CancellationToken;
    ///
    /// nbio::block_on(async {
    ///     let token = CancellationToken::new();
    ///     let waiter = nbio::spawn({
    ///         let token = token.clone();
    ///         async move { token.cancelled().await }
    ///     });
    ///     nbio::yield_now().await; // the waiter waits
    ///     token.cancel();
    ///     waiter.await.unwrap();
    /// });
    /// ```
    pub fn cancelled(&self) -> Cancelled<'_> {
        Cancelled {
            token: self,
            key: None,
            done: false,
        }
    }

    /// Where this token was made (its `new` or `child_token` call; clones share it).
    ///
    /// ```
    /// let token = nbio::sync::CancellationToken::new();
    /// assert_eq!(token.made_at().line(), line!() - 1);
    /// ```
    pub fn made_at(&self) -> &'static Location<'static> {
        self.node.made_at
    }
}

impl Default for CancellationToken {
    #[track_caller]
    fn default() -> CancellationToken {
        CancellationToken::new()
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = &self.node;
        let (tasks, children) = {
            let inner = node.lock();
            let tasks: Vec<_> = inner
                .waiters
                .iter()
                .filter_map(|waiter| waiter.task)
                .collect();
            (
                tasks,
                inner.children.slots.len() - inner.children.free.len(),
            )
        };
        f.debug_struct("CancellationToken")
            .field("made_at", &format_args!("{}", node.made_at))
            .field("cancelled", &node.is_cancelled())
            .field("children", &children)
            .field("waiting_tasks", &tasks)
            .finish()
    }
}

/// The future of [`CancellationToken::cancelled`].
///
/// ```
/// nbio::block_on(async {
///     let token = nbio::sync::CancellationToken::new();
///     let stop = token.cancelled(); // made before the cancel, awaited after: still completes
///     token.cancel();
///     stop.await;
/// });
/// ```
#[must_use = "a future does nothing unless awaited"]
pub struct Cancelled<'a> {
    token: &'a CancellationToken,
    /// Our slot in the node's waiter list, once queued.
    key: Option<Key>,
    done: bool,
}

impl Cancelled<'_> {
    /// The polled task waits on this token's cancellation.
    #[inline]
    fn waiting(&self) {
        crate::context::waiting_on(crate::context::WaitOn::Cancelled {
            made_at: Some(self.token.node.made_at),
        });
    }

    /// Gives our slot back, if we have one, and drops what it held after the lock.
    fn leave(&mut self) {
        if let Some(key) = self.key.take() {
            let gone = self.token.node.lock().waiters.remove(key);
            drop(gone);
        }
    }
}

impl Future for Cancelled<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        assert!(
            !this.done,
            "a Cancelled future was polled after it completed"
        );
        let node = &this.token.node;
        if !node.is_cancelled() {
            // Cloned before the lock (a waker's clone may be anyone's code), dropped after it
            // if it is not stored.
            let fresh = cx.waker().clone();
            let mut inner = node.lock();
            if !node.is_cancelled() {
                // Looked at and queued in one critical section (step 3).
                let stale = match &this.key {
                    Some(key) => inner.waiters.get_mut(key).waker.replace(fresh),
                    None => {
                        this.key = Some(inner.waiters.push_back(fresh, ()));
                        None
                    }
                };
                drop(inner);
                drop(stale);
                this.waiting();
                return Poll::Pending;
            }
            drop(inner);
            drop(fresh);
        }
        this.leave();
        this.done = true;
        Poll::Ready(())
    }
}

impl Drop for Cancelled<'_> {
    fn drop(&mut self) {
        self.leave();
    }
}

impl fmt::Debug for Cancelled<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancelled")
            .field("made_at", &format_args!("{}", self.token.node.made_at))
            .field("queued", &self.key.is_some())
            .finish()
    }
}
