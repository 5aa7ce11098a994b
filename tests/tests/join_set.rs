//! `nbio::task::JoinSet`: tasks joined as they finish, aborted together, and never outliving
//! the set (dropping it runs every member's destructors).

use std::rc::Rc;
use std::time::Duration;

use nbio::task::JoinSet;
use nbio_tests::{watched, DropCounter};

#[test]
fn results_come_in_the_order_the_tasks_finish() {
    watched(|| {
        nbio::block_on(async {
            let mut set = JoinSet::new();
            assert!(set.is_empty());
            for ms in [40u64, 5, 25, 15] {
                set.spawn(async move {
                    nbio::time::sleep(Duration::from_millis(ms)).await;
                    ms
                });
            }
            assert_eq!(set.len(), 4);
            let mut order = Vec::new();
            while let Some(result) = set.join_next().await {
                order.push(result.unwrap());
                assert_eq!(set.len(), 4 - order.len());
            }
            assert_eq!(order, [5, 15, 25, 40]);
            assert!(
                set.join_next().await.is_none(),
                "an empty set gives None at once"
            );
        })
    });
}

#[test]
fn a_panicking_member_is_a_join_error_and_the_others_go_on() {
    watched(|| {
        nbio::block_on(async {
            let mut set = JoinSet::new();
            set.spawn(async { panic!("member broke") });
            set.spawn(async {
                nbio::time::sleep(Duration::from_millis(5)).await;
                7
            });
            let first = set.join_next().await.unwrap().unwrap_err();
            assert!(first.is_panic() && first.to_string().contains("member broke"));
            assert_eq!(set.join_next().await.unwrap().unwrap(), 7);
        })
    });
}

#[test]
fn abort_all_cancels_every_member_and_runs_their_drops() {
    watched(|| {
        nbio::block_on(async {
            let drops = DropCounter::new();
            let mut set = JoinSet::new();
            for _ in 0..10 {
                let guard = drops.guard();
                set.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await
                });
            }
            set.spawn(async {}); // one that finishes before the abort reaches it
            nbio::yield_now().await; // every member has been polled once
            set.abort_all();
            let (mut cancelled, mut finished) = (0, 0);
            while let Some(result) = set.join_next().await {
                match result {
                    Err(err) if err.is_cancelled() => cancelled += 1,
                    Ok(()) => finished += 1,
                    Err(err) => panic!("{err}"),
                }
            }
            assert_eq!((cancelled, finished), (10, 1));
            assert_eq!(drops.drops(), 10);
        })
    });
}

#[test]
fn dropping_the_set_aborts_its_tasks_and_runs_every_drop() {
    watched(|| {
        nbio::block_on(async {
            let drops = DropCounter::new();
            let mut set = JoinSet::new();
            for i in 0..100 {
                let guard = drops.guard();
                set.spawn(async move {
                    let _guard = guard;
                    nbio::time::sleep(Duration::from_secs(3600 + i)).await;
                });
            }
            nbio::yield_now().await;
            drop(set);
            // The aborted tasks are dropped when the loop reaches them.
            while drops.drops() < 100 {
                nbio::yield_now().await;
            }
            assert_eq!(nbio::stats().tasks_alive, 0);
            assert_eq!(nbio::stats().timers_pending, 0);
        })
    });
}

#[test]
fn a_set_owned_by_an_aborted_task_takes_its_members_with_it() {
    watched(|| {
        nbio::block_on(async {
            let drops = DropCounter::new();
            let owner = nbio::spawn({
                let drops = drops.clone();
                async move {
                    let mut set = JoinSet::new();
                    for _ in 0..5 {
                        let guard = drops.guard();
                        set.spawn(async move {
                            let _guard = guard;
                            std::future::pending::<()>().await
                        });
                    }
                    set.join_next().await
                }
            });
            nbio::yield_now().await;
            owner.abort();
            assert!(owner.await.unwrap_err().is_cancelled());
            while drops.drops() < 5 {
                nbio::yield_now().await;
            }
        })
    });
}

#[test]
fn spawn_local_and_spawn_blocking_join_the_same_set() {
    watched(|| {
        nbio::block_on(async {
            let mut set = JoinSet::new();
            let shared = Rc::new(20);
            let copy = Rc::clone(&shared);
            set.spawn_local(async move { *copy + 1 });
            set.spawn_blocking(|| 22);
            let mut results: Vec<i32> = Vec::new();
            while let Some(result) = set.join_next().await {
                results.push(result.unwrap());
            }
            results.sort();
            assert_eq!(results, [21, 22]);
        })
    });
}

#[test]
fn a_large_set_joins_every_member() {
    watched(|| {
        nbio::block_on(async {
            let mut set = JoinSet::new();
            for i in 0..20_000u64 {
                set.spawn(async move {
                    if i % 2 == 0 {
                        nbio::yield_now().await;
                    }
                    i
                });
            }
            let mut sum = 0;
            while let Some(result) = set.join_next().await {
                sum += result.unwrap();
            }
            assert_eq!(sum, (0..20_000).sum::<u64>());
        })
    });
}

#[test]
fn shutdown_aborts_and_waits_for_every_member() {
    watched(|| {
        nbio::block_on(async {
            let drops = DropCounter::new();
            let mut set = JoinSet::new();
            for _ in 0..3 {
                let guard = drops.guard();
                set.spawn(async move {
                    let _guard = guard;
                    std::future::pending::<()>().await
                });
            }
            set.shutdown().await;
            assert!(set.is_empty());
            assert_eq!(drops.drops(), 3);
        })
    });
}
