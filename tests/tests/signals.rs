//! `nbio::signal`: signals delivered to the process (with `raise`, from another thread, or
//! before anyone waits) reach every `Signal` of their kind in every runtime, and only those.
//!
//! Each test that installs a handler or raises a signal plays its part in a child process of
//! its own (see `run_child`): a handler stays installed for the life of a process.

use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use nbio::signal::{Signal, SignalKind};
use nbio_tests::{in_child, run_child, watched};

fn raise(signal: i32) {
    // SAFETY: raise takes a signal number and sends it to the calling thread.
    assert_eq!(unsafe { libc::raise(signal) }, 0, "raise({signal})");
}

/// Runs `test` in a child, or plays it there.
fn in_a_child_process(test: &str, body: impl FnOnce() + Send + 'static) {
    if in_child(test) {
        watched(body);
    } else {
        run_child(test, &[]);
    }
}

#[test]
fn a_raised_signal_is_received() {
    in_a_child_process("a_raised_signal_is_received", || {
        nbio::block_on(async {
            let mut usr1 = Signal::new(SignalKind::user_defined1()).unwrap();
            assert_eq!(usr1.kind(), SignalKind::user_defined1());
            thread::spawn(|| {
                thread::sleep(Duration::from_millis(20));
                raise(libc::SIGUSR1); // from another thread, while the runtime sleeps
            });
            assert_eq!(usr1.recv().await, Some(()));
            raise(libc::SIGUSR1); // from the runtime's own thread
            assert_eq!(usr1.recv().await, Some(()));
        });
    });
}

#[test]
fn ctrl_c_resolves_on_sigint() {
    in_a_child_process("ctrl_c_resolves_on_sigint", || {
        nbio::block_on(async {
            let waiting = nbio::spawn(nbio::signal::ctrl_c());
            nbio_tests::until_idle(&[waiting.id()]).await; // its handler is installed
            raise(libc::SIGINT);
            waiting.await.unwrap().unwrap();
        });
    });
}

#[test]
fn terminate_and_hangup_are_delivered_to_their_own_listeners_only() {
    in_a_child_process(
        "terminate_and_hangup_are_delivered_to_their_own_listeners_only",
        || {
            nbio::block_on(async {
                let mut term = Signal::new(SignalKind::terminate()).unwrap();
                let mut hup = Signal::new(SignalKind::hangup()).unwrap();
                raise(libc::SIGHUP);
                assert_eq!(hup.recv().await, Some(()));
                // The byte woke `term` too, but its count did not move: it waits on.
                let early = nbio::time::timeout(Duration::from_millis(30), term.recv()).await;
                assert!(early.is_err(), "SIGTERM's listener woke for SIGHUP");
                raise(libc::SIGTERM);
                assert_eq!(term.recv().await, Some(()));
            });
        },
    );
}

#[test]
fn every_listener_in_every_runtime_gets_each_delivery() {
    in_a_child_process("every_listener_in_every_runtime_gets_each_delivery", || {
        let ready = Arc::new(Barrier::new(3));
        let (got, received) = mpsc::channel();
        let runtimes: Vec<_> = (0..2)
            .map(|runtime| {
                let (ready, got) = (Arc::clone(&ready), got.clone());
                thread::spawn(move || {
                    nbio::block_on(async move {
                        let mut first = Signal::new(SignalKind::user_defined2()).unwrap();
                        let mut second = Signal::new(SignalKind::user_defined2()).unwrap();
                        ready.wait();
                        for round in 0..2 {
                            assert_eq!(first.recv().await, Some(()));
                            assert_eq!(second.recv().await, Some(()));
                            got.send((runtime, round)).unwrap();
                        }
                    })
                })
            })
            .collect();
        ready.wait();
        for round in 0..2 {
            raise(libc::SIGUSR2);
            let mut this_round: Vec<_> = (0..2).map(|_| received.recv().unwrap()).collect();
            this_round.sort();
            assert_eq!(this_round, [(0, round), (1, round)]);
        }
        for runtime in runtimes {
            runtime.join().unwrap();
        }
    });
}

#[test]
fn deliveries_before_new_are_not_seen_and_a_burst_is_one_recv() {
    in_a_child_process(
        "deliveries_before_new_are_not_seen_and_a_burst_is_one_recv",
        || {
            nbio::block_on(async {
                let mut first = Signal::new(SignalKind::user_defined1()).unwrap();
                raise(libc::SIGUSR1);
                raise(libc::SIGUSR1);
                raise(libc::SIGUSR1);
                // A Signal made now did not see those.
                let mut late = Signal::new(SignalKind::user_defined1()).unwrap();
                let quiet = nbio::time::timeout(Duration::from_millis(30), late.recv()).await;
                assert!(quiet.is_err(), "a new Signal saw deliveries made before it");
                // The first one sees the three as one.
                assert_eq!(first.recv().await, Some(()));
                let quiet = nbio::time::timeout(Duration::from_millis(30), first.recv()).await;
                assert!(quiet.is_err(), "a burst was reported more than once");
            });
        },
    );
}

#[test]
fn a_signal_outlives_nothing_once_its_runtime_is_gone() {
    in_a_child_process("a_signal_outlives_nothing_once_its_runtime_is_gone", || {
        let rt = nbio::Runtime::new().unwrap();
        let mut usr1 = rt
            .block_on(async { Signal::new(SignalKind::user_defined1()) })
            .unwrap();
        drop(rt);
        // The reactor it was registered with is gone: recv says so instead of hanging.
        assert_eq!(nbio::block_on(usr1.recv()), None);
    });
}

#[test]
fn a_signal_that_cannot_be_caught_is_refused() {
    nbio::block_on(async {
        for signum in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV] {
            let err = Signal::new(SignalKind::from_raw(signum)).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
            assert!(err.to_string().contains("cannot be caught"), "{err}");
        }
        let err = Signal::new(SignalKind::from_raw(1000)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    });
}

#[test]
fn signal_new_outside_a_runtime_is_an_error_that_says_so() {
    let err = Signal::new(SignalKind::user_defined1()).unwrap_err();
    assert!(err.to_string().contains("needs an nbio runtime"), "{err}");
}

#[test]
fn signal_kinds_have_their_names() {
    assert_eq!(SignalKind::interrupt().to_string(), "SIGINT");
    assert_eq!(SignalKind::terminate().as_raw(), libc::SIGTERM);
    assert_eq!(
        SignalKind::from_raw(libc::SIGUSR2),
        SignalKind::user_defined2()
    );
    assert_eq!(SignalKind::from_raw(40).to_string(), "signal 40");
}
