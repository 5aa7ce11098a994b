//! `nbio::select!`: which branch runs, what the others lose, and the order under a seed.
//!
//! Cases in the spirit of tokio's own tests of its `select!` (one branch, many, nested,
//! disabled by a pattern or a precondition, `else`, `&mut` futures kept across a loop, 64
//! branches), then what nbio adds: the winners of a seeded runtime replay, and a losing `send`
//! of an nbio channel has sent nothing.

use std::cell::Cell;
use std::future::{pending, ready, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use nbio::sync::mpsc::{self, TryRecvError};
use nbio::sync::{oneshot, Mutex};
use nbio::time::sleep;
use nbio_tests::DropCounter;

/// A current-thread runtime under `seed`.
fn seeded(seed: u64) -> nbio::Runtime {
    nbio::Runtime::builder().seed(seed).build().unwrap()
}

/// A oneshot receiver of `value`, which a task sends after `ms` milliseconds.
fn sent_later<T: Send + 'static>(value: T, ms: u64) -> oneshot::Receiver<T> {
    let (tx, rx) = oneshot::channel();
    nbio::spawn(async move {
        sleep(Duration::from_millis(ms)).await;
        let _ = tx.send(value);
    });
    rx
}

// ---------------------------------------------------------------------------------------------
// Which branch runs, and with what.

#[test]
fn one_branch_gives_its_handlers_value() {
    nbio::block_on(async {
        let a = nbio::select! { v = ready(1) => v + 1 };
        let b = nbio::select! { v = ready(2) => { v * 10 } };
        let c = nbio::select! { _ = ready(()) => "unit", };
        assert_eq!((a, b, c), (2, 20, "unit"));
    });
}

#[test]
fn the_ready_branch_wins_over_those_that_wait() {
    nbio::block_on(async {
        for _ in 0..50 {
            let won = nbio::select! {
                _ = pending::<()>() => 0,
                v = ready(1) => v,
                _ = sleep(Duration::from_secs(60)) => 2,
            };
            assert_eq!(won, 1);
        }
    });
}

#[test]
fn a_branch_wins_when_its_future_wakes_later() {
    nbio::block_on(async {
        let rx = sent_later("late", 5);
        let got = nbio::select! {
            Ok(v) = rx => v,
            _ = sleep(Duration::from_secs(60)) => "timer",
        };
        assert_eq!(got, "late");
    });
}

#[test]
fn a_timer_wins_over_a_channel_that_stays_empty() {
    nbio::block_on(async {
        let (_tx, mut rx) = mpsc::channel::<u8>(1);
        let got = nbio::select! {
            v = rx.recv() => v.map(u32::from),
            () = sleep(Duration::from_millis(5)) => None,
        };
        assert_eq!(got, None);
    });
}

#[test]
fn handlers_break_continue_and_return_in_the_surrounding_code() {
    async fn first_even(mut rx: mpsc::Receiver<u32>) -> Option<u32> {
        loop {
            nbio::select! {
                Some(v) = rx.recv() => {
                    if v % 2 == 1 {
                        continue;
                    }
                    return Some(v);
                }
                else => break,
            }
        }
        None
    }
    nbio::block_on(async {
        let (tx, rx) = mpsc::channel(8);
        for v in [1, 3, 4, 5] {
            tx.send(v).await.unwrap();
        }
        assert_eq!(first_even(rx).await, Some(4));
        let (tx, rx) = mpsc::channel(8);
        tx.send(1).await.unwrap();
        drop(tx);
        assert_eq!(first_even(rx).await, None);
    });
}

#[test]
fn the_question_mark_in_a_handler_returns_from_the_function() {
    async fn parse(text: &str) -> Result<u32, std::num::ParseIntError> {
        let n = nbio::select! { t = ready(text) => t.parse::<u32>()? };
        Ok(n + 1)
    }
    nbio::block_on(async {
        assert_eq!(parse("41").await, Ok(42));
        assert!(parse("x").await.is_err());
    });
}

#[test]
fn selects_nest_in_futures_and_in_handlers() {
    nbio::block_on(async {
        let v = nbio::select! {
            a = async { nbio::select! { b = ready(1) => b + 1 } } => {
                nbio::select! { c = ready(a) => c * 10 }
            }
        };
        assert_eq!(v, 20);
    });
}

#[test]
fn mut_and_ref_bindings_in_patterns_work() {
    nbio::block_on(async {
        let v = nbio::select! {
            Some(mut s) = ready(Some(String::from("a"))) => {
                s.push('b');
                s
            }
        };
        assert_eq!(v, "ab");
        let v = nbio::select! {
            (ref x, mut y) = ready((String::from("x"), 1)) => {
                y += 1;
                format!("{x}{y}")
            }
        };
        assert_eq!(v, "x2");
    });
}

#[test]
fn long_patterns_and_or_patterns_are_read_whole() {
    #[derive(Debug)]
    enum Msg {
        Data(u8, u8),
        Stop,
    }
    nbio::block_on(async {
        let v = nbio::select! {
            Msg::Data(a, b) = ready(Msg::Data(1, 2)) => a + b,
            Msg::Stop = pending::<Msg>() => 0,
        };
        assert_eq!(v, 3);
        let v = nbio::select! {
            Msg::Data(..) = ready(Msg::Stop) => 1,
            Msg::Stop = ready(Msg::Stop) => 2,
        };
        assert_eq!(v, 2);
        let v = nbio::select! {
            Ok(n) | Err(n) = ready(Err::<u8, u8>(9)) => n,
        };
        assert_eq!(v, 9);
        let v = nbio::select! {
            n @ 1..=5 = ready(3) => n,
            else => 0,
        };
        assert_eq!(v, 3);
    });
}

// ---------------------------------------------------------------------------------------------
// Disabled branches: patterns that do not match, preconditions, `else`.

#[test]
fn a_pattern_that_does_not_match_disables_its_branch_and_the_others_go_on() {
    nbio::block_on(async {
        let rx = sent_later(5, 2);
        let v = nbio::select! {
            Some(x) = ready(None::<u32>) => x,
            Ok(x) = rx => x * 2,
        };
        assert_eq!(v, 10);
    });
}

#[test]
fn a_branch_that_completed_is_never_polled_again() {
    // Ready with `None` at once (the pattern fails), and a panic if polled after that.
    let mut done = false;
    let once = std::future::poll_fn(move |_| {
        assert!(!done, "polled after it completed");
        done = true;
        Poll::Ready(None::<u32>)
    });
    nbio::block_on(async {
        let v = nbio::select! {
            Some(v) = once => v,
            v = async {
                for _ in 0..5 {
                    nbio::yield_now().await;
                }
                7
            } => v,
        };
        assert_eq!(v, 7);
    });
}

#[test]
fn else_runs_when_every_pattern_failed() {
    nbio::block_on(async {
        let v = nbio::select! {
            Some(x) = ready(None::<u32>) => x,
            Ok(x) = ready(Err::<u32, ()>(())) => x,
            else => 99,
        };
        assert_eq!(v, 99);
    });
}

#[test]
fn a_select_of_else_alone_runs_it() {
    nbio::block_on(async {
        let v = nbio::select! { else => 5 };
        assert_eq!(v, 5);
    });
}

#[test]
#[should_panic(expected = "every branch is disabled and there is no `else` branch")]
fn every_branch_disabled_without_else_panics() {
    nbio::block_on(async {
        nbio::select! {
            Some(x) = ready(None::<u32>) => x,
        }
    });
}

#[test]
fn a_false_precondition_disables_a_branch_and_its_future_is_not_polled() {
    let polled = Rc::new(Cell::new(false));
    let watched = {
        let polled = Rc::clone(&polled);
        std::future::poll_fn(move |_| {
            polled.set(true);
            Poll::Ready(1)
        })
    };
    nbio::block_on(async {
        let v = nbio::select! {
            v = watched, if false => v,
            v = async { sleep(Duration::from_millis(1)).await; 2 } => v,
        };
        assert_eq!(v, 2);
    });
    assert!(!polled.get(), "the disabled branch's future was polled");
}

#[test]
fn else_runs_when_every_precondition_is_false() {
    let mut sleeps = 0;
    nbio::block_on(async {
        let v = nbio::select! {
            _ = async { sleeps += 1 }, if 1 > 2 => 1,
            _ = sleep(Duration::from_secs(60)), if false => 2,
            else => 3,
        };
        assert_eq!(v, 3);
    });
    assert_eq!(sleeps, 0);
}

#[test]
fn a_precondition_may_read_what_the_future_borrows() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::channel::<u8>(4);
        tx.send(1).await.unwrap();
        let mut open = true;
        let mut got = Vec::new();
        loop {
            nbio::select! {
                v = rx.recv(), if open => match v {
                    Some(v) => {
                        got.push(v);
                        open = false;
                    }
                    None => open = false,
                },
                else => break,
            }
        }
        assert_eq!(got, [1]);
    });
}

// ---------------------------------------------------------------------------------------------
// The futures: by value, by `&mut`, dropped before the handler.

#[test]
fn a_pinned_future_by_mut_survives_the_select_and_finishes_later() {
    nbio::block_on(async {
        let (tx, rx) = oneshot::channel::<u32>();
        let mut rx = pin!(rx);
        let mut ticks = 0;
        nbio::spawn(async move {
            sleep(Duration::from_millis(20)).await;
            tx.send(7).unwrap();
        });
        let got = loop {
            nbio::select! {
                v = &mut rx => break v.unwrap(),
                _ = sleep(Duration::from_millis(1)) => ticks += 1,
            }
        };
        assert_eq!(got, 7);
        assert!(ticks > 0, "the timer never won while the oneshot waited");
    });
}

#[test]
fn a_boxed_future_and_an_into_future_are_taken_too() {
    struct Later(u8);
    impl std::future::IntoFuture for Later {
        type Output = u8;
        type IntoFuture = std::future::Ready<u8>;
        fn into_future(self) -> Self::IntoFuture {
            ready(self.0)
        }
    }
    nbio::block_on(async {
        let mut boxed: Pin<Box<dyn Future<Output = u8>>> = Box::pin(async { 4 });
        let v = nbio::select! { biased; v = &mut boxed => v, w = Later(5) => w };
        assert_eq!(v, 4);
        let v = nbio::select! { w = Later(5) => w };
        assert_eq!(v, 5);
    });
}

#[test]
fn the_losers_are_dropped_before_the_handler_runs() {
    let drops = DropCounter::new();
    nbio::block_on(async {
        let guard = drops.guard();
        let losing = async move {
            pending::<()>().await;
            drop(guard);
        };
        nbio::select! {
            _ = losing => unreachable!(),
            _ = ready(()) => assert_eq!(drops.drops(), 1, "the loser is still alive in the handler"),
        }
    });
}

#[test]
fn a_handler_may_borrow_what_a_losing_future_borrowed() {
    async fn bump(value: &mut u32) {
        *value += 1;
        pending::<()>().await;
    }
    nbio::block_on(async {
        let mut value = 1;
        nbio::select! {
            _ = bump(&mut value) => {}
            _ = nbio::yield_now() => value += 10,
        }
        assert_eq!(value, 12);
    });
}

#[test]
fn a_losing_lock_hands_the_mutex_on() {
    nbio::block_on(async {
        let mutex = Rc::new(Mutex::new(0));
        let held = mutex.lock().await;
        let won = nbio::select! {
            _ = mutex.lock() => "lock",
            _ = ready(()) => "ready",
        };
        assert_eq!(won, "ready");
        drop(held);
        *mutex.try_lock().expect("the dropped lock() kept the mutex") += 1;
    });
}

// ---------------------------------------------------------------------------------------------
// Cancel safety through select!: nbio's channels lose nothing in a losing branch.

#[test]
fn a_losing_send_sends_nothing() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.send(1).await.unwrap(); // full
        for attempt in 0..20 {
            let won = nbio::select! {
                _ = tx.send(100 + attempt) => "send",
                _ = ready(()) => "ready",
            };
            assert_eq!(won, "ready");
        }
        // Room now: a send that lost while it waited must not take it.
        let won = nbio::select! {
            biased;
            v = rx.recv() => v,
            _ = tx.send(200) => None,
        };
        assert_eq!(won, Some(1));
        assert_eq!(
            rx.try_recv(),
            Err(TryRecvError::Empty),
            "a losing send was delivered"
        );
        tx.send(3).await.unwrap();
        assert_eq!(rx.recv().await, Some(3));
    });
}

#[test]
fn a_send_woken_with_room_that_loses_before_it_runs_again_sends_nothing() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.send(1).await.unwrap(); // full: the send below waits
        let (room_made, room_made_rx) = oneshot::channel::<()>();
        let consumer = nbio::spawn(async move {
            let first = rx.recv().await; // room for the waiting send, which is woken…
            room_made.send(()).unwrap(); // …and so is the branch that will beat it
            sleep(Duration::from_millis(10)).await;
            let after = rx.try_recv();
            (first, after, rx)
        });
        let won = nbio::select! {
            biased;
            _ = room_made_rx => "room made",
            _ = tx.send(2) => "send",
        };
        assert_eq!(won, "room made");
        let (first, after, mut rx) = consumer.await.unwrap();
        assert_eq!(first, Some(1));
        assert_eq!(
            after,
            Err(TryRecvError::Empty),
            "the losing send was delivered"
        );
        tx.try_send(3)
            .expect("the room made for the loser is free again");
        assert_eq!(rx.recv().await, Some(3));
    });
}

#[test]
fn a_losing_recv_takes_no_message() {
    nbio::block_on(async {
        let (tx, mut rx) = mpsc::channel::<u32>(4);
        for round in 0..100u32 {
            tx.send(round).await.unwrap();
            // Both are ready: whichever wins, the message is received exactly once.
            let got = nbio::select! {
                v = rx.recv() => v,
                _ = ready(()) => None,
            };
            let got = match got {
                Some(v) => v,
                None => rx.recv().await.unwrap(),
            };
            assert_eq!(got, round);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The order: biased, fair, and replayed under a seed.

/// Which of `branches` always-ready branches won, `rounds` times, on the running runtime.
async fn winners(rounds: usize) -> Vec<u8> {
    let mut won = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        won.push(nbio::select! {
            v = ready(0u8) => v,
            v = ready(1u8) => v,
            v = ready(2u8) => v,
            v = ready(3u8) => v,
        });
    }
    won
}

#[test]
fn biased_polls_top_down_every_time() {
    nbio::block_on(async {
        for _ in 0..200 {
            let v = nbio::select! {
                biased;
                v = ready(0) => v,
                v = ready(1) => v,
            };
            assert_eq!(v, 0);
        }
    });
}

#[test]
fn biased_still_reaches_a_lower_branch_when_the_top_waits() {
    nbio::block_on(async {
        let v = nbio::select! {
            biased;
            _ = pending::<()>() => 0,
            v = async { nbio::yield_now().await; 1 } => v,
        };
        assert_eq!(v, 1);
    });
}

#[test]
fn without_biased_every_ready_branch_wins_a_fair_share() {
    nbio::block_on(async {
        let rounds = 4000;
        let won = winners(rounds).await;
        for branch in 0..4u8 {
            let share = won.iter().filter(|&&w| w == branch).count();
            // A quarter each, give or take: 1000 expected, and 800 is ten deviations away.
            assert!(
                (800..=1200).contains(&share),
                "branch {branch} won {share} of {rounds}"
            );
        }
    });
}

#[test]
fn two_ready_branches_each_win_about_half() {
    let mut firsts = 0;
    nbio::block_on(async {
        for _ in 0..2000 {
            if nbio::select! { v = ready(true) => v, v = ready(false) => v } {
                firsts += 1;
            }
        }
    });
    assert!(
        (800..=1200).contains(&firsts),
        "the first won {firsts} of 2000"
    );
}

#[test]
fn under_a_seed_the_winners_replay_and_another_seed_draws_others() {
    let run = |seed| seeded(seed).block_on(winners(200));
    let first = run(7);
    assert_eq!(first, run(7), "the same seed picked other winners");
    assert_ne!(first, run(8), "two seeds picked the same 200 winners");
    assert!(first.contains(&0) && first.contains(&3));
}

#[test]
fn under_a_seed_the_winners_replay_in_spawned_tasks_too() {
    let run = |seed| {
        seeded(seed).block_on(async {
            let a = nbio::spawn(winners(100));
            let b = nbio::spawn(winners(100));
            let (a, b) = (a.await.unwrap(), b.await.unwrap());
            [a, b].concat()
        })
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

#[test]
fn under_a_seed_the_winners_replay_on_worker_threads_within_one_task() {
    // On worker threads a seed fixes the runtime's own draws; one task's selects draw from
    // whichever worker polls them, so replay is shown with one worker.
    let run = |seed| {
        nbio::Runtime::builder()
            .worker_threads(1)
            .seed(seed)
            .build()
            .unwrap()
            .block_on(async { nbio::spawn(winners(100)).await.unwrap() })
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn select_works_outside_any_nbio_runtime() {
    // Polled by hand, with no runtime on the thread: the start comes from the thread's own
    // generator, and both branches still win.
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut seen = [false; 2];
    for _ in 0..200 {
        let fut = pin!(async {
            nbio::select! { v = ready(0usize) => v, v = ready(1usize) => v }
        });
        match fut.poll(&mut cx) {
            Poll::Ready(v) => seen[v] = true,
            Poll::Pending => panic!("two ready branches and the select waits"),
        }
    }
    assert_eq!(seen, [true, true]);
}

// ---------------------------------------------------------------------------------------------
// Many branches.

#[test]
fn eight_branches_each_can_win() {
    nbio::block_on(async {
        let mut seen = [false; 8];
        for _ in 0..400 {
            let v = nbio::select! {
                v = ready(0) => v, v = ready(1) => v, v = ready(2) => v, v = ready(3) => v,
                v = ready(4) => v, v = ready(5) => v, v = ready(6) => v, v = ready(7) => v,
            };
            seen[v] = true;
        }
        assert_eq!(seen, [true; 8]);
    });
}

#[test]
fn sixty_four_branches_compile_and_the_last_can_win() {
    macro_rules! pend {
        () => {
            pending::<usize>()
        };
    }
    nbio::block_on(async {
        let v = nbio::select! {
            biased;
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = pend!() => v,
            v = pend!() => v, v = pend!() => v, v = pend!() => v, v = ready(63) => v,
        };
        assert_eq!(v, 63);
    });
}
