//! The runtime's entry points: `Runtime::enter` on both flavours (and nested), `Handle::try_current`,
//! `Handle::block_on` (from plain threads and blocking jobs; a panic on a runtime's thread),
//! blocking jobs that belong to their runtime, and the thread names and start/stop hooks.
//! Cases ported from tokio's rt_handle.rs, rt_threaded.rs and task_blocking.rs, in nbio's terms.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::time::sleep;
use nbio::{Handle, Runtime};
use nbio_tests::{eventually, watched};

const LONG: Duration = Duration::from_secs(10);

fn two_workers() -> Runtime {
    Runtime::builder().worker_threads(2).build().unwrap()
}

/// The message of a caught panic.
fn message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(text) => *text,
        Err(panic) => panic
            .downcast::<&str>()
            .map(|text| text.to_string())
            .unwrap_or_default(),
    }
}

#[test]
fn a_task_spawned_under_enter_on_the_current_thread_runtime_runs_at_the_next_block_on() {
    watched(|| {
        let rt = Runtime::new().unwrap();
        let task = {
            let _guard = rt.enter();
            nbio::spawn(async { 6 * 7 })
        };
        thread::sleep(Duration::from_millis(20));
        assert!(
            !task.is_finished(),
            "no loop ran: the task must still be queued"
        );
        assert_eq!(rt.stats().tasks_spawned, 1);
        assert_eq!(rt.block_on(task).unwrap(), 42);
    });
}

#[test]
fn a_timer_first_polled_under_enter_registers_with_that_runtime() {
    watched(|| {
        let rt = Runtime::builder().virtual_time(true).build().unwrap();
        let mut nap = Box::pin(sleep(Duration::from_secs(3600)));
        {
            let _guard = rt.enter();
            let once = futures_lite::future::poll_once(nap.as_mut());
            assert!(futures_lite::future::block_on(once).is_none());
        }
        assert_eq!(
            rt.stats().timers_pending,
            1,
            "the timer is in this runtime's reactor"
        );
        let start = rt.block_on(async { nbio::time::now() });
        rt.block_on(nap); // the virtual clock jumps to it
        let end = rt.block_on(async { nbio::time::now() });
        assert!(
            end - start >= Duration::from_secs(3599),
            "{:?}",
            end - start
        );
    });
}

#[test]
fn a_listener_bound_under_enter_accepts_in_block_on() {
    watched(|| {
        let rt = Runtime::new().unwrap();
        let listener = {
            let _guard = rt.enter();
            AsyncTcpListener::bind("127.0.0.1:0").unwrap()
        };
        let addr = listener.local_addr().unwrap();
        rt.block_on(async move {
            let client = nbio::spawn(async move {
                let stream = AsyncTcpStream::connect(addr).await.unwrap();
                stream.write_all(b"hi").await.unwrap();
            });
            let (stream, _) = listener.accept().await.unwrap();
            let mut buf = [0; 2];
            stream.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hi");
            client.await.unwrap();
        });
    });
}

#[test]
fn enter_on_the_multi_thread_runtime_runs_spawned_tasks_at_once() {
    watched(|| {
        let rt = two_workers();
        let (tx, rx) = mpsc::channel();
        {
            let _guard = rt.enter();
            nbio::spawn(async move {
                sleep(Duration::from_millis(1)).await;
                tx.send(thread::current().name().map(String::from)).unwrap();
            });
        }
        // No block_on: the workers ran it.
        let ran_on = rx.recv_timeout(LONG).expect("the workers ran the task");
        assert!(ran_on.unwrap().starts_with("nbio-worker-"));
    });
}

#[test]
fn nested_enters_of_two_runtimes_restore_the_outer_one_when_dropped() {
    watched(|| {
        let (rt1, rt2) = (Runtime::new().unwrap(), Runtime::new().unwrap());
        assert!(Handle::try_current().is_err());
        let outer = rt1.enter();
        drop(nbio::spawn(async {}));
        {
            let _inner = rt2.enter();
            drop(nbio::spawn(async {}));
            drop(nbio::spawn(async {}));
        }
        drop(nbio::spawn(async {}));
        drop(outer);
        assert!(
            Handle::try_current().is_err(),
            "the last guard leaves no runtime behind"
        );
        assert_eq!(rt1.stats().tasks_spawned, 2);
        assert_eq!(rt2.stats().tasks_spawned, 2);
    });
}

#[test]
fn enters_of_a_current_thread_and_a_multi_thread_runtime_nest() {
    watched(|| {
        let (rt1, rt2) = (Runtime::new().unwrap(), two_workers());
        let _outer = rt1.enter();
        let (tx, rx) = mpsc::channel();
        {
            let _inner = rt2.enter();
            nbio::spawn(async move { tx.send(()).unwrap() });
        }
        rx.recv_timeout(LONG)
            .expect("the multi-thread runtime ran it");
        let queued = nbio::spawn(async { 1 });
        assert_eq!(rt1.block_on(queued).unwrap(), 1);
    });
}

#[test]
#[should_panic(expected = "out of order")]
fn guards_dropped_out_of_order_panic_and_say_so() {
    let (rt1, rt2) = (Runtime::new().unwrap(), Runtime::new().unwrap());
    let first = rt1.enter();
    let _second = rt2.enter();
    drop(first);
}

#[test]
#[should_panic(expected = "out of order")]
fn a_guard_kept_past_the_block_on_that_made_it_panics_and_says_so() {
    let (rt1, rt2) = (Runtime::new().unwrap(), Runtime::new().unwrap());
    // Kept in a local of this function rather than returned from block_on: a value being
    // returned while a destructor panics is never dropped (rustc issue #47949).
    let escaped = std::cell::RefCell::new(None);
    rt1.block_on(async { *escaped.borrow_mut() = Some(rt2.enter()) });
}

#[test]
fn block_on_under_enter_runs_and_the_guard_holds_after_it() {
    watched(|| {
        let rt = Runtime::new().unwrap();
        let _guard = rt.enter();
        let task = nbio::spawn(async { 5 });
        assert_eq!(rt.block_on(task).unwrap(), 5);
        // Still entered: this spawn is queued for the next block_on.
        let again = nbio::spawn(async { 6 });
        assert_eq!(rt.block_on(again).unwrap(), 6);
    });
}

#[test]
fn try_current_is_an_error_on_a_plain_thread_and_a_handle_wherever_a_runtime_is() {
    watched(|| {
        let err = Handle::try_current().unwrap_err();
        assert!(err.to_string().contains("no nbio runtime"), "{err}");
        let rt = two_workers();
        let found = rt.block_on(async {
            let in_block_on = Handle::try_current().is_ok();
            let in_task = nbio::spawn(async { Handle::try_current().is_ok() });
            let in_job = nbio::spawn_blocking(|| Handle::try_current().is_ok());
            (in_block_on, in_task.await.unwrap(), in_job.await.unwrap())
        });
        assert_eq!(found, (true, true, true));
        let _guard = rt.enter();
        assert!(Handle::try_current().is_ok());
    });
}

/// The bug of the issue: a sleep inside a blocking job panicked "polled outside of an nbio
/// runtime". It waits on the runtime that runs the job, on either flavour.
fn a_sleep_in_a_blocking_job_completes(rt: Runtime) {
    let slept = rt.block_on(async {
        nbio::spawn_blocking(|| {
            Handle::current().block_on(async {
                let start = nbio::time::now();
                sleep(Duration::from_millis(5)).await;
                nbio::time::now() - start
            })
        })
        .await
        .unwrap()
    });
    assert!(slept >= Duration::from_millis(5), "{slept:?}");
}

#[test]
fn a_sleep_in_a_blocking_job_completes_on_the_current_thread_runtime() {
    watched(|| a_sleep_in_a_blocking_job_completes(Runtime::new().unwrap()));
}

#[test]
fn a_sleep_in_a_blocking_job_completes_on_worker_threads() {
    watched(|| a_sleep_in_a_blocking_job_completes(two_workers()));
}

#[test]
fn a_sleep_in_a_blocking_job_completes_on_virtual_time() {
    watched(|| {
        let rt = Runtime::builder().virtual_time(true).build().unwrap();
        let slept = rt.block_on(async {
            nbio::spawn_blocking(|| {
                Handle::current().block_on(async {
                    let start = nbio::time::now();
                    sleep(Duration::from_secs(60)).await;
                    nbio::time::now() - start
                })
            })
            .await
            .unwrap()
        });
        assert_eq!(slept, Duration::from_secs(60));
    });
}

/// A job parked in `Handle::block_on` lets the virtual clock move, and holds it again once
/// woken: fifty sleeps in a job take fifty virtual seconds, and afterwards the clock still moves
/// (a count of busy jobs left off by one would hold it, or let it run, for good).
#[test]
fn many_sleeps_in_a_blocking_job_on_virtual_time_keep_the_clock_exact() {
    watched(|| {
        let rt = Runtime::builder().virtual_time(true).build().unwrap();
        let (in_job, after) = rt.block_on(async {
            let ticker = nbio::spawn(async {
                for _ in 0..20 {
                    sleep(Duration::from_millis(2500)).await;
                }
            });
            let in_job = nbio::spawn_blocking(|| {
                let handle = Handle::current();
                let start = handle.block_on(async { nbio::time::now() });
                for _ in 0..50 {
                    handle.block_on(sleep(Duration::from_secs(1)));
                }
                handle.block_on(async { nbio::time::now() }) - start
            })
            .await
            .unwrap();
            ticker.await.unwrap();
            let start = nbio::time::now();
            sleep(Duration::from_secs(10)).await;
            (in_job, nbio::time::now() - start)
        });
        assert_eq!(in_job, Duration::from_secs(50));
        assert_eq!(after, Duration::from_secs(10));
    });
}

#[test]
fn a_blocking_job_spawns_onto_its_own_runtime() {
    watched(|| {
        for rt in [Runtime::new().unwrap(), two_workers()] {
            let answer = rt.block_on(async {
                let task = nbio::spawn_blocking(|| nbio::spawn(async { 6 * 7 }))
                    .await
                    .unwrap();
                task.await.unwrap()
            });
            assert_eq!(answer, 42);
        }
    });
}

#[test]
fn handle_block_on_from_a_plain_thread_runs_timers_and_tasks_on_the_workers() {
    watched(|| {
        let rt = two_workers();
        let handle = rt.handle();
        let answer = thread::spawn(move || {
            handle.block_on(async {
                sleep(Duration::from_millis(2)).await;
                nbio::spawn(async { 7 }).await.unwrap()
            })
        })
        .join()
        .unwrap();
        assert_eq!(answer, 7);
    });
}

#[test]
fn handle_block_on_of_a_current_thread_runtime_completes_while_its_thread_is_in_block_on() {
    watched(|| {
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let (tx, rx) = nbio::sync::oneshot::channel();
        let waiter = thread::spawn(move || {
            handle.block_on(sleep(Duration::from_millis(5)));
            tx.send(()).unwrap();
        });
        rt.block_on(rx).unwrap(); // the loop serves the other thread's timer meanwhile
        waiter.join().unwrap();
    });
}

#[test]
fn handle_block_on_inside_block_on_panics_and_says_what_to_do() {
    watched(|| {
        let rt = Runtime::new().unwrap();
        let panic = rt.block_on(async {
            catch_unwind(AssertUnwindSafe(|| Handle::current().block_on(async {}))).unwrap_err()
        });
        let text = message(panic);
        assert!(text.contains("would block the thread"), "{text}");
        assert!(text.contains("spawn_blocking"), "{text}");
    });
}

#[test]
fn handle_block_on_in_a_task_on_a_worker_panics_and_says_why() {
    watched(|| {
        let rt = two_workers();
        let text = rt.block_on(async {
            nbio::spawn(async {
                let panic = catch_unwind(AssertUnwindSafe(|| {
                    Handle::current().block_on(async {});
                }));
                message(panic.unwrap_err())
            })
            .await
            .unwrap()
        });
        assert!(text.contains("runs an nbio runtime's loop"), "{text}");
    });
}

#[test]
fn thread_name_names_the_workers_and_the_pool_threads_and_not_the_block_on_thread() {
    watched(|| {
        let rt = Runtime::builder()
            .worker_threads(2)
            .thread_name("porter")
            .build()
            .unwrap();
        let name = || thread::current().name().map(String::from);
        let mine = name();
        let (in_block_on, on_worker, in_job) = rt.block_on(async move {
            let on_worker = nbio::spawn(async move { name() }).await.unwrap();
            let in_job = nbio::spawn_blocking(name).await.unwrap();
            (name(), on_worker, in_job)
        });
        assert_eq!(in_block_on, mine);
        assert_eq!(on_worker.as_deref(), Some("porter"));
        assert_eq!(in_job.as_deref(), Some("porter"));
    });
}

#[test]
fn without_thread_name_the_threads_keep_their_numbered_names() {
    watched(|| {
        let rt = two_workers();
        let in_job = rt.block_on(async {
            nbio::spawn_blocking(|| thread::current().name().map(String::from))
                .await
                .unwrap()
        });
        assert!(in_job.unwrap().starts_with("nbio-blocking-"));
    });
}

/// Counts starts and stops, and remembers on which threads the starts ran.
#[derive(Clone, Default)]
struct Hooks {
    starts: Arc<AtomicUsize>,
    stops: Arc<AtomicUsize>,
    /// Starts and stops that found the runtime (`Handle::try_current`).
    inside: Arc<AtomicUsize>,
    names: Arc<Mutex<Vec<String>>>,
}

impl Hooks {
    fn on(&self, builder: nbio::Builder) -> nbio::Builder {
        let (starts, stops) = (self.starts.clone(), self.stops.clone());
        let names = self.names.clone();
        let (inside, inside_too) = (self.inside.clone(), self.inside.clone());
        builder
            .on_thread_start(move || {
                starts.fetch_add(1, SeqCst);
                let name = thread::current().name().unwrap_or("").to_string();
                names.lock().unwrap().push(name);
                if Handle::try_current().is_ok() {
                    inside.fetch_add(1, SeqCst);
                }
            })
            .on_thread_stop(move || {
                stops.fetch_add(1, SeqCst);
                if Handle::try_current().is_ok() {
                    inside_too.fetch_add(1, SeqCst);
                }
            })
    }
}

#[test]
fn start_and_stop_hooks_run_once_on_each_worker_and_each_pool_thread() {
    watched(|| {
        let hooks = Hooks::default();
        let rt = hooks
            .on(Runtime::builder().worker_threads(2))
            .build()
            .unwrap();
        // Three jobs that wait for each other need three pool threads.
        let barrier = Arc::new(Barrier::new(3));
        rt.block_on(async {
            let jobs: Vec<_> = (0..3)
                .map(|_| {
                    let barrier = Arc::clone(&barrier);
                    nbio::spawn_blocking(move || {
                        barrier.wait();
                    })
                })
                .collect();
            for job in jobs {
                job.await.unwrap();
            }
        });
        assert_eq!(hooks.starts.load(SeqCst), 5, "2 workers and 3 pool threads");
        drop(rt); // joins every one of them
        assert_eq!(hooks.stops.load(SeqCst), 5);
        assert_eq!(
            hooks.inside.load(SeqCst),
            10,
            "each hook ran inside the runtime"
        );
        let mut names = hooks.names.lock().unwrap().clone();
        names.sort();
        assert_eq!(
            names,
            [
                "nbio-blocking-1",
                "nbio-blocking-2",
                "nbio-blocking-3",
                "nbio-worker-1",
                "nbio-worker-2"
            ]
        );
    });
}

#[test]
fn on_the_current_thread_runtime_the_hooks_run_on_pool_threads_only() {
    watched(|| {
        let hooks = Hooks::default();
        let rt = hooks.on(Runtime::builder()).build().unwrap();
        rt.block_on(async {
            nbio::spawn(async {}).await.unwrap();
            nbio::spawn_blocking(|| ()).await.unwrap();
        });
        assert_eq!(
            hooks.starts.load(SeqCst),
            1,
            "one pool thread; block_on's thread is the caller's"
        );
        drop(rt);
        assert_eq!(hooks.stops.load(SeqCst), 1);
    });
}

#[test]
fn a_pool_thread_that_leaves_when_idle_runs_its_stop_hook() {
    watched(|| {
        let hooks = Hooks::default();
        let rt = hooks
            .on(Runtime::builder().blocking_keep_alive(Duration::from_millis(10)))
            .build()
            .unwrap();
        rt.block_on(rt.spawn_blocking(|| ())).unwrap();
        eventually(LONG, || hooks.stops.load(SeqCst) == 1).expect("the idle thread left");
        assert_eq!(hooks.starts.load(SeqCst), 1);
        drop(rt);
    });
}
