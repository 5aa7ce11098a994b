//! `nbio::task_local!`: a value seen by the polls of one future, wherever they run, and by
//! nothing else. Cases in the spirit of tokio's tests of its task-locals: across awaits and
//! worker threads, nested scopes of one key, two keys, restored after a poll that panicked,
//! seen by the drop of a future, not inherited by a spawned task.

use std::cell::Cell;
use std::future::{pending, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use nbio::task::AccessError;
use nbio::time::sleep;

nbio::task_local! {
    static NUMBER: u32;
    /// A key with a doc comment and a visibility.
    pub(crate) static NAME: String;
}

nbio::task_local! { static ONE_MORE: u8 }

/// The text of a panic's payload.
fn message_of(panic: &(dyn std::any::Any + Send)) -> &str {
    match panic.downcast_ref::<String>() {
        Some(message) => message,
        None => panic.downcast_ref::<&str>().copied().unwrap_or(""),
    }
}

#[test]
fn the_value_is_seen_across_awaits() {
    nbio::block_on(NUMBER.scope(1, async {
        assert_eq!(NUMBER.get(), 1);
        sleep(Duration::from_millis(1)).await;
        nbio::yield_now().await;
        assert_eq!(NUMBER.with(|n| *n + 1), 2);
    }));
}

#[test]
fn each_task_sees_its_own_value_on_worker_threads() {
    let runtime = nbio::Runtime::builder().worker_threads(2).build().unwrap();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..8u32)
            .map(|i| {
                nbio::spawn(NUMBER.scope(i, async move {
                    for _ in 0..20 {
                        nbio::yield_now().await;
                        assert_eq!(NUMBER.get(), i);
                    }
                    NUMBER.get()
                }))
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), i as u32);
        }
    });
}

#[test]
fn with_panics_outside_a_scope_and_says_why() {
    let panic = catch_unwind(|| NUMBER.with(|n| *n)).unwrap_err();
    let message = message_of(&*panic);
    assert!(message.contains("outside its scope"), "{message}");
}

#[test]
fn try_with_tells_instead_of_panicking() {
    let err: AccessError = NUMBER.try_with(|n| *n).unwrap_err();
    assert!(NAME.try_with(|_| ()).is_err());
    assert!(err.to_string().contains("not set"), "{err}");
    nbio::block_on(NUMBER.scope(3, async { assert_eq!(NUMBER.try_with(|n| *n), Ok(3)) }));
    assert!(
        NUMBER.try_with(|_| ()).is_err(),
        "the value outlived its scope"
    );
}

#[test]
fn nested_scopes_of_one_key_shadow_and_restore() {
    nbio::block_on(NUMBER.scope(1, async {
        let inner = NUMBER.scope(2, async {
            assert_eq!(NUMBER.get(), 2);
            nbio::yield_now().await;
            NUMBER.scope(3, async { NUMBER.get() }).await + NUMBER.get()
        });
        assert_eq!(inner.await, 5);
        assert_eq!(NUMBER.get(), 1);
    }));
}

#[test]
fn between_polls_of_an_inner_scope_the_outer_value_is_back() {
    nbio::block_on(NUMBER.scope(1, async {
        let mut inner = pin!(NUMBER.scope(2, async {
            nbio::yield_now().await;
            NUMBER.get()
        }));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(inner.as_mut().poll(&mut cx).is_pending());
        assert_eq!(NUMBER.get(), 1);
        assert_eq!(inner.await, 2);
        assert_eq!(NUMBER.get(), 1);
    }));
}

#[test]
fn two_keys_are_independent() {
    nbio::block_on(NUMBER.scope(
        7,
        NAME.scope("seven".to_string(), async {
            assert_eq!(NUMBER.get(), 7);
            assert_eq!(NAME.with(|name| name.clone()), "seven");
            ONE_MORE
                .scope(1, async {
                    assert_eq!((NUMBER.get(), ONE_MORE.get()), (7, 1));
                })
                .await;
            assert!(ONE_MORE.try_with(|_| ()).is_err());
        }),
    ));
}

#[test]
fn a_spawned_task_does_not_inherit_the_value() {
    nbio::block_on(NUMBER.scope(1, async {
        let inside = nbio::spawn(async { NUMBER.try_with(|n| *n).is_ok() });
        assert!(!inside.await.unwrap());
        let given = nbio::spawn(NUMBER.scope(NUMBER.get(), async { NUMBER.get() }));
        assert_eq!(given.await.unwrap(), 1);
    }));
}

#[test]
fn the_outer_value_is_restored_after_a_poll_that_panicked() {
    nbio::block_on(NUMBER.scope(1, async {
        let mut panicking = pin!(NUMBER.scope(2, async {
            assert_eq!(NUMBER.get(), 2);
            panic!("boom");
        }));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let result = catch_unwind(AssertUnwindSafe(|| panicking.as_mut().poll(&mut cx)));
        assert!(result.is_err());
        assert_eq!(NUMBER.get(), 1, "the inner value stayed after the panic");
    }));
    assert!(NUMBER.try_with(|_| ()).is_err());
}

/// Notes, when dropped, the value of `NUMBER` its drop sees (0 for none).
struct SeesOnDrop(Arc<AtomicU32>);

impl Drop for SeesOnDrop {
    fn drop(&mut self) {
        self.0
            .store(NUMBER.try_with(|n| *n).unwrap_or(0), Ordering::SeqCst);
    }
}

#[test]
fn a_future_dropped_before_it_completed_sees_the_value_in_its_drop() {
    let seen = Arc::new(AtomicU32::new(u32::MAX));
    let guard = SeesOnDrop(Arc::clone(&seen));
    let scope = NUMBER.scope(5, async move {
        let _guard = guard;
        pending::<()>().await;
    });
    nbio::block_on(async {
        let mut scope = Box::pin(scope);
        let waker = std::task::Waker::noop();
        assert!(scope
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending());
        drop(scope);
    });
    assert_eq!(seen.load(Ordering::SeqCst), 5);
}

#[test]
fn an_aborted_task_drops_its_future_inside_the_scope() {
    let seen = Arc::new(AtomicU32::new(u32::MAX));
    nbio::block_on(async {
        let guard = SeesOnDrop(Arc::clone(&seen));
        let task = nbio::spawn(NUMBER.scope(9, async move {
            let _guard = guard;
            pending::<()>().await;
        }));
        nbio::yield_now().await;
        task.abort();
        assert!(task.await.is_err());
    });
    assert_eq!(seen.load(Ordering::SeqCst), 9);
}

#[test]
fn a_future_that_completed_is_dropped_inside_the_scope() {
    thread_local!(static SEEN: Cell<u32> = const { Cell::new(0) });
    struct SeesOnDrop;
    impl Drop for SeesOnDrop {
        fn drop(&mut self) {
            SEEN.set(NUMBER.try_with(|n| *n).unwrap_or(0));
        }
    }
    let guard = SeesOnDrop;
    nbio::block_on(NUMBER.scope(4, async move {
        let _guard = guard;
    }));
    assert_eq!(SEEN.get(), 4);
}

#[test]
fn sync_scope_sets_the_value_for_a_closure_and_nests() {
    let got = NUMBER.sync_scope(1, || {
        let inner = NUMBER.sync_scope(2, || NUMBER.get());
        (inner, NUMBER.get())
    });
    assert_eq!(got, (2, 1));
    assert!(NUMBER.try_with(|_| ()).is_err());
}

#[test]
fn sync_scope_restores_the_outer_value_after_a_panic() {
    NUMBER.sync_scope(1, || {
        let result = catch_unwind(|| NUMBER.sync_scope(2, || panic!("inner")));
        assert!(result.is_err());
        assert_eq!(NUMBER.get(), 1);
    });
    assert!(NUMBER.try_with(|_| ()).is_err());
}

#[test]
fn a_scope_entered_inside_with_of_its_key_panics_clearly() {
    let panic =
        catch_unwind(|| NUMBER.sync_scope(1, || NUMBER.with(|_| NUMBER.sync_scope(2, || ()))))
            .unwrap_err();
    let message = message_of(&*panic);
    assert!(
        message.contains("inside `with` of the same key"),
        "{message}"
    );
    assert!(
        NUMBER.try_with(|_| ()).is_err(),
        "the value stayed after the panic"
    );
}

#[test]
fn a_scope_polled_after_it_completed_panics() {
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut scope = pin!(NUMBER.scope(1, async { 1 }));
    assert_eq!(scope.as_mut().poll(&mut cx), Poll::Ready(1));
    let again = catch_unwind(AssertUnwindSafe(|| scope.as_mut().poll(&mut cx)));
    assert!(again.is_err());
}
