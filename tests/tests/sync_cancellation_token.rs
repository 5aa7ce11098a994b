//! `CancellationToken`: `cancel` wakes every waiting `cancelled()` and later ones complete at
//! once; a child is cancelled with its parent (and its children with it), never the other way
//! round; clones share one token; a dropped `cancelled()` takes nothing with it; children
//! dropped by everyone leave their parent's list.

use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;

use nbio::sync::CancellationToken;
use nbio_tests::{watched, WakeCounter};

#[test]
fn cancel_wakes_every_waiter_and_later_waits_complete_at_once() {
    let token = CancellationToken::new();
    let counters: Vec<WakeCounter> = (0..3).map(|_| WakeCounter::new()).collect();
    let mut waits: Vec<_> = (0..3).map(|_| Box::pin(token.cancelled())).collect();
    for (wait, counter) in waits.iter_mut().zip(&counters) {
        assert!(counter.poll(wait.as_mut()).is_pending());
    }
    token.cancel();
    for (wait, counter) in waits.iter_mut().zip(&counters) {
        assert_eq!(counter.wakes(), 1);
        assert_eq!(counter.poll(wait.as_mut()), Poll::Ready(()));
    }
    let counter = WakeCounter::new();
    assert_eq!(counter.poll(pin!(token.cancelled())), Poll::Ready(()));
    assert!(token.is_cancelled());
}

#[test]
fn a_waiter_polled_again_keeps_waiting_and_the_latest_waker_is_woken() {
    let token = CancellationToken::new();
    let (old, new) = (WakeCounter::new(), WakeCounter::new());
    let mut wait = pin!(token.cancelled());
    assert!(old.poll(wait.as_mut()).is_pending());
    assert!(new.poll(wait.as_mut()).is_pending());
    token.cancel();
    assert_eq!((old.wakes(), new.wakes()), (0, 1));
}

#[test]
fn a_child_is_cancelled_with_its_parent_and_wakes_its_waiters_down_the_tree() {
    let root = CancellationToken::new();
    let child = root.child_token();
    let grandchild = child.child_token();
    let counter = WakeCounter::new();
    let mut child_wait = pin!(child.cancelled());
    let mut grandchild_wait = pin!(grandchild.cancelled());
    assert!(counter.poll(child_wait.as_mut()).is_pending());
    assert!(counter.poll(grandchild_wait.as_mut()).is_pending());
    root.cancel();
    assert!(child.is_cancelled() && grandchild.is_cancelled());
    assert_eq!(counter.wakes(), 2);
    assert_eq!(counter.poll(child_wait.as_mut()), Poll::Ready(()));
    assert_eq!(counter.poll(grandchild_wait.as_mut()), Poll::Ready(()));
}

#[test]
fn a_cancelled_child_leaves_its_parent_and_siblings_alone() {
    let root = CancellationToken::new();
    let (child, sibling) = (root.child_token(), root.child_token());
    let below = child.child_token();
    let counter = WakeCounter::new();
    let mut root_wait = pin!(root.cancelled());
    let mut sibling_wait = pin!(sibling.cancelled());
    assert!(counter.poll(root_wait.as_mut()).is_pending());
    assert!(counter.poll(sibling_wait.as_mut()).is_pending());
    child.cancel();
    assert!(child.is_cancelled() && below.is_cancelled());
    assert!(!root.is_cancelled() && !sibling.is_cancelled());
    assert_eq!(counter.wakes(), 0, "nobody above or beside was woken");
    assert!(counter.poll(root_wait.as_mut()).is_pending());
}

#[test]
fn a_child_made_after_its_parent_was_cancelled_is_born_cancelled() {
    let root = CancellationToken::new();
    let child = root.child_token();
    root.cancel();
    let late = child.child_token();
    assert!(late.is_cancelled());
    let counter = WakeCounter::new();
    assert_eq!(counter.poll(pin!(late.cancelled())), Poll::Ready(()));
}

#[test]
fn clones_share_one_token() {
    let token = CancellationToken::new();
    let clone = token.clone();
    let counter = WakeCounter::new();
    let mut wait = pin!(token.cancelled());
    assert!(counter.poll(wait.as_mut()).is_pending());
    clone.cancel();
    assert!(token.is_cancelled());
    assert_eq!(counter.poll(wait.as_mut()), Poll::Ready(()));
    assert_eq!(token.made_at(), clone.made_at());
}

#[test]
fn a_dropped_cancelled_future_takes_nothing_with_it() {
    let token = CancellationToken::new();
    let (dropped, kept) = (WakeCounter::new(), WakeCounter::new());
    {
        let mut gone = pin!(token.cancelled());
        assert!(dropped.poll(gone.as_mut()).is_pending());
    }
    let mut wait = pin!(token.cancelled());
    assert!(kept.poll(wait.as_mut()).is_pending());
    token.cancel();
    assert_eq!(dropped.wakes(), 0, "the dropped future's waker was let go");
    assert_eq!(kept.wakes(), 1);
    assert_eq!(kept.poll(wait.as_mut()), Poll::Ready(()));
}

#[test]
fn children_dropped_by_everyone_leave_their_parent() {
    let root = CancellationToken::new();
    for _ in 0..1000 {
        let child = root.child_token();
        let _grandchild = child.child_token();
    }
    let shown = format!("{root:?}");
    assert!(shown.contains("children: 0"), "{shown}");
    let kept = root.child_token();
    let shown = format!("{root:?}");
    assert!(shown.contains("children: 1"), "{shown}");
    root.cancel();
    assert!(kept.is_cancelled());
    drop(kept); // its parent's list was emptied by the cancel: nothing to leave
}

#[test]
fn a_token_stops_tasks_on_other_threads_and_runtimes() {
    watched(|| {
        let shutdown = CancellationToken::new();
        let on_thread = std::thread::spawn({
            let token = shutdown.child_token();
            move || nbio::block_on(token.cancelled())
        });
        let multi = nbio::Builder::new().worker_threads(2).build().unwrap();
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let token = shutdown.child_token();
                multi.spawn(async move {
                    let mut steps = 0u64;
                    while !token.is_cancelled() {
                        steps += 1;
                        nbio::yield_now().await;
                    }
                    steps
                })
            })
            .collect();
        let waiter = multi.spawn({
            let token = shutdown.clone();
            async move { token.cancelled().await }
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        shutdown.cancel();
        on_thread.join().unwrap();
        multi.block_on(async {
            for worker in workers {
                worker.await.unwrap();
            }
            waiter.await.unwrap();
        });
    });
}

#[test]
fn a_token_and_its_future_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let token = CancellationToken::new();
    send_sync(&token);
    send_sync(&token.cancelled());
    let shared = Arc::new(token.child_token());
    std::thread::spawn(move || shared.cancel()).join().unwrap();
}
