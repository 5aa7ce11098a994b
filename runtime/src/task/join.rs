//! `JoinHandle`: awaiting a spawned task's output, aborting it, or letting it run detached.
//!
//! The article's loop throws a finished generator away (`except StopIteration: pass`), and
//! whatever it computed goes with it. A `JoinHandle` keeps the result: the task leaves its
//! output in its own allocation, and the handle takes it out when it is awaited.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use super::raw::{self, Header};
use super::state::{Snapshot, CANCELLED};
use super::TaskId;

/// An owned permission to await a spawned task's output.
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] if the task panicked or was aborted.
/// Dropping it detaches the task: it runs on, and its output is dropped when it finishes.
///
/// ```
/// let answer = nbio::block_on(async {
///     let handle = nbio::spawn(async { 6 * 7 });
///     handle.await
/// });
/// assert_eq!(answer.unwrap(), 42);
/// ```
pub struct JoinHandle<T> {
    task: NonNull<Header>,
    _output: PhantomData<T>,
}

// SAFETY: the handle touches the task's state word (atomic) and the join-waker slot under the
// JOIN_WAKER protocol, and it moves the output `T` to whichever thread awaits it: so it may
// cross threads when `T` may.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: through `&JoinHandle` one can only read the state (`is_finished`, `id`) or set bits
// atomically (`abort`); the output is only reached through `&mut` (poll).
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// Wraps the handle's reference from `raw::allocate`.
    pub(crate) fn new(task: NonNull<Header>) -> JoinHandle<T> {
        JoinHandle {
            task,
            _output: PhantomData,
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle owns a reference, which keeps the task alive.
        unsafe { self.task.as_ref() }
    }

    /// Asks the task to stop. Its future is dropped the next time the executor reaches it
    /// (at once if it is idle), and awaiting this handle then gives a cancelled
    /// [`JoinError`]. A task that already finished keeps its output.
    ///
    /// ```
    /// nbio::block_on(async {
    ///     let handle = nbio::spawn(std::future::pending::<()>());
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort(&self) {
        // SAFETY: the handle's reference keeps the task alive and is not consumed.
        unsafe { raw::wake(self.task, false, CANCELLED) }
    }

    /// Whether the task's future is gone: it returned, panicked or was aborted.
    pub fn is_finished(&self) -> bool {
        self.header().state.load().is_finished()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.header().id()
    }

    /// Takes the result of a finished task out of its slot.
    fn take_result(&mut self, state: Snapshot) -> Result<T, JoinError> {
        let id = self.id();
        if !state.has_output() {
            return Err(JoinError::cancelled(id));
        }
        assert!(
            !state.is_closed(),
            "JoinHandle polled again after it returned the task's output"
        );
        // SAFETY: COMPLETE with HANDLE set: the output is in the slot and it is ours; CLOSED,
        // set next, records that it is gone so that nobody reads or drops it again.
        let output = unsafe { Header::read_output::<T>(self.task) };
        self.header().state.output_taken();
        output.map_err(|panic| JoinError::panicked(id, panic.into_payload()))
    }
}

impl<T> JoinHandle<T> {
    /// The awaiting task returns `Pending` on this handle: its wait word says so, and whether
    /// the task awaited is of another runtime than the awaiter (its id is then not one of the
    /// awaiter's runtime, and the wait graph must not follow it).
    /// `registered` is the waker the task will wake.
    #[inline]
    fn waiting(&self, registered: &Waker) {
        use super::polled::{self, JOIN_ELSEWHERE, JOIN_TAG};
        // SAFETY: the handle's reference keeps the task alive.
        let theirs = unsafe { Header::runtime(self.task) };
        let elsewhere = if theirs.is(polled::polled().runtime()) {
            0
        } else {
            JOIN_ELSEWHERE
        };
        polled::note_registered(JOIN_TAG | elsewhere | self.header().id().0, registered);
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let state = self.header().state.load();
        if state.is_finished() {
            return Poll::Ready(self.take_result(state));
        }
        let slot = self.header().join_waker();
        if state.has_join_waker() {
            // SAFETY: while JOIN_WAKER is set both sides only read the slot.
            let same = unsafe { (*slot).as_ref() }.is_some_and(|w| w.will_wake(cx.waker()));
            if same {
                self.waiting(cx.waker());
                return Poll::Pending;
            }
            if let Err(state) = self.header().state.unset_join_waker() {
                return Poll::Ready(self.take_result(state));
            }
        }
        // SAFETY: JOIN_WAKER is clear, so the slot is the handle's to write. A box left from
        // an earlier registration is reused.
        match unsafe { &mut *slot } {
            Some(stored) => (**stored).clone_from(cx.waker()),
            empty => *empty = Some(Box::new(cx.waker().clone())),
        }
        match self.header().state.set_join_waker() {
            Ok(()) => {
                // SAFETY: the handle's reference keeps the task alive.
                unsafe { Header::joined(self.task) };
                self.waiting(cx.waker());
                Poll::Pending
            }
            Err(state) => {
                // SAFETY: JOIN_WAKER is still clear: the slot is still ours.
                unsafe { *slot = None };
                Poll::Ready(self.take_result(state))
            }
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let header = self.header();
        let dropped = header.state.drop_handle();
        if dropped.was_waiting {
            // If awaiting this handle was the poll's last wait, it is over now.
            let id = header.id().0;
            super::polled::forget_if(|last| {
                use super::polled::{JOIN_ELSEWHERE, JOIN_TAG, OWN_WAKER};
                last & !(OWN_WAKER | JOIN_ELSEWHERE) == JOIN_TAG | id
            });
        }
        if dropped.drop_output {
            // SAFETY: the output was in the slot and the handle owned it; CLOSED, just set,
            // keeps anyone else from touching it.
            unsafe { Header::drop_output(self.task) };
        }
        if dropped.clear_waker {
            // SAFETY: JOIN_WAKER is clear, so the slot is the handle's.
            unsafe { *header.join_waker() = None };
        }
        // SAFETY: the handle's own reference, released once.
        unsafe { raw::drop_ref(self.task) }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why awaiting a [`JoinHandle`] did not give the task's output: it panicked, or it was
/// aborted (or its runtime was dropped) before it finished.
///
/// ```
/// nbio::block_on(async {
///     let err = nbio::spawn(async { panic!("boom") }).await.unwrap_err();
///     assert!(err.is_panic());
///     assert_eq!(err.to_string(), format!("task {} panicked: boom", err.id()));
/// });
/// ```
pub struct JoinError {
    id: TaskId,
    repr: Repr,
}

enum Repr {
    Cancelled,
    // In a Mutex so that `JoinError` is `Sync` and fits `Box<dyn Error + Send + Sync>`.
    Panic(Mutex<Box<dyn Any + Send + 'static>>),
}

impl JoinError {
    pub(crate) fn cancelled(id: TaskId) -> JoinError {
        JoinError {
            id,
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panicked(id: TaskId, payload: Box<dyn Any + Send + 'static>) -> JoinError {
        JoinError {
            id,
            repr: Repr::Panic(Mutex::new(payload)),
        }
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The task was aborted, or its runtime was dropped, before it finished.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The id of the task.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The value the task panicked with, to inspect or to `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicking; see [`JoinError::try_into_panic`].
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("JoinError::into_panic called on a cancelled task's error")
    }

    /// The panic value, or the error itself back if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(payload) => Ok(payload.into_inner().unwrap_or_else(|e| e.into_inner())),
            Repr::Cancelled => Err(self),
        }
    }

    /// The panic message, when the payload is a string (as `panic!("...")` makes it).
    fn panic_message(&self) -> Option<String> {
        let Repr::Panic(payload) = &self.repr else {
            return None;
        };
        let payload = payload.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = payload.downcast_ref::<&'static str>() {
            Some((*s).to_string())
        } else {
            payload.downcast_ref::<String>().cloned()
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "task {} was cancelled", self.id),
            Repr::Panic(_) => match self.panic_message() {
                Some(message) => write!(f, "task {} panicked: {message}", self.id),
                None => write!(f, "task {} panicked", self.id),
            },
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "JoinError::Cancelled({})", self.id),
            Repr::Panic(_) => write!(
                f,
                "JoinError::Panic({}, {:?})",
                self.id,
                self.panic_message()
            ),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for std::io::Error {
    fn from(err: JoinError) -> std::io::Error {
        std::io::Error::other(err)
    }
}
