//! The functions that know a task's future type, and how its header names them in four bytes.
//!
//! Every `(F, S)` a program spawns has one [`Vtable`], a constant the compiler lays out among
//! the program's read-only data. A header does not keep a pointer to it: it keeps the table's
//! distance from an anchor of this module, in 8-byte steps, in 32 bits ([`VtableRef`]). That
//! reaches 8 GiB either way, more than one program's data spans, and lets the reference share a
//! word of the header with the 32-bit state word: with the wait word, a small task still fits
//! malloc's 80-byte chunks (what the W7 benchmark counts, bytes per idle task).
//!
//! A table can lie farther only when the program links crates dynamically, so that it lives in
//! another shared object than nbio. Such a table is registered once in a table of far tables,
//! and the header keeps its index there instead, with the low bit set.

use std::ptr::{self, NonNull};
use std::sync::atomic::AtomicPtr;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::{Mutex, PoisonError};
use std::task::Context;

use super::raw::{Header, TaskRef};
use super::{RuntimeNo, TaskId};

/// The functions that need the future's type, one table per `(F, S)`.
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

/// A `&'static Vtable` in 32 bits: the low bit clear, the table's signed distance from
/// [`ANCHOR`] in 8-byte steps above it; the low bit set, its index among the far tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct VtableRef(u32);

/// The low bit of a reference to a far table.
const FAR: u32 = 1;

/// What the distances are measured from: a static of this module, in nbio's read-only data.
#[repr(align(8))]
struct Anchor(#[allow(dead_code)] u8); // only its address is read

static ANCHOR: Anchor = Anchor(0);

/// How many far tables a process may register: task types spawned from another shared object
/// than nbio's.
const FAR_MAX: usize = 4096;

/// The far tables, in the order they were registered. An entry is written once, before any
/// header names it, and never changes.
static FAR_TABLES: [AtomicPtr<Vtable>; FAR_MAX] =
    [const { AtomicPtr::new(ptr::null_mut()) }; FAR_MAX];

/// How many far tables are registered; registering takes the lock.
static FAR_COUNT: Mutex<usize> = Mutex::new(0);

fn anchor() -> usize {
    ptr::addr_of!(ANCHOR) as usize
}

impl VtableRef {
    /// The reference to `vtable`.
    #[inline]
    pub(super) fn new(vtable: &'static Vtable) -> VtableRef {
        VtableRef::near(vtable).unwrap_or_else(|| VtableRef::far(vtable))
    }

    /// The reference to `vtable` as a distance from the anchor, if it is within reach.
    #[inline]
    fn near(vtable: &'static Vtable) -> Option<VtableRef> {
        // The cast exposes the table's provenance, for `get` to take it back.
        let distance = (vtable as *const Vtable as usize).wrapping_sub(anchor()) as isize;
        if distance % 8 != 0 {
            return None;
        }
        let steps = i32::try_from(distance / 8).ok()?;
        let word = (steps as u32) << 1;
        // The shift drops the top bit: the steps must survive the trip back.
        ((word as i32 >> 1) == steps).then_some(VtableRef(word))
    }

    /// The reference to `vtable` as an index among the far tables, registering it if it is
    /// not yet.
    ///
    /// # Panics
    /// If more than `FAR_MAX` far tables are needed.
    #[cold]
    fn far(vtable: &'static Vtable) -> VtableRef {
        let wanted = (vtable as *const Vtable).cast_mut();
        let mut count = FAR_COUNT.lock().unwrap_or_else(PoisonError::into_inner);
        let registered = &FAR_TABLES[..*count];
        let index = match registered.iter().position(|t| t.load(Acquire) == wanted) {
            Some(index) => index,
            None => {
                assert!(
                    *count < FAR_MAX,
                    "nbio: more than {FAR_MAX} task types are spawned from code that lies over \
                     8 GiB away from nbio's own (dynamically linked crates); link them statically"
                );
                FAR_TABLES[*count].store(wanted, Release);
                *count += 1;
                *count - 1
            }
        };
        VtableRef(((index as u32) << 1) | FAR)
    }

    /// The table.
    #[inline]
    pub(super) fn get(self) -> &'static Vtable {
        if self.0 & FAR == 0 {
            let distance = (self.0 as i32 >> 1) as isize * 8;
            let address = anchor().wrapping_add_signed(distance);
            // SAFETY: `near` made the word from the distance of a `&'static Vtable` from the
            // anchor, and checked it survives the trip: this is that table's address again,
            // with the provenance its cast to an integer exposed. A static table lives forever.
            unsafe { &*ptr::with_exposed_provenance::<Vtable>(address) }
        } else {
            let table = FAR_TABLES[(self.0 >> 1) as usize].load(Acquire);
            // SAFETY: `far` stored a `&'static Vtable` at this index before it made the word,
            // and the entry never changes.
            unsafe { &*table }
        }
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
        assert_eq!(near.0 & FAR, 0);
        assert!(ptr::eq(near.get(), &TABLE));
        assert_eq!(VtableRef::new(&TABLE), near);
    }

    #[test]
    fn a_far_table_is_named_by_its_index_once() {
        let far = VtableRef::far(&TABLE);
        assert_eq!(far.0 & FAR, FAR);
        assert!(ptr::eq(far.get(), &TABLE));
        assert_eq!(VtableRef::far(&TABLE), far, "registered once");
    }
}
