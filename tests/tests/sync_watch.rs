//! `nbio::sync::watch`: receivers see the latest value and wait for it to change; `changed`
//! gives `Err` only once every sender is gone and the latest value was seen; `send` needs a
//! receiver, `send_replace` and `send_modify` do not; a `send_modify` closure that panics
//! leaves the channel usable; a dropped `changed` loses nothing; a waiting receiver says so in
//! a dump. The cases follow tokio's own suite for its watch channel (tests/sync_watch.rs), in
//! nbio's words.

use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use nbio::sync::watch;
use nbio::task::WaitOn;
use nbio::{Builder, Runtime};
use nbio_tests::{eventually, watched, DropCounter, WakeCounter};

#[test]
fn changed_waits_for_a_send_and_fails_once_the_sender_is_gone() {
    let (tx, mut rx) = watch::channel("one");
    let counter = WakeCounter::new();
    {
        let mut changed = pin!(rx.changed());
        assert!(
            counter.poll(changed.as_mut()).is_pending(),
            "the first value is seen"
        );
    }
    assert_eq!(*rx.borrow(), "one");
    {
        let mut changed = pin!(rx.changed());
        assert!(counter.poll(changed.as_mut()).is_pending());
        tx.send("two").unwrap();
        assert_eq!(counter.wakes(), 1);
        assert_eq!(counter.poll(changed.as_mut()), Poll::Ready(Ok(())));
    }
    assert_eq!(*rx.borrow(), "two");
    {
        let mut changed = pin!(rx.changed());
        assert!(counter.poll(changed.as_mut()).is_pending());
        drop(tx);
        assert_eq!(counter.wakes(), 2);
        assert!(matches!(
            counter.poll(changed.as_mut()),
            Poll::Ready(Err(_))
        ));
    }
    assert_eq!(*rx.borrow(), "two", "the last value stays readable");
}

#[test]
fn every_receiver_is_woken_by_a_send() {
    let (tx, mut rx1) = watch::channel(0);
    let mut rx2 = rx1.clone();
    let (w1, w2) = (WakeCounter::new(), WakeCounter::new());
    let mut c1 = Box::pin(rx1.changed());
    let mut c2 = Box::pin(rx2.changed());
    assert!(w1.poll(c1.as_mut()).is_pending());
    assert!(w2.poll(c2.as_mut()).is_pending());
    tx.send(1).unwrap();
    assert_eq!((w1.wakes(), w2.wakes()), (1, 1));
    assert_eq!(w1.poll(c1.as_mut()), Poll::Ready(Ok(())));
    assert_eq!(w2.poll(c2.as_mut()), Poll::Ready(Ok(())));
    drop((c1, c2));
    assert_eq!((*rx1.borrow(), *rx2.borrow()), (1, 1));
}

#[test]
fn the_final_value_is_seen_before_the_end() {
    let (tx, mut rx) = watch::channel("one");
    drop(tx);
    nbio::block_on(async {
        assert!(
            rx.changed().await.is_err(),
            "nothing unseen, nothing to come"
        );
    });
    let (tx, mut rx) = watch::channel("one");
    tx.send("two").unwrap();
    tx.send("three").unwrap();
    drop(tx);
    nbio::block_on(async {
        assert!(rx.changed().await.is_ok(), "three is unseen");
        assert_eq!(*rx.borrow(), "three");
        assert!(rx.changed().await.is_err());
        assert!(rx.has_changed().is_err());
    });
}

#[test]
fn borrow_and_update_marks_the_value_seen() {
    let (tx, mut rx) = watch::channel("one");
    assert!(!rx.has_changed().unwrap());
    tx.send("two").unwrap();
    assert!(rx.has_changed().unwrap());
    assert!(rx.borrow().has_changed(), "borrow tells, without marking");
    assert!(rx.has_changed().unwrap());
    let seen = rx.borrow_and_update();
    assert!(seen.has_changed());
    assert_eq!(*seen, "two");
    drop(seen);
    assert!(!rx.has_changed().unwrap());
    let counter = WakeCounter::new();
    assert!(counter.poll(pin!(rx.changed())).is_pending());
    rx.mark_changed();
    assert!(rx.has_changed().unwrap());
    assert_eq!(counter.poll(pin!(rx.changed())), Poll::Ready(Ok(())));
    tx.send("three").unwrap();
    rx.mark_unchanged();
    assert!(!rx.has_changed().unwrap());
    assert_eq!(*rx.borrow(), "three");
}

#[test]
fn send_needs_a_receiver_but_send_replace_and_send_modify_always_store() {
    let (tx, rx) = watch::channel(1);
    assert_eq!(tx.receiver_count(), 1);
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(2).unwrap_err().0, 2);
    assert_eq!(*tx.borrow(), 1, "not stored");
    assert_eq!(tx.send_replace(3), 1);
    tx.send_modify(|value| *value += 1);
    assert_eq!(*tx.borrow(), 4);
    assert!(!tx.send_if_modified(|_| false));
    let mut rx = tx.subscribe();
    assert!(!tx.is_closed());
    assert!(
        !rx.has_changed().unwrap(),
        "a new receiver has seen the value now"
    );
    assert!(tx.send_if_modified(|value| {
        *value = 5;
        true
    }));
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update(), 5);
}

#[test]
fn send_if_modified_that_says_no_change_wakes_nobody() {
    let (tx, mut rx) = watch::channel(0);
    let counter = WakeCounter::new();
    let mut changed = Box::pin(rx.changed());
    assert!(counter.poll(changed.as_mut()).is_pending());
    tx.send_if_modified(|_| false);
    assert_eq!(counter.wakes(), 0);
    assert!(counter.poll(changed.as_mut()).is_pending());
}

#[test]
fn closed_completes_when_the_last_receiver_goes() {
    let (tx, rx) = watch::channel(0);
    let rx2 = rx.clone();
    let counter = WakeCounter::new();
    let mut closed = Box::pin(tx.closed());
    assert!(counter.poll(closed.as_mut()).is_pending());
    drop(rx);
    assert!(
        counter.poll(closed.as_mut()).is_pending(),
        "one receiver left"
    );
    drop(rx2);
    assert!(counter.wakes() >= 1);
    assert!(counter.poll(closed.as_mut()).is_ready());
    drop(closed);
    assert!(tx.send(1).is_err());
}

/// The brief's question: a `send_modify` closure is code of the user, run with the value
/// locked for writing. If it panics, the panic reaches the caller, the lock is not left
/// poisoned (every later borrow and send works), the value is as the closure left it, and the
/// receivers are told it changed.
#[test]
fn a_send_modify_closure_that_panics_poisons_nothing_and_the_change_is_told() {
    let (tx, mut rx) = watch::channel(String::from("one"));
    rx.borrow_and_update();
    let counter = WakeCounter::new();
    let mut changed = Box::pin(rx.changed());
    assert!(counter.poll(changed.as_mut()).is_pending());
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        tx.send_modify(|value| {
            value.push_str(" and a half");
            panic!("a closure that panics halfway");
        })
    }));
    assert!(caught.is_err(), "the panic reaches the caller");
    assert_eq!(counter.wakes(), 1, "the receivers are told");
    assert_eq!(counter.poll(changed.as_mut()), Poll::Ready(Ok(())));
    drop(changed);
    assert_eq!(*rx.borrow(), "one and a half", "as the closure left it");
    tx.send(String::from("two")).expect("not poisoned");
    assert_eq!(*rx.borrow_and_update(), "two");
    tx.send_modify(|value| value.push('!'));
    assert_eq!(*tx.borrow(), "two!");
}

#[test]
fn a_dropped_changed_loses_no_change() {
    let (tx, mut rx) = watch::channel(0);
    let counter = WakeCounter::new();
    {
        let mut changed = Box::pin(rx.changed());
        assert!(counter.poll(changed.as_mut()).is_pending());
        tx.send(1).unwrap();
        assert_eq!(counter.wakes(), 1);
        // Woken, dropped before it ran again.
    }
    assert!(rx.has_changed().unwrap(), "still unseen");
    nbio::block_on(async { rx.changed().await.unwrap() });
    assert_eq!(*rx.borrow(), 1);
}

#[test]
fn every_value_is_dropped_exactly_once() {
    let drops = DropCounter::new();
    let (tx, rx) = watch::channel(drops.guard());
    tx.send(drops.guard()).unwrap(); // the first, replaced: dropped by the send
    assert_eq!(drops.drops(), 1);
    let old = tx.send_replace(drops.guard());
    assert_eq!(drops.drops(), 1, "given back, not dropped");
    drop(old);
    assert_eq!(drops.drops(), 2);
    drop(rx);
    let refused = tx.send(drops.guard()).unwrap_err();
    drop(refused);
    assert_eq!(drops.drops(), 3);
    drop(tx);
    assert_eq!(drops.drops(), 4, "the value held, with the channel");
}

/// A value whose `Drop` uses the channel it was replaced in: the send must have let go of the
/// value's lock (and any other) by then.
#[test]
fn a_replaced_value_is_dropped_outside_the_lock() {
    nbio_tests::watchdog("replaced value drop", Duration::from_secs(10), || {
        struct Reads(Option<Arc<watch::Sender<Reads>>>);
        impl Drop for Reads {
            fn drop(&mut self) {
                if let Some(tx) = self.0.take() {
                    let _ = tx.borrow().0.is_some();
                    tx.send_modify(|_| {});
                }
            }
        }
        let (tx, _rx) = watch::channel(Reads(None));
        let tx = Arc::new(tx);
        tx.send(Reads(Some(Arc::clone(&tx)))).unwrap();
        tx.send(Reads(None)).unwrap(); // drops the one that reads the channel
    });
}

fn many_senders_and_receivers_on_two_workers() {
    let rt = Builder::new().worker_threads(2).build().unwrap();
    let (tx, rx) = watch::channel((0usize, 0u64));
    let watchers: Vec<_> = (0..3)
        .map(|_| {
            let mut rx = rx.clone();
            rt.spawn(async move {
                let mut last = [0u64; 4];
                while rx.changed().await.is_ok() {
                    let (id, n) = *rx.borrow_and_update();
                    // Each sender's values only go forward.
                    assert!(
                        n >= last[id],
                        "sender {id} went back: {n} after {}",
                        last[id]
                    );
                    last[id] = n;
                }
                let (id, n) = *rx.borrow();
                (id, n)
            })
        })
        .collect();
    let senders: Vec<_> = (0..4)
        .map(|id| {
            let tx = tx.clone();
            rt.spawn(async move {
                for n in 1..=500u64 {
                    tx.send((id, n)).unwrap();
                    if n % 50 == 0 {
                        nbio::yield_now().await;
                    }
                }
            })
        })
        .collect();
    rt.block_on(async {
        for sender in senders {
            sender.await.unwrap();
        }
        tx.send((0, 501)).unwrap();
        drop(tx);
        for watcher in watchers {
            assert_eq!(watcher.await.unwrap(), (0, 501), "each saw the last value");
        }
    });
    drop(rx);
}

#[test]
fn senders_and_receivers_on_two_worker_threads_end_on_the_last_value() {
    watched(many_senders_and_receivers_on_two_workers);
}

fn a_waiting_receiver_shows_in_a_dump(rt: Runtime) {
    let (tx, mut rx) = watch::channel(0u8);
    let line = line!() - 1;
    let waiter = rt.spawn(async move {
        rx.changed().await.unwrap();
        *rx.borrow()
    });
    let id = waiter.id();
    let mut said = None;
    let settled = eventually(Duration::from_secs(10), || {
        rt.block_on(nbio::yield_now());
        said = rt
            .dump()
            .tasks()
            .iter()
            .find(|task| task.id == id)
            .and_then(|task| task.waits_on);
        said.is_some()
    });
    assert!(
        settled.is_some(),
        "the receiver never waits:\n{}",
        rt.dump()
    );
    match said {
        Some(WaitOn::Watch { made_at: Some(at) }) => {
            assert_eq!((at.file(), at.line()), (file!(), line));
        }
        other => panic!("a wait of another kind: {other:?}"),
    }
    let shown = rt.dump().to_string();
    let expected = format!("waits on a watch channel made at {}:{line}", file!());
    assert!(shown.contains(&expected), "no \"{expected}\" in:\n{shown}");
    tx.send(9).unwrap();
    assert_eq!(rt.block_on(waiter).unwrap(), 9);
}

#[test]
fn a_waiting_receiver_shows_in_a_dump_on_a_current_thread_runtime() {
    watched(|| a_waiting_receiver_shows_in_a_dump(Runtime::new().unwrap()));
}

#[test]
fn a_waiting_receiver_shows_in_a_dump_on_a_multi_thread_runtime() {
    watched(|| {
        a_waiting_receiver_shows_in_a_dump(Builder::new().worker_threads(2).build().unwrap())
    });
}

#[test]
fn the_channel_records_where_it_was_made() {
    let (tx, rx) = watch::channel(0u8);
    let line = line!() - 1;
    assert_eq!((tx.made_at().file(), tx.made_at().line()), (file!(), line));
    assert_eq!(rx.made_at().line(), line);
    assert!(format!("{rx:?}").contains(&format!("{}:{line}", file!())));
}

fn assert_send_sync<T: Send + Sync>() {}

#[test]
fn both_halves_are_send_and_sync() {
    assert_send_sync::<watch::Sender<String>>();
    assert_send_sync::<watch::Receiver<String>>();
}

#[test]
fn a_loop_whose_changed_always_finds_a_change_lets_the_other_tasks_run() {
    watched(|| {
        nbio::block_on(async {
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let stopper = nbio::spawn({
                let stop = Arc::clone(&stop);
                async move { stop.store(true, std::sync::atomic::Ordering::SeqCst) }
            });
            let (tx, mut rx) = watch::channel(0);
            // Each changed completes at once; only the budget makes this loop yield.
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                tx.send_modify(|n| *n += 1);
                rx.changed().await.unwrap();
            }
            stopper.await.unwrap();
        });
    });
}
