//! The functions that know a task's future type, and how its header names them in four bytes.
//!
//! Every `(F, S)` a program spawns has one [`Vtable`], a constant the compiler lays out among
//! the program's data. A header does not keep a pointer to it: it keeps the table's distance in
//! bytes from an anchor of this module, in 32 bits ([`VtableRef`]). That reaches 2 GiB either
//! way, more than one program's data spans, and lets the reference share a word of the header
//! with the 32-bit state word: with the wait word, a small task still fits malloc's 80-byte
//! chunks (what the W7 benchmark counts, bytes per idle task). Following the reference costs an
//! addition more than following a pointer.
//!
//! A table can lie farther only when the program links crates dynamically, so that it lives in
//! another shared object than nbio. Such a table is copied once into a slot of nbio's own
//! statics, within reach, and the header names the copy.

use std::ptr::{self, NonNull};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::task::Context;

use super::raw::{Header, TaskRef};
use super::{RuntimeNo, TaskId};

/// The functions that need the future's type, one table per `(F, S)`.
#[derive(Clone)]
pub(super) struct Vtable {
    /// Polls the future once. On `Ready` (or a panic) drops the future, stores the output and
    /// returns true.
    pub(super) poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> bool,
    /// Drops the future unpolled. Returns true if its destructor panicked, in which case the
    /// panic is stored as the output.
    pub(super) drop_future: unsafe fn(NonNull<Header>) -> bool,
    /// The address of the output slot, a `Result<F::Output, Panic>`.
    pub(super) output: unsafe fn(NonNull<Header>) -> *mut (),
    /// Drops the output in place.
    pub(super) drop_output: unsafe fn(NonNull<Header>),
    /// Hands a reference to the scheduler.
    pub(super) schedule: unsafe fn(NonNull<Header>, TaskRef),
    /// Tells the scheduler who awaits the task (`Schedule::joined`).
    pub(super) joined: unsafe fn(NonNull<Header>, Option<TaskId>),
    /// The scheduler's runtime (`Schedule::runtime`).
    pub(super) runtime: unsafe fn(NonNull<Header>) -> RuntimeNo,
    /// Frees the allocation.
    pub(super) dealloc: unsafe fn(NonNull<Header>),
}

/// A `&'static Vtable` in 32 bits: the table's signed distance in bytes from [`ANCHOR`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct VtableRef(i32);

/// What the distances are measured from: a static of this module, in nbio's own data.
static ANCHOR: u8 = 0;

/// How many far tables a process may copy: task types spawned from another shared object
/// than nbio's.
const FAR_MAX: usize = 1024;

/// Copies of the far tables, in nbio's own data and so within reach of the anchor. Each is
/// set once, before any header names it, and never changes; untouched slots cost no memory.
static FAR_TABLES: [OnceLock<Vtable>; FAR_MAX] = [const { OnceLock::new() }; FAR_MAX];

/// The far tables copied so far, by address, to copy each only once.
static FAR_COPIED: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

fn anchor() -> usize {
    ptr::addr_of!(ANCHOR) as usize
}

impl VtableRef {
    /// The reference to `vtable`.
    #[inline]
    pub(super) fn new(vtable: &'static Vtable) -> VtableRef {
        match VtableRef::near(vtable) {
            Some(near) => near,
            None => VtableRef::far(vtable),
        }
    }

    /// The reference to `vtable` as a distance from the anchor, if it is within reach.
    #[inline]
    fn near(vtable: &'static Vtable) -> Option<VtableRef> {
        // The cast exposes the table's provenance, for `get` to take it back.
        let distance = (vtable as *const Vtable as usize).wrapping_sub(anchor()) as isize;
        i32::try_from(distance).ok().map(VtableRef)
    }

    /// The reference to a copy of `vtable` among the far tables, copying it there the first
    /// time.
    ///
    /// # Panics
    /// If more than `FAR_MAX` far tables are needed.
    #[cold]
    fn far(vtable: &'static Vtable) -> VtableRef {
        let address = vtable as *const Vtable as usize;
        let mut copied = FAR_COPIED.lock().unwrap_or_else(PoisonError::into_inner);
        let index = match copied.iter().find(|(far, _)| *far == address) {
            Some(&(_, index)) => index,
            None => {
                let index = copied.len();
                assert!(
                    index < FAR_MAX,
                    "nbio: more than {FAR_MAX} task types are spawned from code over 2 GiB \
                     away from nbio's own (dynamically linked crates); link them statically"
                );
                let _ = FAR_TABLES[index].set(vtable.clone());
                copied.push((address, index));
                index
            }
        };
        let copy = FAR_TABLES[index]
            .get()
            .expect("a far table is copied before it is named");
        VtableRef::near(copy).expect("the far tables are nbio's own statics, near the anchor")
    }

    /// The table.
    #[inline]
    pub(super) fn get(self) -> &'static Vtable {
        let address = anchor().wrapping_add_signed(self.0 as isize);
        // SAFETY: `near` made the distance from the address of a `&'static Vtable` (the
        // program's, or nbio's copy of a far one), exposing its provenance: this is that
        // address again. A static table lives forever.
        unsafe { &*(address as *const Vtable) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe fn nothing(_: NonNull<Header>) {}

    static TABLE: Vtable = Vtable {
        poll: |_, _| false,
        drop_future: |_| false,
        output: |_| ptr::null_mut(),
        drop_output: nothing,
        schedule: |_, task| std::mem::forget(task),
        joined: |_, _| {},
        runtime: |_| RuntimeNo::UNKNOWN,
        dealloc: nothing,
    };

    #[test]
    fn a_table_in_the_program_is_named_by_its_distance() {
        let near = VtableRef::near(&TABLE).expect("a static of this crate is near the anchor");
        assert!(ptr::eq(near.get(), &TABLE));
        assert_eq!(VtableRef::new(&TABLE), near);
    }

    #[test]
    fn a_far_table_is_named_through_its_copy_made_once() {
        let far = VtableRef::far(&TABLE);
        let copy = far.get();
        assert!(!ptr::eq(copy, &TABLE), "a copy among the far tables");
        assert!(ptr::eq(copy.poll as *const (), TABLE.poll as *const ()));
        assert!(ptr::eq(
            copy.dealloc as *const (),
            TABLE.dealloc as *const ()
        ));
        assert_eq!(VtableRef::far(&TABLE), far, "copied once");
    }
}
