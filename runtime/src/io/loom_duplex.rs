//! Model checks of the wake handshake of `duplex` (run as `sync/loom_tests.rs` says).
//!
//! A waiting side runs `loom::future::block_on`, which parks its loom thread until its waker is
//! called: a lost wakeup leaves every thread parked, and loom fails the model. The peer that
//! must not close meanwhile is handed back through `join`, so that the wake of its drop cannot
//! hide a lost wake of its read or write.
//!
//! Guard: a side that found nothing to do clones its waker outside the lock, then tries again
//! under the lock before it files the waker (`Pipe::poll_with`), so a peer's progress between
//! the first try and the filing is seen by the second try, or finds the waker filed. File the
//! waker without that second try, and a write (or a read making room) in between is never
//! woken for. Each model was seen to fail with the second try removed.

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use loom::future::block_on;
use loom::thread;

use super::duplex;

#[test]
fn loom_duplex_a_write_racing_a_reader_going_to_sleep_is_never_lost() {
    loom::model(|| {
        let (mut a, mut b) = duplex(4);
        let writer = thread::spawn(move || {
            block_on(a.write_all(b"x")).unwrap();
            a // kept alive: its drop would wake the reader anyway
        });
        let mut buf = [0u8; 1];
        assert_eq!(block_on(b.read(&mut buf)).unwrap(), 1);
        assert_eq!(&buf, b"x");
        drop(writer.join().unwrap());
    });
}

#[test]
fn loom_duplex_a_read_racing_a_writer_waiting_for_room_is_never_lost() {
    loom::model(|| {
        let (mut a, mut b) = duplex(1);
        block_on(a.write_all(b"1")).unwrap(); // full
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 1];
            assert_eq!(block_on(b.read(&mut buf)).unwrap(), 1);
            b // kept alive: its drop would wake the writer anyway
        });
        block_on(a.write_all(b"2")).unwrap();
        let mut b = reader.join().unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(block_on(b.read(&mut buf)).unwrap(), 1);
        assert_eq!(&buf, b"2");
    });
}

#[test]
fn loom_duplex_a_peer_dropped_while_the_reader_goes_to_sleep_ends_the_read() {
    loom::model(|| {
        let (a, mut b) = duplex(4);
        let dropper = thread::spawn(move || drop(a));
        let mut buf = [0u8; 1];
        assert_eq!(block_on(b.read(&mut buf)).unwrap(), 0);
        dropper.join().unwrap();
    });
}
