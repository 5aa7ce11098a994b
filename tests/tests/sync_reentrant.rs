//! No code of the user runs while a lock of `Barrier`, `OnceCell` or `CancellationToken` is
//! held: a waker whose clone, wake or drop calls back into the primitive that holds it (here,
//! its `Debug`, which takes the lock, and more) finds the lock free. Each test runs under a
//! watchdog: a regression deadlocks the thread, and the watchdog turns that into a failure.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use nbio::sync::{Barrier, CancellationToken, OnceCell};
use nbio_tests::watched;

/// The state behind a [`hooked`] waker: the hook, and how often each call ran it.
struct Hooked {
    hook: Box<dyn Fn() + Send + Sync>,
    clones: AtomicUsize,
    wakes: AtomicUsize,
    drops: AtomicUsize,
}

impl Hooked {
    fn new(hook: impl Fn() + Send + Sync + 'static) -> Arc<Hooked> {
        Arc::new(Hooked {
            hook: Box::new(hook),
            clones: AtomicUsize::new(0),
            wakes: AtomicUsize::new(0),
            drops: AtomicUsize::new(0),
        })
    }

    /// (clones, wakes, drops) so far.
    fn calls(&self) -> (usize, usize, usize) {
        (
            self.clones.load(SeqCst),
            self.wakes.load(SeqCst),
            self.drops.load(SeqCst),
        )
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker that runs `hooked`'s hook in its clone, wake and drop: what a waker of another
/// executor may do, and what calling back into an nbio primitive from there looks like.
fn hooked(hooked: &Arc<Hooked>) -> Waker {
    let data = Arc::into_raw(Arc::clone(hooked)).cast::<()>();
    // SAFETY: `data` is an `Arc<Hooked>` turned into a pointer, which is what every function
    // of `VTABLE` expects, and each of them keeps the reference count right.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` came from `Arc::into_raw` in `hooked` or here; borrowed, not taken.
    let this = ManuallyDrop::new(unsafe { Arc::from_raw(data.cast::<Hooked>()) });
    (this.hook)();
    this.clones.fetch_add(1, SeqCst);
    RawWaker::new(Arc::into_raw(Arc::clone(&this)).cast(), &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: as in `clone`; `wake` consumes the waker, so its reference is taken here.
    let this = unsafe { Arc::from_raw(data.cast::<Hooked>()) };
    (this.hook)();
    this.wakes.fetch_add(1, SeqCst);
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: as in `clone`.
    let this = ManuallyDrop::new(unsafe { Arc::from_raw(data.cast::<Hooked>()) });
    (this.hook)();
    this.wakes.fetch_add(1, SeqCst);
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: as in `clone`; the waker's own reference is given back here.
    let this = unsafe { Arc::from_raw(data.cast::<Hooked>()) };
    (this.hook)();
    this.drops.fetch_add(1, SeqCst);
}

fn poll_with<F: Future + ?Sized>(waker: &Waker, future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

#[test]
fn a_waker_that_calls_into_its_barrier_finds_it_free() {
    watched(|| {
        let barrier = Arc::new(Barrier::new(2));
        let hook = Hooked::new({
            let barrier = Arc::clone(&barrier);
            move || drop(format!("{barrier:?}"))
        });
        let waker = hooked(&hook);
        let mut waiting = pin!(barrier.wait());
        assert!(poll_with(&waker, waiting.as_mut()).is_pending()); // cloned and queued
        assert!(poll_with(&waker, waiting.as_mut()).is_pending()); // replaced, old dropped
        let mut leader = pin!(barrier.wait());
        // Leads: wakes the waiter's waker, drops its own unused clone.
        assert!(poll_with(&waker, leader.as_mut()).is_ready());
        assert!(poll_with(&waker, waiting.as_mut()).is_ready());
        {
            let mut quitter = pin!(barrier.wait());
            assert!(poll_with(&waker, quitter.as_mut()).is_pending());
        } // withdrawn: its waker dropped
        let (clones, wakes, drops) = hook.calls();
        assert!(
            clones >= 5 && wakes >= 1 && drops >= 4,
            "{:?}",
            hook.calls()
        );
    });
}

#[test]
fn a_waker_that_calls_into_its_once_cell_finds_it_free() {
    watched(|| {
        let cell = Arc::new(OnceCell::<u32>::new());
        let hook = Hooked::new({
            let cell = Arc::clone(&cell);
            move || {
                drop(format!("{cell:?}"));
                let _ = cell.get();
            }
        });
        let waker = hooked(&hook);
        let (tx, rx) = nbio_tests::oneshot::<u32>();
        let mut first = pin!(cell.get_or_init(|| async { rx.await.unwrap() }));
        let mut second = pin!(cell.get_or_init(|| async { unreachable!() }));
        assert!(poll_with(&waker, first.as_mut()).is_pending()); // initialising
        assert!(poll_with(&waker, second.as_mut()).is_pending()); // queued
        assert!(poll_with(&waker, second.as_mut()).is_pending()); // waker replaced
        tx.send(3);
        assert_eq!(poll_with(&waker, first.as_mut()), Poll::Ready(&3)); // wakes `second`
        assert_eq!(poll_with(&waker, second.as_mut()), Poll::Ready(&3));
        let (clones, wakes, drops) = hook.calls();
        assert!(
            clones >= 4 && wakes >= 1 && drops >= 3,
            "{:?}",
            hook.calls()
        );
    });
}

#[test]
fn a_waker_and_an_init_future_that_call_into_a_once_cell_being_handed_on_find_it_free() {
    watched(|| {
        let cell = Arc::new(OnceCell::<u32>::new());
        let hook = Hooked::new({
            let cell = Arc::clone(&cell);
            move || drop(format!("{cell:?}"))
        });
        let waker = hooked(&hook);
        /// An init future whose drop calls into the cell.
        struct CallsBackOnDrop(Arc<OnceCell<u32>>);
        impl Drop for CallsBackOnDrop {
            fn drop(&mut self) {
                drop(format!("{:?}", self.0));
                assert!(self.0.set(1).is_err(), "the next waiter has the turn");
            }
        }
        let on_drop = CallsBackOnDrop(Arc::clone(&cell));
        let mut slow = Box::pin(cell.get_or_init(move || async move {
            let _on_drop = on_drop;
            std::future::pending::<u32>().await
        }));
        let mut next = pin!(cell.get_or_init(|| async { 2 }));
        let mut last = pin!(cell.get_or_init(|| async { 5 }));
        assert!(poll_with(&waker, slow.as_mut()).is_pending());
        assert!(poll_with(&waker, next.as_mut()).is_pending());
        assert!(poll_with(&waker, last.as_mut()).is_pending());
        drop(slow); // its init future calls back; the turn goes to `next`, woken
        assert_eq!(hook.calls().1, 1, "the next waiter was woken");
        assert_eq!(poll_with(&waker, next.as_mut()), Poll::Ready(&2)); // wakes `last`
        assert_eq!(poll_with(&waker, last.as_mut()), Poll::Ready(&2));
        assert_eq!(hook.calls().1, 2);
    });
}

#[test]
fn a_waker_that_calls_into_its_cancellation_token_finds_it_free() {
    watched(|| {
        let root = CancellationToken::new();
        let child = root.child_token();
        let hook = Hooked::new({
            let (root, child) = (root.clone(), child.clone());
            move || {
                drop(format!("{root:?} {child:?}"));
                drop(child.child_token()); // takes the child's lock, and leaves its list
                if child.is_cancelled() {
                    root.cancel(); // again, from inside a wake of the first cancel
                }
            }
        });
        let waker = hooked(&hook);
        let mut on_root = pin!(root.cancelled());
        let mut on_child = pin!(child.cancelled());
        assert!(poll_with(&waker, on_root.as_mut()).is_pending());
        assert!(poll_with(&waker, on_child.as_mut()).is_pending());
        assert!(poll_with(&waker, on_child.as_mut()).is_pending()); // replaced, old dropped
        {
            let mut quitter = pin!(child.cancelled());
            assert!(poll_with(&waker, quitter.as_mut()).is_pending());
        } // its slot given back: its waker dropped
        root.cancel();
        assert_eq!(poll_with(&waker, on_root.as_mut()), Poll::Ready(()));
        assert_eq!(poll_with(&waker, on_child.as_mut()), Poll::Ready(()));
        let (clones, wakes, drops) = hook.calls();
        assert!(
            clones >= 4 && wakes == 2 && drops >= 2,
            "{:?}",
            hook.calls()
        );
    });
}
