//! One allocation per task.
//!
//! A spawned future lives in a single heap block: a [`Header`] that the executor, the wakers
//! and the `JoinHandle` share, the scheduler handle that tells a woken task where to go, and
//! one slot that holds the future while it runs and its output once it has finished. The
//! header comes first, so a pointer to the header is a pointer to the whole task; a table of
//! functions made once per future type (the [`Vtable`]) does everything that needs to know
//! that type.
//!
//! Who may touch what:
//! - the state word: anyone holding a reference, atomically;
//! - the future: only the executor, on the runtime's thread, while it holds `RUNNING`;
//! - the output: the `JoinHandle` (or the executor, if there is no handle), after `COMPLETE`;
//! - the join-waker slot: as described on `JOIN_WAKER` in `state.rs`.

use std::any::Any;
use std::cell::UnsafeCell;
use std::future::Future;
use std::mem::{self, ManuallyDrop};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll, Waker};

use super::list::Links;
pub(crate) use super::schedule::Schedule;
use super::state::{AfterPoll, Start, State, Wake};
use super::vtable::{Vtable, VtableRef};
use super::{waker, RuntimeNo, TaskId};
use crate::loom;

/// The part of a task every holder of a reference may look at.
pub(crate) struct Header {
    /// Flags and reference count; see `state.rs`.
    pub(crate) state: State,
    /// The functions that know the future's type; four bytes, beside the state word's four
    /// (`vtable.rs`).
    vtable: VtableRef,
    /// The waker of whoever awaits the `JoinHandle`, under the `JOIN_WAKER` protocol. Boxed:
    /// most tasks are never awaited while they run, and one pointer keeps the header small.
    join_waker: UnsafeCell<Option<Box<Waker>>>,
    /// This task's neighbours on its runtime's list of live tasks (`list.rs`).
    pub(crate) links: Links,
    /// Its id, and the tag the layers above gave it at spawn, in one word.
    pub(crate) meta: TaskMeta,
    /// What the layers above keep in each task (see [`Metadata`]).
    pub(crate) metadata: Metadata,
}

/// A slot in every task for the layers above this one, in the manner of async-task's
/// `HeaderWithMetadata`: words they write while they poll the task and read for dumps. This
/// layer zeroes them at allocation and never reads them; which word means what is decided
/// above (`executor/poll.rs` assigns them). Only the thread polling a task writes its words.
#[derive(Default)]
pub(crate) struct Metadata([AtomicU64; Metadata::WORDS]);

impl Metadata {
    /// How many words a task carries for the layers above.
    pub(crate) const WORDS: usize = 2;

    /// Word `index` (below [`Metadata::WORDS`]).
    #[inline]
    pub(crate) fn word(&self, index: usize) -> &AtomicU64 {
        &self.0[index]
    }
}

/// A task's id and a 20-bit tag that the layers above give it at spawn and this layer never reads
/// (nbio's observer puts the index of the task's spawn site there), packed in one word so that
/// the whole task fits malloc's 80-byte size class: the id in the high 44 bits (17 trillion
/// spawns before it could wrap), the tag in the low 20.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TaskMeta(u64);

impl TaskMeta {
    /// How many bits the tag takes.
    pub(crate) const TAG_BITS: u32 = 20;
    /// The largest tag; a larger one is stored as this.
    pub(crate) const TAG_MAX: u32 = (1 << Self::TAG_BITS) - 1;

    pub(crate) fn new(id: TaskId, tag: u32) -> TaskMeta {
        debug_assert!(tag <= Self::TAG_MAX);
        TaskMeta((id.0 << Self::TAG_BITS) | u64::from(tag.min(Self::TAG_MAX)))
    }

    pub(crate) fn id(self) -> TaskId {
        TaskId(self.0 >> Self::TAG_BITS)
    }

    pub(crate) fn tag(self) -> u32 {
        (self.0 & u64::from(Self::TAG_MAX)) as u32
    }
}

// SAFETY: every field but `join_waker` is atomic or immutable after allocation. `join_waker`
// is only written by the side that owns it under the `JOIN_WAKER` protocol and only read
// concurrently by both sides while the bit is set, and `Waker` is `Sync`.
unsafe impl Sync for Header {}
// SAFETY: as for `Sync`; the header holds nothing tied to a thread.
unsafe impl Send for Header {}

/// A caught panic, boxed once more so that `Result<T, Panic>` costs a single pointer.
pub(crate) struct Panic(Box<Box<dyn Any + Send + 'static>>);

impl Panic {
    fn new(payload: Box<dyn Any + Send + 'static>) -> Panic {
        Panic(Box::new(payload))
    }

    /// The payload `panic!` was called with.
    pub(crate) fn into_payload(self) -> Box<dyn Any + Send + 'static> {
        *self.0
    }
}

/// What the executor does with a task after running it.
pub(crate) enum RunOutcome {
    /// It returned `Pending` and nothing woke it meanwhile (or it had already finished).
    Idle,
    /// It was woken while it ran: back into the queue it goes, with this reference.
    Requeue(TaskRef),
    /// Its future is gone; the executor removes it from its registry, then lets go of it,
    /// which tells the `JoinHandle`.
    Finished(FinishedTask),
}

/// A task whose future is gone (it returned, panicked, or was dropped after an abort) and
/// whose `JoinHandle` has not heard of it yet: dropping this publishes the end (the output,
/// the handle's wake). The executor takes the task off its list and counts it first, so that
/// an awaiter the handle wakes, on any thread, finds the runtime's counts already true.
pub(crate) struct FinishedTask {
    task: TaskRef,
    has_output: bool,
}

impl FinishedTask {
    /// The task, to take it off the executor's list.
    pub(crate) fn task(&self) -> &TaskRef {
        &self.task
    }

    /// Whether an output is stored: the future returned (or panicked), rather than being
    /// dropped unfinished.
    pub(crate) fn has_output(&self) -> bool {
        self.has_output
    }
}

impl Drop for FinishedTask {
    fn drop(&mut self) {
        self.task.finish(self.has_output);
    }
}

/// The slot after the header: the future until it finishes, then its output.
union Stage<F: Future> {
    future: ManuallyDrop<F>,
    output: ManuallyDrop<Result<F::Output, Panic>>,
}

/// The whole allocation. `repr(C)` keeps the header at offset 0.
#[repr(C)]
struct RawTask<F: Future, S> {
    header: Header,
    scheduler: S,
    stage: UnsafeCell<Stage<F>>,
}

/// The three references a new task starts with.
pub(crate) struct NewTask {
    /// For the run queue: a new task is runnable at once.
    pub(crate) queued: TaskRef,
    /// For the executor's registry of live tasks.
    pub(crate) registered: TaskRef,
    /// For the `JoinHandle`.
    pub(crate) handle: NonNull<Header>,
}

/// Allocates a task for `future`. It starts scheduled, with a handle and three references.
#[inline]
pub(crate) fn allocate<F, S>(future: F, scheduler: S, meta: TaskMeta) -> NewTask
where
    F: Future + 'static,
    S: Schedule,
{
    let task = Box::new(RawTask {
        header: Header {
            state: State::new(),
            vtable: VtableRef::new(RawTask::<F, S>::VTABLE),
            join_waker: UnsafeCell::new(None),
            links: Links::default(),
            meta,
            metadata: Metadata::default(),
        },
        scheduler,
        stage: UnsafeCell::new(Stage {
            future: ManuallyDrop::new(future),
        }),
    });
    let ptr = NonNull::from(Box::leak(task)).cast::<Header>();
    NewTask {
        queued: TaskRef(ptr),
        registered: TaskRef(ptr),
        handle: ptr,
    }
}

impl<F: Future, S: Schedule> RawTask<F, S> {
    const VTABLE: &'static Vtable = &Vtable {
        poll: Self::poll,
        drop_future: Self::drop_future,
        output: Self::output,
        drop_output: Self::drop_output,
        schedule: Self::schedule,
        joined: Self::joined,
        runtime: Self::runtime,
        dealloc: Self::dealloc,
    };

    /// The stage slot of the task at `ptr`.
    ///
    /// # Safety
    /// `ptr` must come from `allocate::<F, S>` and the task must not be freed yet.
    unsafe fn stage(ptr: NonNull<Header>) -> *mut Stage<F> {
        // SAFETY: by the caller's promise `ptr` is the start of a live `RawTask<F, S>`.
        unsafe { (*ptr.cast::<Self>().as_ptr()).stage.get() }
    }

    /// # Safety
    /// As for `stage`; the caller holds `RUNNING`, the future is still in the slot.
    unsafe fn poll(ptr: NonNull<Header>, cx: &mut Context<'_>) -> bool {
        // SAFETY: RUNNING makes the slot ours, and it holds the future.
        let stage = unsafe { &mut *Self::stage(ptr) };
        // SAFETY: the future stays in this heap block until it is dropped in place below or by
        // `drop_future`; it is never moved, so pinning it here is sound.
        let future = unsafe { Pin::new_unchecked(&mut *stage.future) };
        let output = match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return false,
            Ok(Poll::Ready(value)) => Ok(value),
            Err(payload) => Err(Panic::new(payload)),
        };
        // SAFETY: the future is in the slot and is not used again.
        let output = match unsafe { Self::drop_future_in_place(stage) } {
            None => output,
            Some(panic) => {
                // Its destructor panicked after it returned: report the panic instead.
                let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(output)));
                Err(panic)
            }
        };
        stage.output = ManuallyDrop::new(output);
        true
    }

    /// # Safety
    /// As for `poll`.
    unsafe fn drop_future(ptr: NonNull<Header>) -> bool {
        // SAFETY: RUNNING makes the slot ours, and it holds the future.
        let stage = unsafe { &mut *Self::stage(ptr) };
        // SAFETY: the future is in the slot and is not used again.
        match unsafe { Self::drop_future_in_place(stage) } {
            None => false,
            Some(panic) => {
                stage.output = ManuallyDrop::new(Err(panic));
                true
            }
        }
    }

    /// Drops the future, catching a panic from its destructor.
    ///
    /// # Safety
    /// The slot must hold the future, and the future must not be used afterwards.
    unsafe fn drop_future_in_place(stage: &mut Stage<F>) -> Option<Panic> {
        panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: by the caller's promise the slot holds a future that is never used again.
            unsafe { ManuallyDrop::drop(&mut stage.future) }
        }))
        .err()
        .map(Panic::new)
    }

    /// # Safety
    /// As for `stage`.
    unsafe fn output(ptr: NonNull<Header>) -> *mut () {
        // SAFETY: forwarded from the caller; only an address is taken, nothing is read.
        unsafe { ptr::addr_of_mut!((*Self::stage(ptr)).output).cast() }
    }

    /// # Safety
    /// As for `stage`; the slot holds the output and the caller owns it.
    unsafe fn drop_output(ptr: NonNull<Header>) {
        // SAFETY: by the caller's promise the slot holds an output that nobody else touches.
        let stage = unsafe { &mut *Self::stage(ptr) };
        let _ = panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: as above; the output is dropped once, here.
            unsafe { ManuallyDrop::drop(&mut stage.output) }
        }));
    }

    /// # Safety
    /// As for `stage`.
    unsafe fn schedule(ptr: NonNull<Header>, task: TaskRef) {
        // SAFETY: forwarded from the caller: the task is alive, and `task` keeps it so.
        let raw = unsafe { ptr.cast::<Self>().as_ref() };
        raw.scheduler.schedule(task);
    }

    /// # Safety
    /// As for `stage`.
    unsafe fn joined(ptr: NonNull<Header>, awaiter: Option<TaskId>) {
        // SAFETY: forwarded from the caller: the task is alive.
        let raw = unsafe { ptr.cast::<Self>().as_ref() };
        raw.scheduler.joined(raw.header.id(), awaiter);
    }

    /// # Safety
    /// As for `stage`.
    unsafe fn runtime(ptr: NonNull<Header>) -> RuntimeNo {
        // SAFETY: forwarded from the caller: the task is alive.
        let raw = unsafe { ptr.cast::<Self>().as_ref() };
        raw.scheduler.runtime()
    }

    /// # Safety
    /// `ptr` must come from `allocate::<F, S>` and the last reference must just have been
    /// dropped. The future and the output must already be gone.
    unsafe fn dealloc(ptr: NonNull<Header>) {
        // SAFETY: the block came from `Box::leak` in `allocate`, and no reference is left.
        // Dropping the box drops the header's join waker and the scheduler handle; the stage's
        // fields are `ManuallyDrop`, so nothing is dropped twice.
        drop(unsafe { Box::from_raw(ptr.cast::<Self>().as_ptr()) });
    }
}

impl Header {
    /// Reads the output for a `JoinHandle<T>`.
    ///
    /// # Safety
    /// The task must be `COMPLETE`, the caller must own the output (it is the handle), `T`
    /// must be the future's output type, and the output must not be read again.
    pub(crate) unsafe fn read_output<T>(this: NonNull<Header>) -> Result<T, Panic> {
        // SAFETY: forwarded from the caller.
        unsafe {
            let slot = (this.as_ref().vtable.get().output)(this);
            ptr::read(slot.cast::<Result<T, Panic>>())
        }
    }

    /// Drops the output from the `JoinHandle`'s side.
    ///
    /// # Safety
    /// As for `read_output`, without the type.
    pub(crate) unsafe fn drop_output(this: NonNull<Header>) {
        // SAFETY: forwarded from the caller.
        unsafe { (this.as_ref().vtable.get().drop_output)(this) }
    }

    /// The join-waker slot; see `JOIN_WAKER` in `state.rs` for who may touch it when.
    pub(crate) fn join_waker(&self) -> *mut Option<Box<Waker>> {
        self.join_waker.get()
    }

    /// The task's id.
    pub(crate) fn id(&self) -> TaskId {
        self.meta.id()
    }

    /// Tells the task's scheduler that the task running on this thread now awaits it.
    ///
    /// # Safety
    /// The caller must hold a reference (it is the `JoinHandle`).
    pub(crate) unsafe fn joined(this: NonNull<Header>) {
        // SAFETY: forwarded from the caller: the handle's reference keeps the task alive.
        unsafe { (this.as_ref().vtable.get().joined)(this, super::polled::polled_task()) }
    }

    /// Which runtime the task is of.
    ///
    /// # Safety
    /// The caller must hold a reference.
    pub(crate) unsafe fn runtime(this: NonNull<Header>) -> RuntimeNo {
        // SAFETY: forwarded from the caller: its reference keeps the task alive.
        unsafe { (this.as_ref().vtable.get().runtime)(this) }
    }
}

/// Adds one reference.
///
/// # Safety
/// The caller must hold a reference, so that the task is alive.
pub(crate) unsafe fn clone_ref(this: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header alive.
    unsafe { this.as_ref() }.state.ref_inc();
}

/// Drops one reference, freeing the task if it was the last.
///
/// # Safety
/// The caller must own the reference it drops and not use `this` afterwards.
pub(crate) unsafe fn drop_ref(this: NonNull<Header>) {
    // SAFETY: the reference being dropped keeps the header alive until this line is done.
    let header = unsafe { this.as_ref() };
    let vtable = header.vtable.get();
    if header.state.ref_dec() {
        // SAFETY: that was the last reference; AcqRel ordered every holder's use before this.
        unsafe { (vtable.dealloc)(this) }
    }
}

/// Makes the task runnable: the single mechanism behind `Waker::wake`, `wake_by_ref` and
/// `JoinHandle::abort` (which passes `CANCELLED` as `extra`). Only the caller that
/// `State::wake` tells to schedule queues the task; a running task is re-queued by the
/// executor when its poll ends; a queued or finished one needs nothing.
///
/// # Safety
/// The caller must hold a reference. If `owned`, that reference is consumed.
pub(crate) unsafe fn wake(this: NonNull<Header>, owned: bool, extra: u32) {
    // SAFETY: the caller's reference keeps the header alive.
    let header = unsafe { this.as_ref() };
    match header.state.wake(extra) {
        Wake::Schedule => {
            if !owned {
                // SAFETY: our borrowed reference keeps the task alive while we add the queue's.
                unsafe { clone_ref(this) };
            }
            // SAFETY: the task is alive and the new `TaskRef` owns one reference.
            unsafe { (header.vtable.get().schedule)(this, TaskRef(this)) };
        }
        Wake::Nothing if owned => {
            // SAFETY: the caller handed us this reference and nothing queued it.
            unsafe { drop_ref(this) };
        }
        Wake::Nothing => {}
    }
}

/// One counted reference to a task, as a run-queue or registry entry holds it.
pub(crate) struct TaskRef(NonNull<Header>);

// SAFETY: a `TaskRef` moves between threads through the remote-wake queue. All it lets a
// thread do is touch the state word (atomic) and hand the task to the executor; the future
// inside is only polled or dropped by `run` and `shutdown`, which only the runtime's own
// thread calls, or, for a blocking job (whose closure is `Send`), the pool thread that took it
// from the pool's queue.
unsafe impl Send for TaskRef {}

impl TaskRef {
    /// The shared header.
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: our reference keeps the task alive.
        unsafe { self.0.as_ref() }
    }

    /// The raw pointer, keeping the reference (the registry stores tasks this way).
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        let ptr = self.0;
        mem::forget(self);
        ptr
    }

    /// Takes back a reference given away by `into_raw`.
    ///
    /// # Safety
    /// `ptr` must come from `into_raw`, and that reference must not be taken back twice.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> TaskRef {
        TaskRef(ptr)
    }

    /// The address, to compare tasks.
    pub(crate) fn as_ptr(&self) -> NonNull<Header> {
        self.0
    }

    /// Polls the task once (or drops its future, if it was aborted). Only an executor calls
    /// this, with the reference it took from a run queue.
    #[inline(always)]
    pub(crate) fn run(self) -> RunOutcome {
        let header = self.header();
        let vtable = header.vtable.get();
        let has_output = match header.state.start_run() {
            Start::Gone => return RunOutcome::Idle,
            // SAFETY: we hold RUNNING and the future is still in the slot.
            Start::Cancel => unsafe { (vtable.drop_future)(self.0) },
            Start::Poll => {
                let waker = waker::borrowed(self.0);
                let mut cx = Context::from_waker(&waker);
                // SAFETY: we hold RUNNING and the future is still in the slot.
                let done = unsafe { (vtable.poll)(self.0, &mut cx) };
                if !done {
                    return match header.state.end_pending_run() {
                        AfterPoll::Requeue => RunOutcome::Requeue(self),
                        AfterPoll::Idle => {
                            // The transition released the queue's reference.
                            mem::forget(self);
                            RunOutcome::Idle
                        }
                    };
                }
                true
            }
        };
        RunOutcome::Finished(FinishedTask {
            task: self,
            has_output,
        })
    }

    /// Drops the future of a task that has not finished, because its runtime is shutting down.
    pub(crate) fn shutdown(&self) {
        let header = self.header();
        if !header.state.start_shutdown() {
            return;
        }
        // SAFETY: we hold RUNNING and the future is still in the slot.
        let has_output = unsafe { (header.vtable.get().drop_future)(self.0) };
        self.finish(has_output);
    }

    /// The future is gone: publish it, dispose of an output nobody will collect, and wake the
    /// `JoinHandle`'s awaiter.
    fn finish(&self, has_output: bool) {
        let header = self.header();
        let finished = header.state.finish(has_output);
        if finished.drop_output {
            // SAFETY: no handle exists, so the output is ours alone, and CLOSED keeps it so.
            unsafe { (header.vtable.get().drop_output)(self.0) };
        }
        if finished.wake_joiner {
            // SAFETY: finished with JOIN_WAKER set: the handle may only read the slot now.
            if let Some(waker) = unsafe { &*header.join_waker.get() } {
                // The awaiter may be a future of another executor: its waker must not unwind
                // through the loop that finished this task.
                loom::wake_by_ref_guarded(waker);
            }
            // Hand the slot back to the handle, which may now drop the waker.
            header.state.joiner_woken();
        }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: a `TaskRef` owns one reference and gives it up exactly once, here.
        unsafe { drop_ref(self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    struct Nowhere;

    impl Schedule for Arc<Nowhere> {
        fn schedule(&self, _: TaskRef) {}
    }

    /// A task whose future and output are a few bytes is 72 bytes, an 80-byte malloc chunk
    /// with malloc's 8-byte header (at 80 bytes it took a 96-byte chunk): what W7 measures,
    /// bytes per idle task. The state word and the vtable share a word for it (`vtable.rs`).
    #[test]
    #[cfg(not(nbio_loom))] // loom's atomics are bigger
    fn a_small_task_fits_in_72_bytes() {
        type Idle = std::future::Pending<()>;
        assert_eq!(std::mem::size_of::<RawTask<Idle, Arc<Nowhere>>>(), 72);
    }
}
