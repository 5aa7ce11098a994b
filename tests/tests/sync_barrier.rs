//! `Barrier`: a round opens at its `n`-th arrival, with exactly one leader; the barrier is
//! used again round after round; a wait dropped before its round opened takes its arrival
//! back, one dropped after changes nothing; parties may be on any thread or runtime.

use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;

use nbio::sync::{Barrier, BarrierWaitResult};
use nbio_tests::{watched, WakeCounter};

fn leader(poll: Poll<BarrierWaitResult>) -> Option<bool> {
    match poll {
        Poll::Ready(result) => Some(result.is_leader()),
        Poll::Pending => None,
    }
}

#[test]
fn a_round_opens_at_the_nth_arrival_which_leads_and_wakes_the_others() {
    let barrier = Barrier::new(3);
    let counters: Vec<WakeCounter> = (0..3).map(|_| WakeCounter::new()).collect();
    let mut a = pin!(barrier.wait());
    let mut b = pin!(barrier.wait());
    let mut c = pin!(barrier.wait());
    assert_eq!(leader(counters[0].poll(a.as_mut())), None);
    assert_eq!(leader(counters[1].poll(b.as_mut())), None);
    assert_eq!(counters[0].wakes() + counters[1].wakes(), 0, "not open yet");
    assert_eq!(
        leader(counters[2].poll(c.as_mut())),
        Some(true),
        "the last leads"
    );
    assert_eq!((counters[0].wakes(), counters[1].wakes()), (1, 1));
    assert_eq!(leader(counters[0].poll(a.as_mut())), Some(false));
    assert_eq!(leader(counters[1].poll(b.as_mut())), Some(false));
}

#[test]
fn a_waiter_polled_again_keeps_waiting_and_the_latest_waker_is_woken() {
    let barrier = Barrier::new(2);
    let (old, new) = (WakeCounter::new(), WakeCounter::new());
    let mut a = pin!(barrier.wait());
    assert!(old.poll(a.as_mut()).is_pending());
    assert!(
        new.poll(a.as_mut()).is_pending(),
        "a second poll is no arrival"
    );
    assert_eq!(leader(new.poll(pin!(barrier.wait()))), Some(true));
    assert_eq!((old.wakes(), new.wakes()), (0, 1));
}

#[test]
fn the_barrier_serves_round_after_round_with_one_leader_each() {
    watched(|| {
        const PARTIES: usize = 4;
        const ROUNDS: usize = 50;
        let barrier = Arc::new(Barrier::new(PARTIES));
        let leaders = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..PARTIES)
            .map(|_| {
                let (barrier, leaders) = (Arc::clone(&barrier), Arc::clone(&leaders));
                std::thread::spawn(move || {
                    nbio::block_on(async {
                        for _ in 0..ROUNDS {
                            if barrier.wait().await.is_leader() {
                                leaders.fetch_add(1, SeqCst);
                            }
                        }
                    })
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(leaders.load(SeqCst), ROUNDS);
    });
}

#[test]
fn a_wait_dropped_before_its_round_opened_takes_its_arrival_back() {
    let barrier = Barrier::new(2);
    let counter = WakeCounter::new();
    {
        let mut quitter = pin!(barrier.wait());
        assert!(counter.poll(quitter.as_mut()).is_pending());
    } // dropped while waiting: no longer one of the round
    let mut a = pin!(barrier.wait());
    assert!(
        counter.poll(a.as_mut()).is_pending(),
        "the round opened with a party gone"
    );
    assert_eq!(leader(counter.poll(pin!(barrier.wait()))), Some(true));
    assert_eq!(leader(counter.poll(a.as_mut())), Some(false));
}

#[test]
fn a_wait_dropped_after_its_round_opened_changes_nothing() {
    let barrier = Barrier::new(2);
    let counter = WakeCounter::new();
    {
        let mut released = pin!(barrier.wait());
        assert!(counter.poll(released.as_mut()).is_pending());
        assert_eq!(leader(counter.poll(pin!(barrier.wait()))), Some(true));
    } // woken, never polled again: its round is over
    let mut a = pin!(barrier.wait());
    assert!(
        counter.poll(a.as_mut()).is_pending(),
        "the next round starts from nobody"
    );
    assert_eq!(leader(counter.poll(pin!(barrier.wait()))), Some(true));
    assert_eq!(leader(counter.poll(a.as_mut())), Some(false));
}

#[test]
fn a_wait_made_but_never_polled_does_not_arrive() {
    let barrier = Barrier::new(2);
    let counter = WakeCounter::new();
    let unpolled = barrier.wait();
    let mut a = pin!(barrier.wait());
    assert!(counter.poll(a.as_mut()).is_pending());
    drop(unpolled);
    assert_eq!(leader(counter.poll(pin!(barrier.wait()))), Some(true));
}

#[test]
fn a_barrier_of_zero_parties_opens_at_every_arrival() {
    let barrier = Barrier::new(0);
    assert_eq!(barrier.parties(), 1, "a barrier of none is one of one");
    let counter = WakeCounter::new();
    for _ in 0..3 {
        assert_eq!(leader(counter.poll(pin!(barrier.wait()))), Some(true));
    }
}

#[test]
fn parties_on_a_plain_thread_and_on_two_runtimes_meet() {
    watched(|| {
        let barrier = Arc::new(Barrier::new(3));
        let on_thread = std::thread::spawn({
            let barrier = Arc::clone(&barrier);
            move || nbio::block_on(barrier.wait()).is_leader()
        });
        let multi = nbio::Builder::new().worker_threads(2).build().unwrap();
        let on_multi = multi.spawn({
            let barrier = Arc::clone(&barrier);
            async move { barrier.wait().await.is_leader() }
        });
        let here = nbio::Runtime::new()
            .unwrap()
            .block_on(barrier.wait())
            .is_leader();
        let theirs = [on_thread.join().unwrap(), multi.block_on(on_multi).unwrap()];
        let leaders = [here, theirs[0], theirs[1]].iter().filter(|&&l| l).count();
        assert_eq!(leaders, 1);
    });
}

#[test]
fn a_loop_over_a_barrier_of_one_lets_the_other_tasks_run() {
    watched(|| {
        nbio::block_on(async {
            let stop = Arc::new(AtomicBool::new(false));
            let stopper = nbio::spawn({
                let stop = Arc::clone(&stop);
                async move { stop.store(true, SeqCst) }
            });
            let barrier = Barrier::new(1);
            // Each wait completes at once; only the budget makes this loop yield.
            while !stop.load(SeqCst) {
                barrier.wait().await;
            }
            stopper.await.unwrap();
        });
    });
}

#[test]
fn a_barrier_and_its_wait_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let barrier = Barrier::new(2);
    send_sync(&barrier);
    send_sync(&barrier.wait());
    send_sync(&nbio::block_on(Barrier::new(1).wait()));
}
