//! The answer to the exercise of the guide's chapter 2, "Futures, wakers and the run queue".
//!
//! The exercise: stage 3's waker calls `poller.notify()` on every wake, a system call (a write
//! to an eventfd) even when the loop is busy polling and would find the task in the queue
//! anyway. Make a wake notify the poller only when the loop is asleep in it, without ever
//! losing a wake that comes while the loop is deciding to sleep.
//!
//! The answer is a *doorbell*: one atomic word shared by the loop and the wakers, with two
//! bits, "the loop is parked" and "work was queued". The loop sets PARKED with one atomic
//! read-modify-write *before* it sleeps and reads, in the same operation, whether work came;
//! a waker sets QUEUED with one read-modify-write and reads, in the same operation, whether
//! the loop is parked. Read-modify-writes of one atomic happen in one total order, so either
//! the loop's comes first (the waker sees PARKED and notifies) or the waker's does (the loop
//! sees QUEUED and does not sleep). nbio's is `Doorbell` in
//! `runtime/src/executor/current_thread/doorbell.rs`, checked by a loom model.
//!
//! This program stages, a hundred times, one wake to a sleeping loop and a hundred to a busy
//! one, with the plain waker and with the doorbell, and prints how many notifications each
//! made.
//! Run it with `cargo run -p nbio --example exercise_doorbell`.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;

use polling::{Events, Poller};

const PARKED: u8 = 1;
const QUEUED: u8 = 2;

/// A loop's queue, its poller, and (with `doorbell`) the word that says whether it sleeps.
struct Shared {
    woken: Mutex<VecDeque<usize>>,
    poller: Poller,
    bell: AtomicU8,
    doorbell: bool,
    notifies: AtomicUsize,
}

impl Shared {
    /// A waker's work: queue the id, then ring.
    fn wake(&self, id: usize) {
        self.woken.lock().unwrap().push_back(id);
        let must_notify = if self.doorbell {
            self.bell.fetch_or(QUEUED, SeqCst) & PARKED != 0
        } else {
            true // stage 3: always
        };
        if must_notify {
            self.notifies.fetch_add(1, SeqCst);
            self.poller.notify().expect("notify the poller");
        }
    }

    /// The loop's sleep: with the doorbell, only if no work was queued since it rang PARKED.
    /// Either way the bell is cleared on waking, so wakes while the loop is busy do not notify.
    fn sleep(&self, events: &mut Events) -> io::Result<()> {
        let queued = self.doorbell && self.bell.fetch_or(PARKED, SeqCst) & QUEUED != 0;
        if !queued {
            events.clear();
            self.poller.wait(events, None)?;
        }
        self.bell.store(0, SeqCst);
        Ok(())
    }
}

/// Runs `rounds` rounds of a loop and a waking thread; returns how many notifications the
/// wakes made. Each round, one wake finds the loop asleep in the poller, and `burst` more come
/// while the loop is busy with what it was woken for. (The two channels only stage that order
/// for the count; a real loop has nothing like them.)
fn run(doorbell: bool, rounds: usize, burst: usize) -> io::Result<usize> {
    let shared = Arc::new(Shared {
        woken: Mutex::new(VecDeque::new()),
        poller: Poller::new()?,
        bell: AtomicU8::new(0),
        doorbell,
        notifies: AtomicUsize::new(0),
    });
    let (parking, on_parking) = mpsc::channel::<()>();
    let (busy, on_busy) = mpsc::channel::<()>();
    let (done, on_done) = mpsc::channel::<()>();
    let waker_thread = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || {
            for round in 0..rounds {
                on_parking.recv().unwrap(); // the loop is going to sleep: wake it
                shared.wake(round);
                on_busy.recv().unwrap(); // the loop is busy: wake more tasks meanwhile
                (0..burst).for_each(|id| shared.wake(id));
                done.send(()).unwrap();
            }
        })
    };
    let mut events = Events::new();
    for _ in 0..rounds {
        // Nothing queued: go to sleep. With the doorbell, say so first, in the bell.
        if doorbell {
            shared.bell.fetch_or(PARKED, SeqCst);
        }
        parking.send(()).unwrap();
        shared.sleep(&mut events)?;
        // Woken: busy with what was queued, while more wakes come.
        busy.send(()).unwrap();
        on_done.recv().unwrap();
        // Clear the bell, then take the queue: a wake after this line rings it again.
        shared.bell.store(0, SeqCst);
        let taken = shared.woken.lock().unwrap().drain(..).count();
        assert_eq!(taken, 1 + burst);
    }
    waker_thread.join().unwrap();
    Ok(shared.notifies.load(SeqCst))
}

fn main() -> io::Result<()> {
    let (rounds, burst) = (100, 100);
    let always = run(false, rounds, burst)?;
    let rung = run(true, rounds, burst)?;
    println!("{rounds} rounds of one wake to a sleeping loop and {burst} to a busy one:");
    println!("  notify on every wake (stage 3): {always} notifications");
    println!("  notify only a parked loop (the doorbell): {rung} notifications");
    assert_eq!(always, rounds * (1 + burst));
    // At most one per sleep: the wakes to a busy loop cost no syscall. (Fewer when a sleep ends
    // early on a notification left from the round before, as a real loop's sleep may: harmless.)
    assert!(rung <= rounds, "{rung} notifications for {rounds} sleeps");
    Ok(())
}
