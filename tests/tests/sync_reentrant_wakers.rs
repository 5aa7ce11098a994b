//! No code of the user runs while an `nbio::sync` lock is held: a waker whose clone, wake or
//! drop calls back into the same primitive does not deadlock the thread on itself.
//!
//! A waker is code nbio did not write. Cloning it, waking it and dropping it can run anything:
//! tokio's own regression test has a waker whose clone calls `notify_one` on the `Notify` it is
//! about to wait on. Each test here polls a primitive by hand with such a waker, made so that
//! one of its operations calls back into the primitive (`notify_one`, `add_permits`, an unlock,
//! a `try_send`), at one place where the primitive stores, replaces or lets go of a waker. Had
//! the primitive held its lock there, the callback would take the same lock again and the
//! thread would wait for itself forever; each body runs under a deadline so that such a
//! regression fails instead of hanging the run.

use std::cell::Cell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex as StdMutex};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

use nbio::sync::{broadcast, mpsc, watch, Mutex, MutexGuard, Notify, RwLock, Semaphore};
use nbio_tests::{watchdog, WakeCounter};

/// How long a body may take: it does a few polls, so only a thread stuck on a lock gets near.
const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `body` on a thread of its own; a body still running after [`DEADLINE`] fails the test.
fn within_deadline(body: impl FnOnce() + Send + 'static) {
    let test = std::thread::current();
    watchdog(
        test.name().unwrap_or("a re-entrant waker test"),
        DEADLINE,
        body,
    );
}

/// Which operations of a [`reentrant_waker`] call back into the primitive.
#[derive(Clone, Copy)]
struct On {
    clone: bool,
    wake: bool,
    drop: bool,
}

const ON_DROP: On = On {
    clone: false,
    wake: false,
    drop: true,
};
const ON_CLONE_AND_WAKE: On = On {
    clone: true,
    wake: true,
    drop: false,
};

/// What every waker made by [`reentrant_waker`] shares: the callback and when to call it.
struct Hook {
    on: On,
    callback: Box<dyn Fn() + Send + Sync>,
}

thread_local! {
    /// Set while a callback runs: what it does to other wakers of this file calls nothing
    /// more, so one callback cannot set off an endless chain of them.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

impl Hook {
    fn fire(&self, when: bool) {
        if !when || IN_CALLBACK.with(|inside| inside.replace(true)) {
            return;
        }
        struct Leave;
        impl Drop for Leave {
            fn drop(&mut self) {
                IN_CALLBACK.with(|inside| inside.set(false));
            }
        }
        let _leave = Leave;
        (self.callback)();
    }
}

/// The operations of a re-entrant waker. Its data pointer is an `Arc<Hook>` made by
/// `Arc::into_raw`; each waker (the first and every clone) owns one strong count of it.
static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// # Safety
///
/// `data` is the pointer of a live waker of [`VTABLE`] (an `Arc<Hook>` it holds a count of).
unsafe fn hook<'a>(data: *const ()) -> &'a Hook {
    // SAFETY: the caller's waker holds a count of the Arc, so the Hook is alive while it is.
    unsafe { &*data.cast::<Hook>() }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: called by `Waker::clone` on a live waker of ours.
    let hook = unsafe { hook(data) };
    hook.fire(hook.on.clone);
    // SAFETY: the pointer came from `Arc::into_raw`, and its count is at least one (ours).
    unsafe { Arc::increment_strong_count(data.cast::<Hook>()) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: called by `Waker::wake` on a live waker of ours, which it consumes.
    unsafe {
        wake_by_ref(data);
        Arc::decrement_strong_count(data.cast::<Hook>());
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: called by `Waker::wake_by_ref` on a live waker of ours.
    let hook = unsafe { hook(data) };
    hook.fire(hook.on.wake);
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: called by `Waker::drop` on a live waker of ours; its count goes with it.
    unsafe {
        let hook = hook(data);
        hook.fire(hook.on.drop);
        Arc::decrement_strong_count(data.cast::<Hook>());
    }
}

/// A waker that calls `callback` when it is cloned, woken or dropped, as `on` says. Its clones
/// share its data, so they `will_wake` each other, as the clones of a task's waker do.
fn reentrant_waker(on: On, callback: impl Fn() + Send + Sync + 'static) -> Waker {
    let hook = Arc::new(Hook {
        on,
        callback: Box::new(callback),
    });
    let raw = RawWaker::new(Arc::into_raw(hook).cast(), &VTABLE);
    // SAFETY: the vtable's functions keep `RawWaker`'s contract: `clone` makes a waker that
    // owns a count of its own, `wake` and `drop` give one back, `wake_by_ref` keeps it; the
    // Hook is `Send + Sync`, so any thread may call them.
    unsafe { Waker::from_raw(raw) }
}

/// Polls `future` once with `waker`.
fn poll_with<F: Future + ?Sized>(future: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(waker))
}

/// Polls `future` with a plain waker (it must wait), then again with `new`, whose clone calls
/// back into the primitive and so releases what the future waits for: that second poll, which
/// stores `new` in place of the plain waker, completes, and the plain waker was woken.
fn a_new_waker_cloned_releases<F: Future>(mut future: Pin<&mut F>, new: &Waker) -> F::Output {
    let first = WakeCounter::new();
    assert!(
        first.poll(future.as_mut()).is_pending(),
        "nothing to take yet"
    );
    let Poll::Ready(output) = poll_with(future.as_mut(), new) else {
        panic!("what the new waker's clone released was not taken");
    };
    assert_eq!(first.wakes(), 1, "the waker stored before was woken");
    output
}

/// Polls `future` with `old`, whose drop calls back into the primitive (it must wait), then
/// with a plain waker: the stored clone of `old` is replaced and dropped, its callback releases
/// what the future waits for, which wakes the plain waker; the third poll completes.
fn an_old_waker_dropped_releases<F: Future>(mut future: Pin<&mut F>, old: &Waker) -> F::Output {
    assert!(
        poll_with(future.as_mut(), old).is_pending(),
        "nothing to take yet"
    );
    let new = WakeCounter::new();
    assert!(new.poll(future.as_mut()).is_pending());
    assert_eq!(
        new.wakes(),
        1,
        "the old waker's drop released it, for the new one"
    );
    match new.poll(future.as_mut()) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("woken, but still waiting"),
    }
}

/// Two futures of `make` wait, the first with `quitter_waker`, whose drop calls back into the
/// primitive. Dropping the first drops its stored waker, whose callback releases what the
/// second waits for: the second is woken and completes.
fn a_dropped_waiters_waker_releases<F: Future>(make: impl Fn() -> F, quitter_waker: &Waker) {
    let mut quitter = Box::pin(make());
    let mut next = Box::pin(make());
    assert!(poll_with(quitter.as_mut(), quitter_waker).is_pending());
    let counter = WakeCounter::new();
    assert!(counter.poll(next.as_mut()).is_pending());
    drop(quitter);
    assert_eq!(
        counter.wakes(),
        1,
        "the quitter's waker released it for the next"
    );
    assert!(counter.poll(next.as_mut()).is_ready());
}

// ---------------------------------------------------------------------------------------------
// Notify: the callback is `notify_one` on the same Notify.

fn notifying(notify: &Arc<Notify>, on: On) -> Waker {
    let notify = Arc::clone(notify);
    reentrant_waker(on, move || notify.notify_one())
}

#[test]
fn notified_first_polled_with_a_waker_that_notifies_when_cloned_completes() {
    within_deadline(|| {
        let notify = Arc::new(Notify::new());
        let waker = notifying(&notify, ON_CLONE_AND_WAKE);
        let mut notified = pin!(notify.notified());
        // Queueing clones the waker; the clone stores a permit, which this poll then takes.
        assert_eq!(poll_with(notified.as_mut(), &waker), Poll::Ready(()));
    });
}

#[test]
fn notified_polled_again_with_a_new_waker_that_notifies_when_cloned_completes() {
    within_deadline(|| {
        let notify = Arc::new(Notify::new());
        let waker = notifying(&notify, ON_CLONE_AND_WAKE);
        a_new_waker_cloned_releases(pin!(notify.notified()), &waker);
    });
}

#[test]
fn notified_polled_again_with_a_new_waker_drops_the_old_one_outside_the_lock() {
    within_deadline(|| {
        let notify = Arc::new(Notify::new());
        let old = notifying(&notify, ON_DROP);
        an_old_waker_dropped_releases(pin!(notify.notified()), &old);
    });
}

#[test]
fn a_waiting_notified_dropped_drops_its_waker_outside_the_lock() {
    within_deadline(|| {
        let notify = Arc::new(Notify::new());
        let quitter_waker = notifying(&notify, ON_DROP);
        a_dropped_waiters_waker_releases(|| notify.notified(), &quitter_waker);
    });
}

// ---------------------------------------------------------------------------------------------
// Semaphore: the callback is `add_permits(1)` on the same semaphore.

fn releasing(semaphore: &Arc<Semaphore>, on: On) -> Waker {
    let semaphore = Arc::clone(semaphore);
    reentrant_waker(on, move || semaphore.add_permits(1))
}

#[test]
fn acquire_first_polled_with_a_waker_that_releases_when_cloned_completes() {
    within_deadline(|| {
        let semaphore = Arc::new(Semaphore::new(0));
        let waker = releasing(&semaphore, ON_CLONE_AND_WAKE);
        let mut acquire = pin!(semaphore.acquire());
        // Queueing clones the waker; the clone adds the permit this poll then takes.
        let Poll::Ready(Ok(permit)) = poll_with(acquire.as_mut(), &waker) else {
            panic!("the permit added by the clone was not taken");
        };
        drop(permit);
        assert_eq!(semaphore.available_permits(), 1);
    });
}

#[test]
fn acquire_polled_again_with_a_new_waker_that_releases_when_cloned_completes() {
    within_deadline(|| {
        let semaphore = Arc::new(Semaphore::new(0));
        let waker = releasing(&semaphore, ON_CLONE_AND_WAKE);
        assert!(a_new_waker_cloned_releases(pin!(semaphore.acquire()), &waker).is_ok());
    });
}

#[test]
fn acquire_polled_again_with_a_new_waker_drops_the_old_one_outside_the_lock() {
    within_deadline(|| {
        let semaphore = Arc::new(Semaphore::new(0));
        let old = releasing(&semaphore, ON_DROP);
        assert!(an_old_waker_dropped_releases(pin!(semaphore.acquire()), &old).is_ok());
    });
}

#[test]
fn a_waiting_acquire_dropped_drops_its_waker_outside_the_lock() {
    within_deadline(|| {
        let semaphore = Arc::new(Semaphore::new(0));
        let quitter_waker = releasing(&semaphore, ON_DROP);
        a_dropped_waiters_waker_releases(|| semaphore.acquire(), &quitter_waker);
    });
}

// ---------------------------------------------------------------------------------------------
// Mutex: the callback unlocks the mutex (drops a guard held for the test).

/// The mutexes `unlocking` leaks (a guard kept in a waker must be `'static`), kept reachable so
/// that memcheck (scripts/valgrind.sh) does not count them as lost.
static KEPT: StdMutex<Vec<&'static Mutex<u32>>> = StdMutex::new(Vec::new());

/// A locked mutex, and a waker whose callback unlocks it.
fn unlocking(on: On) -> (&'static Mutex<u32>, Waker) {
    let mutex: &'static Mutex<u32> = Box::leak(Box::new(Mutex::new(0)));
    KEPT.lock().unwrap().push(mutex);
    let held: StdMutex<Option<MutexGuard<'static, u32>>> = StdMutex::new(mutex.try_lock().ok());
    let waker = reentrant_waker(on, move || {
        let guard = held.lock().unwrap().take();
        drop(guard); // unlocks, after `held`'s own lock is released
    });
    (mutex, waker)
}

#[test]
fn lock_first_polled_with_a_waker_that_unlocks_when_cloned_gets_the_lock() {
    within_deadline(|| {
        let (mutex, waker) = unlocking(ON_CLONE_AND_WAKE);
        let mut lock = pin!(mutex.lock());
        assert!(matches!(poll_with(lock.as_mut(), &waker), Poll::Ready(_)));
    });
}

#[test]
fn a_waiting_lock_dropped_drops_its_waker_outside_the_lock() {
    within_deadline(|| {
        let (mutex, quitter_waker) = unlocking(ON_DROP);
        a_dropped_waiters_waker_releases(|| mutex.lock(), &quitter_waker);
    });
}

// ---------------------------------------------------------------------------------------------
// mpsc: the callback is a `try_send(7)` on the same channel.

fn sending(tx: &mpsc::Sender<u32>, on: On) -> Waker {
    let tx = tx.clone();
    reentrant_waker(on, move || drop(tx.try_send(7)))
}

#[test]
fn a_send_that_must_wait_with_a_waker_that_sends_when_cloned_waits() {
    within_deadline(|| {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(1).unwrap();
        let waker = sending(&tx, ON_CLONE_AND_WAKE);
        let mut send = pin!(tx.send(2));
        // Parking clones the waker; the clone's `try_send` finds the channel full.
        assert!(poll_with(send.as_mut(), &waker).is_pending());
        assert_eq!(rx.try_recv(), Ok(1));
        let counter = WakeCounter::new();
        assert!(matches!(counter.poll(send.as_mut()), Poll::Ready(Ok(()))));
        assert_eq!(rx.try_recv(), Ok(2));
    });
}

#[test]
fn a_waiting_send_polled_again_with_a_new_waker_that_sends_when_cloned_waits() {
    within_deadline(|| {
        let (tx, _rx) = mpsc::channel(1);
        tx.try_send(1).unwrap();
        let first = WakeCounter::new();
        let mut send = pin!(tx.send(2));
        assert!(first.poll(send.as_mut()).is_pending());
        let waker = sending(&tx, ON_CLONE_AND_WAKE);
        // Storing the new waker clones it; the clone's `try_send` finds the channel full.
        assert!(poll_with(send.as_mut(), &waker).is_pending());
    });
}

#[test]
fn a_waiting_send_polled_again_with_a_new_waker_drops_the_old_one_outside_the_lock() {
    within_deadline(|| {
        let (tx, _rx) = mpsc::channel(1);
        tx.try_send(1).unwrap();
        let old = sending(&tx, ON_DROP);
        let mut send = pin!(tx.send(2));
        assert!(poll_with(send.as_mut(), &old).is_pending());
        let new = WakeCounter::new();
        // The stored clone of `old` is replaced; its drop's `try_send` finds the channel full.
        assert!(new.poll(send.as_mut()).is_pending());
    });
}

#[test]
fn recv_on_an_empty_channel_with_a_waker_that_sends_when_cloned_gets_that_message() {
    within_deadline(|| {
        let (tx, mut rx) = mpsc::channel(2);
        let waker = sending(&tx, ON_CLONE_AND_WAKE);
        let mut recv = pin!(rx.recv());
        // Storing the waker clones it; the clone sends 7, which this poll then takes.
        assert_eq!(poll_with(recv.as_mut(), &waker), Poll::Ready(Some(7)));
    });
}

#[test]
fn recv_polled_again_with_a_new_waker_drops_the_old_one_outside_the_lock() {
    within_deadline(|| {
        let (tx, mut rx) = mpsc::channel(2);
        let old = sending(&tx, ON_DROP);
        assert_eq!(
            an_old_waker_dropped_releases(pin!(rx.recv()), &old),
            Some(7)
        );
    });
}

#[test]
fn a_waiting_recv_dropped_drops_its_waker_outside_the_lock() {
    within_deadline(|| {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let waker = {
            let tx = tx.clone();
            reentrant_waker(ON_DROP, move || drop(tx.send(7)))
        };
        let mut recv = Box::pin(rx.recv());
        assert!(poll_with(recv.as_mut(), &waker).is_pending());
        drop(recv); // its stored waker's drop sends 7
        assert_eq!(rx.try_recv(), Ok(7));
    });
}

#[test]
fn a_receiver_dropped_while_its_waker_is_stored_drops_it_outside_the_lock() {
    within_deadline(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(2);
        let waker = sending(&tx, ON_DROP);
        assert!(rx.poll_recv(&mut Context::from_waker(&waker)).is_pending());
        drop(rx); // its stored waker's drop tries to send: refused, the channel is closed
        assert!(tx.is_closed());
        assert_eq!(tx.try_send(1), Err(mpsc::TrySendError::Closed(1)));
    });
}

// ---------------------------------------------------------------------------------------------
// broadcast: the callback is a `send(7)` on the same channel.

fn broadcasting(tx: &broadcast::Sender<u32>, on: On) -> Waker {
    let tx = tx.clone();
    reentrant_waker(on, move || drop(tx.send(7)))
}

const ON_WAKE: On = On {
    clone: false,
    wake: true,
    drop: false,
};

#[test]
fn broadcast_recv_on_an_empty_channel_with_a_waker_that_sends_when_cloned_gets_that_value() {
    within_deadline(|| {
        let (tx, mut rx) = broadcast::channel(2);
        let waker = broadcasting(&tx, ON_CLONE_AND_WAKE);
        let mut recv = pin!(rx.recv());
        // Waiting clones the waker, outside the lock; the clone sends 7; the second look at
        // the tail finds it.
        assert_eq!(poll_with(recv.as_mut(), &waker), Poll::Ready(Ok(7)));
    });
}

#[test]
fn broadcast_recv_polled_again_with_a_new_waker_that_sends_when_cloned_gets_that_value() {
    within_deadline(|| {
        let (tx, mut rx) = broadcast::channel(2);
        let waker = broadcasting(&tx, ON_CLONE_AND_WAKE);
        assert_eq!(a_new_waker_cloned_releases(pin!(rx.recv()), &waker), Ok(7));
    });
}

#[test]
fn broadcast_recv_polled_again_with_a_new_waker_drops_the_old_one_outside_the_lock() {
    within_deadline(|| {
        let (tx, mut rx) = broadcast::channel(2);
        let old = broadcasting(&tx, ON_DROP);
        assert_eq!(an_old_waker_dropped_releases(pin!(rx.recv()), &old), Ok(7));
    });
}

#[test]
fn broadcast_a_waiting_recv_dropped_drops_its_waker_outside_the_lock() {
    within_deadline(|| {
        let (tx, mut rx) = broadcast::channel(2);
        let waker = broadcasting(&tx, ON_DROP);
        let mut recv = Box::pin(rx.recv());
        assert!(poll_with(recv.as_mut(), &waker).is_pending());
        drop(recv); // its stored waker's drop sends 7
        assert_eq!(rx.try_recv(), Ok(7));
    });
}

#[test]
fn broadcast_a_send_wakes_a_waker_that_sends_after_the_lock() {
    within_deadline(|| {
        let (tx, mut rx) = broadcast::channel(4);
        let waker = broadcasting(&tx, ON_WAKE);
        let mut recv = Box::pin(rx.recv());
        assert!(poll_with(recv.as_mut(), &waker).is_pending());
        tx.send(1).unwrap(); // wakes the receiver, whose waker sends 7
        drop(recv);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Ok(7));
    });
}

#[test]
fn broadcast_the_last_sender_going_wakes_a_waker_that_subscribes_after_the_lock() {
    within_deadline(|| {
        let (tx, mut rx) = broadcast::channel::<u32>(4);
        let other = rx.resubscribe();
        let keep = Arc::new(StdMutex::new(Some(rx.resubscribe())));
        // Dropping a receiver and subscribing one: both take the lock the closing sender held.
        let waker = reentrant_waker(ON_WAKE, move || {
            drop(keep.lock().unwrap().take());
            drop(other.resubscribe());
        });
        let mut recv = Box::pin(rx.recv());
        assert!(poll_with(recv.as_mut(), &waker).is_pending());
        drop(tx); // the last sender: closes, then wakes the waker
        let counter = WakeCounter::new();
        assert_eq!(
            counter.poll(recv.as_mut()),
            Poll::Ready(Err(broadcast::RecvError::Closed))
        );
    });
}

// ---------------------------------------------------------------------------------------------
// watch: the callback is a `send_modify` on the same channel.

fn modifying(tx: &Arc<watch::Sender<u32>>, on: On) -> Waker {
    let tx = Arc::clone(tx);
    reentrant_waker(on, move || tx.send_modify(|value| *value += 1))
}

#[test]
fn watch_changed_with_a_waker_that_sends_when_cloned_sees_that_change() {
    within_deadline(|| {
        let (tx, mut rx) = watch::channel(0);
        let tx = Arc::new(tx);
        let waker = modifying(&tx, ON_CLONE_AND_WAKE);
        let changed = poll_with(pin!(rx.changed()), &waker);
        assert_eq!(changed, Poll::Ready(Ok(())));
        assert_eq!(*rx.borrow(), 1);
    });
}

#[test]
fn watch_a_waiting_changed_dropped_drops_its_waker_outside_the_lock() {
    within_deadline(|| {
        let (tx, mut rx) = watch::channel(0);
        let tx = Arc::new(tx);
        let waker = modifying(&tx, ON_DROP);
        let mut changed = Box::pin(rx.changed());
        assert!(poll_with(changed.as_mut(), &waker).is_pending());
        drop(changed); // its stored waker's drop sends
        assert!(rx.has_changed().unwrap());
    });
}

#[test]
fn watch_a_send_wakes_a_waker_that_sends_after_the_locks() {
    within_deadline(|| {
        let (tx, mut rx) = watch::channel(0);
        let tx = Arc::new(tx);
        let waker = modifying(&tx, ON_WAKE);
        let mut changed = Box::pin(rx.changed());
        assert!(poll_with(changed.as_mut(), &waker).is_pending());
        tx.send(10).unwrap(); // wakes the receiver, whose waker sends again
        drop(changed);
        assert_eq!(*rx.borrow(), 11);
    });
}

// ---------------------------------------------------------------------------------------------
// RwLock: the callback lets go of a guard held for the test (a write lock, or a read lock),
// then tries the lock again.

/// The locks `rwlock_releasing` leaks, kept reachable for memcheck as `KEPT` is.
static KEPT_RWLOCKS: StdMutex<Vec<&'static RwLock<u32>>> = StdMutex::new(Vec::new());

/// A lock held for writing (`write`) or reading, and a waker whose callback lets go of it and
/// then calls `try_read` and `try_write` on the same lock.
fn rwlock_releasing(write: bool, on: On) -> (&'static RwLock<u32>, Waker) {
    let lock: &'static RwLock<u32> = Box::leak(Box::new(RwLock::new(0)));
    KEPT_RWLOCKS.lock().unwrap().push(lock);
    let guard: Box<dyn Send> = match write {
        true => Box::new(lock.try_write().unwrap()),
        false => Box::new(lock.try_read().unwrap()),
    };
    let held = StdMutex::new(Some(guard));
    let waker = reentrant_waker(on, move || {
        let guard = held.lock().unwrap().take();
        drop(guard); // lets go, after `held`'s own lock is released
        drop(lock.try_read());
        drop(lock.try_write());
    });
    (lock, waker)
}

#[test]
fn read_first_polled_with_a_waker_that_lets_go_of_the_writer_when_cloned_gets_in() {
    within_deadline(|| {
        let (lock, waker) = rwlock_releasing(true, ON_CLONE_AND_WAKE);
        let mut read = pin!(lock.read());
        assert!(matches!(poll_with(read.as_mut(), &waker), Poll::Ready(_)));
    });
}

#[test]
fn write_first_polled_with_a_waker_that_lets_go_of_the_reader_when_cloned_gets_in() {
    within_deadline(|| {
        let (lock, waker) = rwlock_releasing(false, ON_CLONE_AND_WAKE);
        let mut write = pin!(lock.write());
        assert!(matches!(poll_with(write.as_mut(), &waker), Poll::Ready(_)));
    });
}

#[test]
fn write_polled_again_with_a_new_waker_that_lets_go_when_cloned_gets_in() {
    within_deadline(|| {
        let (lock, waker) = rwlock_releasing(true, ON_CLONE_AND_WAKE);
        drop(a_new_waker_cloned_releases(pin!(lock.write()), &waker));
    });
}

#[test]
fn read_polled_again_with_a_new_waker_drops_the_old_one_outside_the_lock() {
    within_deadline(|| {
        let (lock, old) = rwlock_releasing(true, ON_DROP);
        drop(an_old_waker_dropped_releases(pin!(lock.read()), &old));
    });
}

#[test]
fn a_waiting_write_dropped_drops_its_waker_outside_the_lock() {
    within_deadline(|| {
        let (lock, quitter_waker) = rwlock_releasing(false, ON_DROP);
        a_dropped_waiters_waker_releases(|| lock.write(), &quitter_waker);
    });
}

#[test]
fn a_waiting_read_dropped_drops_its_waker_outside_the_lock() {
    within_deadline(|| {
        let (lock, quitter_waker) = rwlock_releasing(true, ON_DROP);
        a_dropped_waiters_waker_releases(|| lock.read(), &quitter_waker);
    });
}

// ---------------------------------------------------------------------------------------------
// mpsc's reserve, recv_many and closed: the callback gives a held permit back (which frees a
// slot, and takes the channel's lock to do it), sends, or closes the receiver.

/// A channel of capacity 1 whose slot a permit holds, and a waker whose callback drops that
/// permit. The receiver is returned to keep the channel open.
fn full_by_a_permit(on: On) -> (mpsc::Sender<u32>, mpsc::Receiver<u32>, Waker) {
    let (tx, rx) = mpsc::channel(1);
    let permit = StdMutex::new(Some(tx.clone().try_reserve_owned().unwrap()));
    let waker = reentrant_waker(on, move || {
        let permit = permit.lock().unwrap().take();
        drop(permit); // gives the slot back, after `permit`'s own lock is released
    });
    (tx, rx, waker)
}

#[test]
fn reserve_first_polled_with_a_waker_that_frees_a_slot_when_cloned_gets_it() {
    within_deadline(|| {
        let (tx, _rx, waker) = full_by_a_permit(ON_CLONE_AND_WAKE);
        let mut reserve = pin!(tx.reserve());
        // Parking clones the waker; the clone drops the permit, and the look after it finds
        // the slot free.
        assert!(matches!(
            poll_with(reserve.as_mut(), &waker),
            Poll::Ready(Ok(_))
        ));
    });
}

#[test]
fn reserve_polled_again_with_a_new_waker_that_frees_a_slot_when_cloned_gets_it() {
    within_deadline(|| {
        let (tx, _rx, waker) = full_by_a_permit(ON_CLONE_AND_WAKE);
        assert!(a_new_waker_cloned_releases(pin!(tx.reserve()), &waker).is_ok());
    });
}

#[test]
fn reserve_polled_again_with_a_new_waker_drops_the_old_one_outside_the_lock() {
    within_deadline(|| {
        let (tx, _rx, old) = full_by_a_permit(ON_DROP);
        assert!(an_old_waker_dropped_releases(pin!(tx.reserve()), &old).is_ok());
    });
}

#[test]
fn a_waiting_reserve_dropped_drops_its_waker_outside_the_lock() {
    within_deadline(|| {
        let (tx, _rx, quitter_waker) = full_by_a_permit(ON_DROP);
        a_dropped_waiters_waker_releases(|| tx.reserve(), &quitter_waker);
    });
}

#[test]
fn a_permit_sends_and_is_dropped_waking_wakers_that_call_back_outside_the_lock() {
    within_deadline(|| {
        let (tx, mut rx) = mpsc::channel(2);
        let permit = tx.try_reserve().unwrap();
        let on_wake = On {
            clone: false,
            wake: true,
            drop: false,
        };
        let waker = sending(&tx, on_wake);
        assert!(rx.poll_recv(&mut Context::from_waker(&waker)).is_pending());
        permit.send(1); // wakes the receiver, whose wake sends 7
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Ok(7));
        tx.try_send(2).unwrap();
        let held = tx.try_reserve().unwrap();
        let reserving = {
            let tx = tx.clone();
            reentrant_waker(ON_CLONE_AND_WAKE, move || drop(tx.try_reserve()))
        };
        let mut send = pin!(tx.send(3));
        assert!(poll_with(send.as_mut(), &reserving).is_pending());
        drop(held); // hands the slot to the send, and wakes it: its wake tries to reserve
        assert!(matches!(
            poll_with(send.as_mut(), &reserving),
            Poll::Ready(Ok(()))
        ));
    });
}

#[test]
fn recv_many_on_an_empty_channel_with_a_waker_that_sends_when_cloned_gets_that_message() {
    within_deadline(|| {
        let (tx, mut rx) = mpsc::channel(2);
        let waker = sending(&tx, ON_CLONE_AND_WAKE);
        let mut buffer = Vec::new();
        let mut batch = pin!(rx.recv_many(&mut buffer, 4));
        assert_eq!(poll_with(batch.as_mut(), &waker), Poll::Ready(1));
    });
}

/// A receiver kept behind a lock, and a waker whose callback closes it.
fn closing(on: On) -> (mpsc::Sender<u32>, Waker) {
    let (tx, rx) = mpsc::channel(1);
    let rx = StdMutex::new(rx);
    let waker = reentrant_waker(on, move || rx.lock().unwrap().close());
    (tx, waker)
}

#[test]
fn closed_first_polled_with_a_waker_that_closes_when_cloned_completes() {
    within_deadline(|| {
        let (tx, waker) = closing(ON_CLONE_AND_WAKE);
        assert_eq!(poll_with(pin!(tx.closed()), &waker), Poll::Ready(()));
    });
}

#[test]
fn closed_polled_again_with_a_new_waker_drops_the_old_one_outside_the_lock() {
    within_deadline(|| {
        let (tx, old) = closing(ON_DROP);
        an_old_waker_dropped_releases(pin!(tx.closed()), &old);
    });
}

#[test]
fn a_waiting_closed_dropped_drops_its_waker_outside_the_lock() {
    within_deadline(|| {
        let (tx, quitter_waker) = closing(ON_DROP);
        a_dropped_waiters_waker_releases(|| tx.closed(), &quitter_waker);
    });
}
