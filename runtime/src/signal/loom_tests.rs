//! Model check of the signal handshake (`Delivery` in `mod.rs`): a signal delivered while a
//! `Signal` is deciding to wait is never missed.
//!
//! ```text
//! RUSTFLAGS="--cfg nbio_loom" cargo test -p nbio --lib --release loom
//! ```
//!
//! The pipe and the reactor's readiness are modelled by a flag under a lock with a condition
//! variable: a byte in the pipe, which wakes whoever waits on it. A missed delivery leaves the
//! waiter blocked forever, which loom reports as a deadlock: the model fails if the handler
//! writes before it counts, or if the waiter reads the count before it drains.

use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use super::Delivery;

/// The self-pipe, as the model sees it.
struct Pipe {
    byte: Mutex<bool>,
    readable: Condvar,
}

impl Pipe {
    fn write(&self) {
        *self.byte.lock().unwrap() = true;
        self.readable.notify_all();
    }

    fn drain(&self) {
        *self.byte.lock().unwrap() = false;
    }

    fn wait_readable(&self) {
        let mut byte = self.byte.lock().unwrap();
        while !*byte {
            byte = self.readable.wait(byte).unwrap();
        }
    }
}

#[test]
fn loom_a_signal_delivered_while_the_waiter_decides_to_wait_is_received() {
    loom::model(|| {
        let delivery = Arc::new(Delivery::new());
        let pipe = Arc::new(Pipe {
            byte: Mutex::new(false),
            readable: Condvar::new(),
        });
        let mut seen = delivery.current();
        let handler = thread::spawn({
            let (delivery, pipe) = (Arc::clone(&delivery), Arc::clone(&pipe));
            move || delivery.deliver(|| pipe.write())
        });
        // Signal::poll_recv: drain and look; wait for a byte; again.
        while !delivery.receive(&mut seen, || pipe.drain()) {
            pipe.wait_readable();
        }
        handler.join().unwrap();
        assert_eq!(seen, 1);
    });
}
