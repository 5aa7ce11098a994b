//! Model checks of the readiness protocol (see the module docs of `reactor`): a task whose
//! syscall got `WouldBlock` races the dispatcher, which has just learned from the poller that
//! data arrived. Whatever the interleaving, the task must either see the readiness or be woken.
//!
//! ```text
//! RUSTFLAGS="--cfg nbio_loom" cargo test -p nbio --lib --release loom
//! ```
//!
//! The socket is modelled by one flag, "data has arrived", set by the dispatcher's thread
//! before it marks the source ready (the kernel queues data, then epoll reports the edge); a
//! modelled read fails with `WouldBlock` exactly while the flag is clear. Each test fails if one
//! of the protocol's two guards is removed: without the tick comparison in `clear_ready`, the
//! task can erase the readiness the dispatcher just set; without the second look after filing
//! the waker, it can file it after the dispatcher took the wakers. Either way it would wait
//! forever, which loom reports as a deadlock.

use std::sync::atomic::Ordering::SeqCst;
use std::task::{Wake, Waker};

use loom::sync::atomic::AtomicBool;
use loom::sync::{Arc, Notify};
use loom::thread;

use super::source::{Direction, Source};

/// A waker that unblocks the thread waiting on it.
struct Unblock(Notify);

impl Wake for Unblock {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.notify();
    }
}

/// The dispatcher's side: `Source::dispatch`, as `Reactor::dispatch` calls it.
fn data_arrives(source: &Source, data: &AtomicBool) {
    data.store(true, SeqCst);
    let mut woken = Vec::new();
    source.dispatch(true, false, false, &mut woken);
    for (waker, _) in woken {
        waker.wake();
    }
}

/// The task's side, as `Registered::poll_io` and `Reactor::poll_ready` do it (with the same
/// `Source` methods): try the modelled syscall in `dir` until it succeeds (while `possible` is
/// set), waiting for the reactor whenever it fails.
fn operate_until(source: &Source, dir: Direction, possible: &AtomicBool) {
    let signal = std::sync::Arc::new(Unblock(Notify::new()));
    let waker = Waker::from(std::sync::Arc::clone(&signal));
    loop {
        let seen = source.readiness();
        if seen.is_ready(dir) {
            if possible.load(SeqCst) {
                return; // the syscall succeeded
            }
            source.clear_ready(dir, seen); // WouldBlock
            continue;
        }
        let (_, ready_now) = source.file_and_look(dir, &waker, |_| Ok(())).unwrap();
        if !ready_now {
            signal.0.wait();
        }
    }
}

fn read_until_data(source: &Source, data: &AtomicBool) {
    operate_until(source, Direction::Read, data);
}

#[test]
fn loom_a_readiness_event_racing_a_failed_read_is_never_lost() {
    loom::model(|| {
        let source = Arc::new(Source::new(1, -1));
        let data = Arc::new(AtomicBool::new(false));
        let dispatcher = thread::spawn({
            let (source, data) = (Arc::clone(&source), Arc::clone(&data));
            move || data_arrives(&source, &data)
        });
        read_until_data(&source, &data);
        dispatcher.join().unwrap();
    });
}

#[test]
fn loom_a_read_waiting_on_a_socket_drained_earlier_is_woken_by_new_data() {
    loom::model(|| {
        let source = Arc::new(Source::new(1, -1));
        let data = Arc::new(AtomicBool::new(false));
        // An earlier read drained the socket: the word says "not readable" before the race.
        let seen = source.readiness();
        source.clear_ready(Direction::Read, seen);
        let dispatcher = thread::spawn({
            let (source, data) = (Arc::clone(&source), Arc::clone(&data));
            move || data_arrives(&source, &data)
        });
        read_until_data(&source, &data);
        dispatcher.join().unwrap();
    });
}

/// The writer's side of a short write, as `Registered::try_write_io` and `write_all` do it: a
/// write that took less than it was offered clears the writable bit (tick-guarded), and the
/// loop then waits for the bit. `room` models "the kernel freed space".
fn write_after_a_short_write(source: &Source, room: &AtomicBool) {
    let seen = source.readiness(); // the short write began with this word; the buffer filled
    source.clear_ready(Direction::Write, seen);
    operate_until(source, Direction::Write, room);
}

#[test]
fn loom_room_freed_while_a_short_write_clears_the_bit_is_never_lost() {
    loom::model(|| {
        let source = Arc::new(Source::new(1, -1));
        let room = Arc::new(AtomicBool::new(false));
        let dispatcher = thread::spawn({
            let (source, room) = (Arc::clone(&source), Arc::clone(&room));
            move || {
                room.store(true, SeqCst);
                let mut woken = Vec::new();
                source.dispatch(false, true, false, &mut woken);
                for (waker, _) in woken {
                    waker.wake();
                }
            }
        });
        write_after_a_short_write(&source, &room);
        dispatcher.join().unwrap();
    });
}

/// The last data and the peer's reset arrive together: the poller reports one event, with a
/// hang-up, and the task's read takes the data and is told nothing is left (`TCP_INQ` counts
/// no reset). Whether the event is dispatched before the read began, while it ran, or after
/// the task cleared the bit, the task must come back for the reset: it tries again (the bit
/// stays, or is set again) or is woken. Without the `HUNG_UP` guard of `clear_drained`, the
/// dispatch-first order erases the bit with no event to come, and the task waits forever.
#[test]
fn loom_a_reset_that_came_with_the_last_data_is_still_read() {
    loom::model(|| {
        let source = Arc::new(Source::new(1, -1));
        let reset = Arc::new(AtomicBool::new(false));
        // The socket was registered and drained earlier; the reader now waits for data.
        let seen = source.readiness();
        source.clear_ready(Direction::Read, seen);
        let dispatcher = thread::spawn({
            let (source, reset) = (Arc::clone(&source), Arc::clone(&reset));
            move || {
                reset.store(true, SeqCst); // the kernel queued the data and the reset
                let mut woken = Vec::new();
                source.dispatch(true, false, true, &mut woken);
                for (waker, _) in woken {
                    waker.wake();
                }
            }
        });
        let signal = std::sync::Arc::new(Unblock(Notify::new()));
        let waker = Waker::from(std::sync::Arc::clone(&signal));
        // The reader: wait for readability, read the data (drained, by the kernel's count),
        // clear; then read again until it sees the reset.
        let mut took_data = false;
        loop {
            let seen = source.readiness();
            if seen.is_ready(Direction::Read) {
                if !reset.load(SeqCst) {
                    source.clear_ready(Direction::Read, seen); // WouldBlock
                    continue;
                }
                if took_data {
                    break; // the read after the data: the reset's error
                }
                took_data = true;
                source.clear_drained(Direction::Read, seen);
                continue;
            }
            let (_, ready_now) = source
                .file_and_look(Direction::Read, &waker, |_| Ok(()))
                .unwrap();
            if !ready_now {
                signal.0.wait();
            }
        }
        dispatcher.join().unwrap();
    });
}
