//! The answer to exercise 2 of the guide's chapter 6, "One `write_all`, end to end".
//!
//! The exercise: in chapter 2's stage 3, ask the poller for the socket's event *before* filing
//! the task's waker, with a pause between the two. Which interleaving now hangs, and why does
//! the order in `ReadOnce::poll` prevent it?
//!
//! The answer needs a second thread in the poller, as nbio's workers are (chapter 8): here a
//! reactor thread waits in `poller.wait` and wakes the waker filed under each event's key, while
//! the task is polled on the main thread. In the wrong order, the socket turns readable during
//! the pause, the reactor thread gets the (oneshot) event, finds no waker filed, and drops it.
//! Then the waker is filed, but the interest is spent and no second event will come: the task
//! waits forever for data that has long arrived. In the right order the waker is filed before
//! the interest is asked for, so whenever the event comes, it finds the waker.
//!
//! This program runs both orders and reports what happened; a hang is caught by a timeout.
//! Run it with `cargo run -p nbio --example exercise_lost_wakeup`.

use std::collections::HashMap;
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use polling::{Event, Events, Poller};

/// The reactor a thread of its own drives: the poller, and the waker filed under each key.
struct Reactor {
    poller: Poller,
    filed: Mutex<HashMap<usize, Waker>>,
    stop: AtomicBool,
}

impl Reactor {
    /// The reactor thread: wait, then wake whoever is filed under each event's key.
    fn run(&self) {
        let mut events = Events::new();
        while !self.stop.load(SeqCst) {
            events.clear();
            self.poller.wait(&mut events, None).expect("poller wait");
            for event in events.iter() {
                let waker = self.filed.lock().unwrap().remove(&event.key);
                match waker {
                    Some(waker) => waker.wake(),
                    None => println!(
                        "  reactor: event for key {}, but no waker filed: dropped",
                        event.key
                    ),
                }
            }
        }
    }
}

/// Wakes the main thread (a one-task `block_on`): sets `woken`, then unparks it.
struct Unpark {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, SeqCst);
        self.thread.unpark();
    }
}

/// Which order the read future asks in.
#[derive(Clone, Copy, Debug)]
enum Order {
    WakerThenInterest,
    InterestThenWaker,
}

/// Reads once from `stream`; on `WouldBlock` files the waker and asks for a readable event in
/// `order`, telling `paused` in between (the writer writes then) and pausing 50 ms.
async fn read_once(
    reactor: &Reactor,
    stream: &TcpStream,
    order: Order,
    paused: &mpsc::Sender<()>,
) -> io::Result<usize> {
    let key = stream.as_raw_fd() as usize;
    let mut buf = [0u8; 64];
    std::future::poll_fn(|cx: &mut Context<'_>| match (&*stream).read(&mut buf) {
        Ok(n) => Poll::Ready(Ok(n)),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
            let file = || {
                reactor
                    .filed
                    .lock()
                    .unwrap()
                    .insert(key, cx.waker().clone())
            };
            let ask = || reactor.poller.modify(stream, Event::readable(key));
            let pause = || {
                let _ = paused.send(());
                thread::sleep(Duration::from_millis(50));
            };
            match order {
                Order::WakerThenInterest => {
                    file();
                    pause();
                    ask()?;
                }
                Order::InterestThenWaker => {
                    ask()?;
                    pause();
                    file();
                }
            }
            Poll::Pending
        }
        Err(err) => Poll::Ready(Err(err)),
    })
    .await
}

/// Polls `future` on this thread until it is ready, or returns `None` if `limit` passes with
/// no wake: it is polled again only when its waker was called, as a real executor does.
fn block_on_for<F: Future>(future: F, limit: Duration) -> Option<F::Output> {
    let unpark = Arc::new(Unpark {
        thread: thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(Arc::clone(&unpark));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let end = Instant::now() + limit;
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
        while !unpark.woken.swap(false, SeqCst) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            thread::park_timeout(left);
        }
    }
}

/// One run in `order`: a fresh socket pair, a reactor thread, and a writer that writes while
/// the read future pauses. True if the read completed.
fn run(order: Order) -> io::Result<bool> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    server.set_nonblocking(true)?;
    let reactor = Arc::new(Reactor {
        poller: Poller::new()?,
        filed: Mutex::new(HashMap::new()),
        stop: AtomicBool::new(false),
    });
    // SAFETY: `polling` needs the socket deleted from the poller before it is closed: it is
    // deleted below, on every path, before `server` is dropped at the end of this function.
    unsafe {
        reactor
            .poller
            .add(&server, Event::none(server.as_raw_fd() as usize))?
    };
    let driver = {
        let reactor = Arc::clone(&reactor);
        thread::spawn(move || reactor.run())
    };
    let (paused, on_pause) = mpsc::channel();
    let writer = thread::spawn(move || {
        on_pause.recv().unwrap(); // in the middle of the read future's two steps
        client.write_all(b"ping").unwrap();
        client
    });
    let read = block_on_for(
        read_once(&reactor, &server, order, &paused),
        Duration::from_secs(1),
    );
    let _client = writer.join().unwrap();
    reactor.stop.store(true, SeqCst);
    reactor.poller.notify()?;
    driver.join().unwrap();
    reactor.poller.delete(&server)?;
    match read {
        Some(result) => {
            result?;
            Ok(true)
        }
        None => Ok(false),
    }
}

fn main() -> io::Result<()> {
    for order in [Order::WakerThenInterest, Order::InterestThenWaker] {
        println!("{order:?}:");
        if run(order)? {
            println!("  the read completed");
        } else {
            println!("  no wake in 1 s: the data arrived, the event was spent, the task sleeps on");
        }
    }
    assert!(
        run(Order::WakerThenInterest)?,
        "the right order never loses the wake"
    );
    assert!(
        !run(Order::InterestThenWaker)?,
        "the wrong order, with the write in its gap, does"
    );
    Ok(())
}
