//! Model check of the doorbell (`doorbell.rs`), the handshake between the loop going to sleep
//! in the reactor and a thread that wakes one of its tasks.
//!
//! ```text
//! RUSTFLAGS="--cfg nbio_loom" cargo test -p nbio --lib --release loom
//! ```

use std::sync::atomic::Ordering::SeqCst;

use loom::sync::atomic::AtomicBool;
use loom::sync::Arc;
use loom::thread;

use super::doorbell::{Doorbell, INJECTED};

#[test]
fn loom_the_doorbell_never_lets_the_loop_sleep_on_queued_work() {
    loom::model(|| {
        let doorbell = Arc::new(Doorbell::new());
        let rang_parked = Arc::new(AtomicBool::new(false));
        let waker = thread::spawn({
            let (doorbell, rang_parked) = (Arc::clone(&doorbell), Arc::clone(&rang_parked));
            // Shared::push_remote: publish the work; notify the reactor if told to.
            move || rang_parked.store(doorbell.ring(INJECTED).parked, SeqCst)
        });
        // CurrentThread::park: block only if no work was waiting.
        let blocked = doorbell.park();
        waker.join().unwrap();
        assert!(
            !blocked || rang_parked.load(SeqCst),
            "the loop blocked with work queued and nobody notified it"
        );
        assert!(
            doorbell.take(INJECTED),
            "the work must still be there to take"
        );
    });
}
