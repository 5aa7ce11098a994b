//! Step 5 of the ladder: the article's event loop, with hand-written futures for generators.
//!
//! What it shows: three tasks take turns on one thread. A counter counts to 2000, yielding
//! after each count; two senders each send 4 MB to their own server, and when a socket's
//! buffer is full the sender steps aside until the socket is writable. The article builds this
//! from Python generators, a `tasks` list, an `fds` dict and `select()`. Here each task is a
//! `Future` written by hand (no `async fn`): a struct that keeps the generator's local
//! variables and an enum that says where it stopped. `poll` is the article's `next(task)`;
//! returning `Poll::Pending` is its `yield`. The loop below is the article's `while` loop, with
//! its three flaws fixed:
//!
//! - it blocks in `poller.wait` when no task is ready, instead of spinning with a timeout of 0;
//! - an event is mapped back to its task by the key it was registered with, instead of an
//!   undefined `fd`;
//! - the counter does not call a blocking sleep.
//!
//! What the next step does: writes the same three tasks as `async fn`s on nbio, which provides
//! this loop (with timers, many sockets and every thread-safety corner covered) so the tasks
//! read like the blocking code of step 2 (step6_nbio).
//!
//! Run it with `cargo run -p nbio --example step5_event_loop`.
//!
//! ```python
//! tasks = [other_task(), send_data_task(port=1234, data='foo'), send_data_task(port=5678, data='bar')]
//! fds = dict(w={}, r={})
//! while len(tasks) or len(fds['w']) or len(fds['r']):
//!     new_tasks = []
//!     for task in tasks:
//!         try:
//!             resp = next(task)
//!             try:
//!                 iter(resp)
//!                 fds[resp[0]][resp[1]] = task      # waiting on an fd
//!             except TypeError:
//!                 new_tasks.append(task)            # ready again next round
//!         except StopIteration:
//!             pass                                  # finished
//!     if len(fds['w'].keys()) or len(fds['r'].keys()):
//!         readable, writeable, exceptional = select.select(fds['r'].keys(), fds['w'].keys(), [], 0)
//!         for fd in writeable:
//!             new_tasks.append(fds['w'][fd])
//!             del fds['w'][fd]
//!     tasks = new_tasks
//! ```

#![warn(clippy::undocumented_unsafe_blocks)]

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use polling::{Event, Events, Poller};

/// How far the counter counts: the article's 2000.
const COUNT_TO: u32 = 2000;

/// Each sender sends its word and a newline this many times: the article's 4 MB.
const REPEAT: usize = 1024 * 1024;

/// The socket buffer size asked for at each end of a connection (the kernel may double it).
const BUFFER: usize = 64 * 1024;

/// How many "Blocking with N remaining" lines each sender prints before only counting them.
const SHOWN: u32 = 2;

fn main() -> io::Result<()> {
    let (addr_foo, server_foo) = start_server()?;
    let (addr_bar, server_bar) = start_server()?;

    let reactor = Rc::new(Reactor::new()?);
    let count = Rc::new(Cell::new(0));
    let foo_sent = Rc::new(Cell::new(None));
    let bar_sent = Rc::new(Cell::new(None));

    // tasks = [other_task(), send_data_task(port=1234, data='foo'), send_data_task(...)].
    // Like a generator, a future does nothing until it is first polled.
    let tasks: Vec<Task> = vec![
        Box::pin(Counter::new(COUNT_TO, Rc::clone(&count))),
        Box::pin(SendData::new("foo", addr_foo, &reactor, &count, &foo_sent)),
        Box::pin(SendData::new("bar", addr_bar, &reactor, &count, &bar_sent)),
    ];
    let stats = run(tasks, &reactor)?;

    println!(
        "the loop ran {} rounds and {} polls; it slept in poller.wait {}, \
         never while a task was ready",
        stats.rounds,
        stats.polls,
        match stats.sleeps {
            1 => "once".to_string(),
            n => format!("{n} times"),
        }
    );
    let expected = REPEAT * 4; // "foo\n" and "bar\n" are 4 bytes each
    for (name, sent, server) in [("foo", foo_sent, server_foo), ("bar", bar_sent, server_bar)] {
        let received = server.join().expect("a server thread panicked")?;
        assert_eq!(sent.get(), Some(expected), "{name}: every byte was sent");
        assert_eq!(received, expected, "{name}: every byte arrived");
    }
    assert_eq!(count.get(), COUNT_TO);
    println!("both servers received {expected} bytes each");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The tasks.

/// The article's `other_task`: count, and yield after each count so the others get a turn.
/// (Without the article's `time.sleep(0.02)`, which would stop every task for 20 ms a count;
/// step 6 waits on a timer instead.)
struct Counter {
    i: u32,
    limit: u32,
    /// The count, shared so that the senders can say how far it got.
    shared: Rc<Cell<u32>>,
}

impl Counter {
    fn new(limit: u32, shared: Rc<Cell<u32>>) -> Counter {
        Counter {
            i: 0,
            limit,
            shared,
        }
    }
}

impl Future for Counter {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // while i < 2000: i += 1
        self.i += 1;
        self.shared.set(self.i);
        if self.i >= self.limit {
            println!("[counter] counted to {}", self.i);
            return Poll::Ready(()); // StopIteration
        }
        // A bare `yield`: "I can go on, but let the others run first". Waking ourselves puts
        // this task back in the run queue, behind everyone already there.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The article's `send_data_task`, as a state machine. A generator keeps its local variables
/// and its place between two `yield`s by itself; a hand-written future keeps them in fields.
struct SendData {
    name: &'static str,
    addr: SocketAddr,
    reactor: Rc<Reactor>,
    /// The counter's value, to report how far it got while this task was sending.
    count: Rc<Cell<u32>>,
    /// Where the result goes: how many bytes were sent, once done.
    sent: Rc<Cell<Option<usize>>>,
    state: SendState,
}

/// Where a `SendData` task is.
enum SendState {
    /// Not polled yet: a generator before its first `next()`.
    Start,
    /// Between two sends. These fields are the generator's local variables.
    Sending {
        sock: Registration,
        data: Vec<u8>,
        total_sent: usize,
        waits: u32,
    },
    /// Returned `Ready`; must not be polled again.
    Done,
}

impl SendData {
    fn new(
        name: &'static str,
        addr: SocketAddr,
        reactor: &Rc<Reactor>,
        count: &Rc<Cell<u32>>,
        sent: &Rc<Cell<Option<usize>>>,
    ) -> SendData {
        SendData {
            name,
            addr,
            reactor: Rc::clone(reactor),
            count: Rc::clone(count),
            sent: Rc::clone(sent),
            state: SendState::Start,
        }
    }

    /// The generator's first steps: connect, go non-blocking, build the data.
    fn start(&self) -> io::Result<SendState> {
        // The article connects with a blocking connect before `setblocking(0)`; on loopback the
        // handshake is immediate. (nbio's connect does not block; see step 6.)
        let stream = TcpStream::connect(self.addr)?;
        stream.set_nonblocking(true)?;
        // Today's kernels give a loopback socket megabytes of buffer, enough to swallow the
        // whole 4 MB in one send. A small buffer, like a slow network's, makes the sender wait
        // for writability as it did for the article.
        rustix::net::sockopt::set_socket_send_buffer_size(&stream, BUFFER)?;
        let sock = self.reactor.register(stream)?;
        let data = format!("{}\n", self.name).repeat(REPEAT).into_bytes();
        println!("[{}] Bytes to send: {}", self.name, data.len());
        Ok(SendState::Sending {
            sock,
            data,
            total_sent: 0,
            waits: 0,
        })
    }
}

impl Future for SendData {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Every field is `Unpin`, so the pin can be taken off: nothing here relies on staying
        // at one address.
        let this = self.get_mut();
        loop {
            match &mut this.state {
                SendState::Start => match this.start() {
                    Ok(state) => this.state = state,
                    Err(err) => return this.fail(err),
                },
                SendState::Sending {
                    sock,
                    data,
                    total_sent,
                    waits,
                } => match (&sock.stream).write(&data[*total_sent..]) {
                    Ok(sent) => {
                        *total_sent += sent;
                        if *total_sent == data.len() {
                            println!(
                                "[{}] Bytes sent: {} after {}; the counter was at {}",
                                this.name,
                                total_sent,
                                times(*waits, "wait for writability", "waits for writability"),
                                this.count.get()
                            );
                            this.sent.set(Some(*total_sent));
                            this.state = SendState::Done; // drops `sock`: deregistered, closed
                            return Poll::Ready(());
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                        *waits += 1;
                        if *waits <= SHOWN {
                            let remaining = data.len() - *total_sent;
                            println!("[{}] Blocking with {remaining} remaining", this.name);
                        }
                        // yield ('w', sock): ask the reactor to wake this task when the socket
                        // is writable, and step aside.
                        if let Err(err) = sock.wake_when_writable(cx.waker()) {
                            return this.fail(err);
                        }
                        return Poll::Pending;
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return this.fail(err),
                },
                SendState::Done => panic!("a SendData task was polled after it completed"),
            }
        }
    }
}

impl SendData {
    fn fail(&mut self, err: io::Error) -> Poll<()> {
        println!("[{}] failed: {err}", self.name);
        self.state = SendState::Done;
        Poll::Ready(())
    }
}

// ---------------------------------------------------------------------------------------------
// The reactor: the article's `fds` dict and its `select()` call.

/// A poller, and the waker of the task waiting on each registered socket.
struct Reactor {
    poller: Poller,
    /// fds['w'] in the article: for each socket key, who to wake when it is writable.
    waiting: RefCell<HashMap<usize, Waker>>,
    next_key: Cell<usize>,
}

impl Reactor {
    fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            poller: Poller::new()?,
            waiting: RefCell::new(HashMap::new()),
            next_key: Cell::new(0),
        })
    }

    /// Registers `stream` (with no interest yet) under a fresh key.
    fn register(self: &Rc<Self>, stream: TcpStream) -> io::Result<Registration> {
        let key = self.next_key.get();
        self.next_key.set(key + 1);
        // SAFETY: `Poller::add` requires the source to be deleted from the poller before it is
        // closed. The stream moves into the `Registration` returned here, whose `Drop` deletes
        // it from the poller before the stream field is dropped (and closed). If `add` fails,
        // nothing was registered.
        unsafe { self.poller.add(&stream, Event::none(key))? };
        Ok(Registration {
            reactor: Rc::clone(self),
            stream,
            key,
        })
    }

    /// The article's `select()`, fixed: waits for events (at most `timeout`), then wakes the
    /// task behind each one. The event's key names the socket, so there is no `fd` to mix up.
    fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        self.poller.wait(events, timeout)?;
        for event in events.iter() {
            let waker = self.waiting.borrow_mut().remove(&event.key);
            if let Some(waker) = waker {
                waker.wake(); // new_tasks.append(fds['w'][fd]); del fds['w'][fd]
            }
        }
        Ok(())
    }
}

/// A socket registered with the reactor.
///
/// # Invariant
/// The stream stays registered exactly as long as this value lives, and is deleted from the
/// poller before it is closed: `Drop::drop` runs before the fields are dropped.
struct Registration {
    reactor: Rc<Reactor>,
    stream: TcpStream,
    key: usize,
}

impl Registration {
    /// fds['w'][sock] = task: remember who to wake, and arm the poller for one writable event.
    /// If the socket became writable since the failed send, the kernel notices when the
    /// interest is armed and the next wait reports it at once: no wakeup is lost.
    fn wake_when_writable(&self, waker: &Waker) -> io::Result<()> {
        self.reactor
            .waiting
            .borrow_mut()
            .insert(self.key, waker.clone());
        self.reactor
            .poller
            .modify(&self.stream, Event::writable(self.key))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.reactor.waiting.borrow_mut().remove(&self.key);
        // An error would mean the fd was not registered; there is nothing left to undo.
        let _ = self.reactor.poller.delete(&self.stream);
    }
}

// ---------------------------------------------------------------------------------------------
// The executor: the article's `while` loop.

/// A task: a future that the loop polls until it is ready.
type Task = Pin<Box<dyn Future<Output = ()>>>;

/// The ids of the tasks that are ready to be polled: the article's `new_tasks`.
struct RunQueue(Mutex<VecDeque<usize>>);

impl RunQueue {
    fn push(&self, id: usize) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back(id);
    }

    fn take_all(&self) -> Vec<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect()
    }

    fn is_empty(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

/// A task's waker: waking puts the task's id back in the run queue. `std::task::Wake` turns
/// it into a `Waker` without any unsafe code. (A task woken twice before its turn is queued
/// twice here and polled twice, which these tasks tolerate; nbio keeps a "scheduled" bit per
/// task so that it is queued once.)
struct TaskWaker {
    id: usize,
    queue: Arc<RunQueue>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.queue.push(self.id);
    }
}

#[derive(Default)]
struct LoopStats {
    rounds: u32,
    polls: u32,
    sleeps: u32,
}

/// Polls the tasks in rounds until all are done, sleeping in the poller when none is ready.
fn run(tasks: Vec<Task>, reactor: &Reactor) -> io::Result<LoopStats> {
    let queue = Arc::new(RunQueue(Mutex::new((0..tasks.len()).collect())));
    let wakers: Vec<Waker> = (0..tasks.len())
        .map(|id| {
            Waker::from(Arc::new(TaskWaker {
                id,
                queue: Arc::clone(&queue),
            }))
        })
        .collect();
    let mut tasks: Vec<Option<Task>> = tasks.into_iter().map(Some).collect();
    let mut alive = tasks.len();
    let mut events = Events::new();
    let mut stats = LoopStats::default();

    while alive > 0 {
        stats.rounds += 1;
        // for task in tasks: next(task). Only tasks that were woken are here: a sender waiting
        // for writability costs nothing until its socket is ready.
        for id in queue.take_all() {
            let Some(task) = tasks[id].as_mut() else {
                continue; // finished already; this was a late wake
            };
            stats.polls += 1;
            let mut cx = Context::from_waker(&wakers[id]);
            if task.as_mut().poll(&mut cx).is_ready() {
                tasks[id] = None; // StopIteration
                alive -= 1;
            }
        }
        if alive == 0 {
            break;
        }
        // select(r, w, [], 0) in the article, which spins when every task is waiting. Here:
        // only look (timeout 0) if a task is ready to run; otherwise sleep in the kernel until
        // a socket is ready.
        let timeout = if queue.is_empty() {
            stats.sleeps += 1;
            None
        } else {
            Some(Duration::ZERO)
        };
        reactor.wait(&mut events, timeout)?;
    }
    Ok(stats)
}

/// `1 wait`, `2 waits`.
fn times(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

// ---------------------------------------------------------------------------------------------
// The servers: step 1's blocking server, one per thread, as the article runs two of them.

fn start_server() -> io::Result<(SocketAddr, JoinHandle<io::Result<usize>>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    // Accepted connections inherit the listener's receive buffer; see `SendData::start`.
    rustix::net::sockopt::set_socket_recv_buffer_size(&listener, BUFFER)?;
    let addr = listener.local_addr()?;
    let server = thread::spawn(move || {
        let (mut conn, _) = listener.accept()?;
        let mut buf = [0u8; 1024];
        let mut total = 0;
        loop {
            match conn.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    });
    Ok((addr, server))
}
