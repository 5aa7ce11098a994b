//! The `Waker` of a task: a pointer to its header and four functions.
//!
//! In the article a generator that cannot go on `yield`s `('w', sock)` and the loop files it
//! under that socket; when `select()` reports the socket writable the loop puts the generator
//! back into `tasks`. A `Waker` is that filing slip made portable: whoever holds it (the
//! reactor, a timer, another task, another thread) can put the task back in the run queue by
//! calling `wake`, and `wake` knows how to reach the task's runtime from any thread.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::raw::{self, Header};

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker that borrows the executor's reference instead of owning one, for the duration of a
/// poll. Cloning it (as a future does when it stores the waker) adds a reference; the borrowed
/// one itself must not be dropped, hence `ManuallyDrop`.
pub(crate) fn borrowed(task: NonNull<Header>) -> ManuallyDrop<Waker> {
    // SAFETY: the vtable's functions uphold the `RawWaker` contract for a task pointer (each
    // clone owns a reference, wake/drop release one), and `ManuallyDrop` keeps this borrowed
    // waker from releasing a reference it does not own.
    ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(task.as_ptr().cast(), &VTABLE)) })
}

fn header(data: *const ()) -> NonNull<Header> {
    // A task waker's data pointer is always the (non-null) header of its task.
    NonNull::new(data.cast_mut().cast()).expect("task waker with a null task pointer")
}

/// # Safety
/// `data` is a task pointer and the caller's waker holds a reference to it.
unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned holds a reference, so the task is alive.
    unsafe { raw::clone_ref(header(data)) };
    RawWaker::new(data, &VTABLE)
}

/// # Safety
/// `data` is a task pointer whose reference this waker owns; `wake` consumes it.
unsafe fn wake(data: *const ()) {
    // SAFETY: the consumed waker's reference is handed over.
    unsafe { raw::wake(header(data), true, 0) }
}

/// # Safety
/// `data` is a task pointer and the waker holds a reference to it.
unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the waker's reference keeps the task alive; it is not consumed.
    unsafe { raw::wake(header(data), false, 0) }
}

/// # Safety
/// `data` is a task pointer whose reference this waker owns.
unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the dropped waker's reference is released once, here.
    unsafe { raw::drop_ref(header(data)) }
}
