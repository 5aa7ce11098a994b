//! Shared helpers for the workspace tests of nbio.
//!
//! Each file in `tests/` is one concern of DESIGN.md's correctness list; what they share lives
//! here: a watchdog that turns a hang into a clear failure, drop detectors, a oneshot channel
//! whose sender works from any thread, a temporary directory for Unix sockets, and the few
//! socket options and process figures that std does not expose: open descriptors, the
//! descriptor limit, a listener's backlog, and allocations counted per thread.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

/// How long a test body may run before the watchdog calls it stuck. Generous: a busy shared
/// machine may be slow, but no test here needs more than a few seconds.
pub const WATCHDOG_LIMIT: Duration = Duration::from_secs(30);

/// How many times slower than usual this run is allowed to be: the `NBIO_TEST_SLOWDOWN`
/// environment variable, 1 when unset. `scripts/valgrind.sh` sets it, because code under
/// valgrind runs tens of times slower and a watchdog sized for a normal run would fire.
pub fn slowdown() -> u32 {
    std::env::var("NBIO_TEST_SLOWDOWN")
        .ok()
        .and_then(|factor| factor.parse().ok())
        .filter(|&factor| factor > 0)
        .unwrap_or(1)
}

/// Runs `body` on its own thread and returns what it returns. If it does not finish within
/// `limit` (times [`slowdown`]), panics with a message naming `what` instead of hanging the
/// test run forever (a lost wakeup shows up as exactly such a hang). A panic inside `body` is
/// passed on as is.
pub fn watchdog<T, F>(what: &str, limit: Duration, body: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (done, finished) = mpsc::channel();
    let worker = thread::Builder::new()
        .name(format!("watched: {what}"))
        .spawn(move || {
            let _ = done.send(body());
        })
        .expect("spawn the watched thread");
    let limit = limit * slowdown();
    match finished.recv_timeout(limit) {
        Ok(value) => {
            let _ = worker.join();
            value
        }
        // The sender is gone without a value: the body panicked. Re-raise its panic.
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => unreachable!("the watched body returned without sending its result"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "watchdog: `{what}` did not finish within {limit:?}; the runtime is stuck \
             (a lost wakeup, a starved task or a deadlock)"
        ),
    }
}

/// Runs a test body under the [`watchdog`] with the default limit: a test that could only hang
/// if the runtime were wrong fails instead. The failure names the test (libtest names each
/// test's thread after it).
pub fn watched<T, F>(body: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let current = thread::current();
    let test = current.name().unwrap_or("a test body");
    watchdog(test, WATCHDOG_LIMIT, body)
}

/// Counts how many times the guards it hands out were dropped.
///
/// Put a [`DropGuard`] inside a future (or an output) and check afterwards that the runtime
/// dropped it, and dropped it exactly once.
#[derive(Clone, Debug, Default)]
pub struct DropCounter(Arc<AtomicUsize>);

impl DropCounter {
    /// A counter at zero.
    pub fn new() -> DropCounter {
        DropCounter::default()
    }

    /// A guard that adds one to this counter when dropped.
    pub fn guard(&self) -> DropGuard {
        DropGuard(Arc::clone(&self.0))
    }

    /// How many guards were dropped so far.
    pub fn drops(&self) -> usize {
        self.0.load(SeqCst)
    }
}

/// Adds one to its [`DropCounter`] when dropped.
#[derive(Debug)]
pub struct DropGuard(Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A one-value channel whose [`Sender`] may be used from any thread (not only a runtime's),
/// and whose [`Receiver`] is a future. The sender wakes the receiver's waker after it let go
/// of the lock, as a real foreign event source (another thread, a driver) would.
pub fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
        sender_gone: false,
    }));
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
}

/// The sending half of [`oneshot`].
pub struct Sender<T> {
    shared: Arc<Mutex<Slot<T>>>,
}

impl<T> Sender<T> {
    /// Stores `value` and wakes the receiver, if it is waiting.
    pub fn send(self, value: T) {
        let waker = {
            let mut slot = self.shared.lock().unwrap();
            slot.value = Some(value);
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut slot = self.shared.lock().unwrap();
            slot.sender_gone = true;
            slot.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The receiving half of [`oneshot`]: resolves to `Some(value)`, or `None` if the sender was
/// dropped without sending.
pub struct Receiver<T> {
    shared: Arc<Mutex<Slot<T>>>,
}

impl<T> Future for Receiver<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = self.shared.lock().unwrap();
        if let Some(value) = slot.value.take() {
            return Poll::Ready(Some(value));
        }
        if slot.sender_gone {
            return Poll::Ready(None);
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// A directory under the system's temp dir, unique to this process and call, removed on drop.
/// Unix socket files go here.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Makes a fresh directory.
    pub fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "nbio-tests-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Default for TempDir {
    fn default() -> TempDir {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback address nothing listens on: bound a moment ago, then released.
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address")
}

fn set_int_option(socket: &impl AsRawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    set_option(socket, level, name, &value)
}

fn set_option<T>(socket: &impl AsRawFd, level: i32, name: i32, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live `T` of the size we pass, and the fd is open for as long
    // as `socket` is borrowed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets `SO_LINGER` to "on, zero seconds": closing the socket then sends a reset (RST)
/// instead of a normal FIN, which is how a peer that crashes mid-transfer looks.
pub fn set_linger_zero(socket: &impl AsRawFd) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    set_option(socket, libc::SOL_SOCKET, libc::SO_LINGER, &linger)
}

/// Sets `SO_RCVBUF`, which also switches off the kernel's receive-buffer autotuning. On a
/// listener, accepted connections inherit it.
pub fn set_recv_buffer(socket: &impl AsRawFd, bytes: i32) -> io::Result<()> {
    set_int_option(socket, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes)
}

/// Sets `SO_SNDBUF`, which also switches off the kernel's send-buffer autotuning: a writer with
/// a small send buffer cannot park a whole transfer in the kernel and call it written.
pub fn set_send_buffer(socket: &impl AsRawFd, bytes: i32) -> io::Result<()> {
    set_int_option(socket, libc::SOL_SOCKET, libc::SO_SNDBUF, bytes)
}

/// CPU time (user + system) this process has used so far, all threads included.
pub fn process_cpu_time() -> Duration {
    // SAFETY: `usage` is a plain C struct that getrusage fills; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a pointer to a live rusage is getrusage's documented use.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(rc, 0, "getrusage: {}", io::Error::last_os_error());
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// CPU time (user + system) the calling thread has used so far. Tests run in parallel threads
/// of one process, so a bound on what one runtime spent must look at its own thread.
pub fn thread_cpu_time() -> Duration {
    // SAFETY: `now` is a plain C struct that clock_gettime fills; all-zero is a valid value.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: CLOCK_THREAD_CPUTIME_ID with a pointer to a live timespec is the documented use.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime: {}", io::Error::last_os_error());
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Puts `SIGPIPE` back to its default action (end the process), undoing what the Rust
/// runtime does at start-up (it ignores the signal). With the default action, a write that
/// raised `SIGPIPE` would kill the test binary, so a test can prove that nbio never raises it.
pub fn restore_default_sigpipe() {
    // SAFETY: setting a signal's disposition to SIG_DFL installs no handler code.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR, "signal(SIGPIPE, SIG_DFL) failed");
}

/// The numbers `0..n` in an order that looks random but is the same on every run (a small
/// xorshift generator seeded with `seed`, then a Fisher–Yates shuffle).
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// How many threads this process has now, counted in `/proc/self/task`.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("list /proc/self/task")
        .count()
}

/// How many file descriptors this process has open, counted in `/proc/self/fd`. The directory
/// handle used to count is not included.
pub fn open_fds() -> usize {
    let entries = std::fs::read_dir("/proc/self/fd").expect("list /proc/self/fd");
    // One entry is the descriptor of the listing itself.
    entries.count() - 1
}

fn fd_limit() -> libc::rlimit {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we pass a pointer to.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(rc, 0, "getrlimit: {}", io::Error::last_os_error());
    limit
}

fn set_fd_limit(limit: libc::rlimit) -> io::Result<()> {
    // SAFETY: setrlimit reads the struct we pass a pointer to.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Raises this process's soft limit on open descriptors to its hard limit and returns the new
/// soft limit. Affects the whole test process; raising it never hurts another test.
pub fn raise_fd_limit() -> u64 {
    let mut limit = fd_limit();
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        set_fd_limit(limit).expect("raise RLIMIT_NOFILE to its hard limit");
    }
    #[allow(clippy::unnecessary_cast)] // `rlim_t` is u64 here, not on every platform
    let soft = fd_limit().rlim_cur as u64;
    soft
}

/// Lowers this process's soft limit on open descriptors to `soft`. Meant for a child process
/// of its own (see `accept_pressure.rs`): every thread of the process feels it.
pub fn lower_fd_limit(soft: u64) -> io::Result<()> {
    let mut limit = fd_limit();
    limit.rlim_cur = soft as libc::rlim_t;
    set_fd_limit(limit)
}

/// Sets the backlog of a listening socket (std listens with 128). The kernel caps it at
/// `net.core.somaxconn`. Calling `listen` again on a listening socket only changes its backlog.
pub fn set_listen_backlog(listener: &TcpListener, backlog: i32) -> io::Result<()> {
    // SAFETY: listen on a descriptor that `listener` keeps open for the call.
    if unsafe { libc::listen(listener.as_raw_fd(), backlog) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A barrier for tasks: `wait` resolves once `parties` calls to it were made. One use only.
/// The waker of every early arrival is woken by the last one (from any thread).
#[derive(Clone)]
pub struct Barrier {
    shared: Arc<Mutex<BarrierState>>,
}

struct BarrierState {
    missing: usize,
    waiting: Vec<Waker>,
}

impl Barrier {
    /// A barrier that opens at the `parties`-th arrival.
    pub fn new(parties: usize) -> Barrier {
        Barrier {
            shared: Arc::new(Mutex::new(BarrierState {
                missing: parties,
                waiting: Vec::new(),
            })),
        }
    }

    /// Arrives, and waits until every party has.
    pub async fn wait(&self) {
        let woken = {
            let mut state = self.shared.lock().unwrap();
            assert!(
                state.missing > 0,
                "more arrivals than the barrier's parties"
            );
            state.missing -= 1;
            if state.missing == 0 {
                std::mem::take(&mut state.waiting)
            } else {
                Vec::new()
            }
        };
        woken.into_iter().for_each(Waker::wake);
        std::future::poll_fn(|cx| {
            let mut state = self.shared.lock().unwrap();
            if state.missing == 0 {
                return Poll::Ready(());
            }
            state.waiting.push(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// A global allocator that counts, per thread, the allocations made minus those freed, in
/// number and in bytes. A test binary installs it with
/// `#[global_allocator] static ALLOC: CountingAllocator = CountingAllocator;` and reads
/// [`thread_allocations`] before and after: a runtime that runs on one thread and frees what it
/// allocated brings the figures back where they were.
///
/// Per thread, so that tests running in parallel in the same process do not disturb each
/// other; memory allocated on one thread and freed on another moves both threads' figures.
pub struct CountingAllocator;

thread_local! {
    static NET_ALLOCATIONS: std::cell::Cell<(isize, isize)> =
        const { std::cell::Cell::new((0, 0)) };
}

fn count_allocation(blocks: isize, bytes: isize) {
    // `try_with`: a thread being torn down may still free memory after its locals are gone.
    let _ = NET_ALLOCATIONS.try_with(|net| {
        let (b, n) = net.get();
        net.set((b + blocks, n + bytes));
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only a
// const-initialised thread-local `Cell`, which allocates nothing.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { std::alloc::System.alloc(layout) };
        if !ptr.is_null() {
            count_allocation(1, layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        count_allocation(-1, -(layout.size() as isize));
        // SAFETY: forwarded; `ptr` came from `alloc` or `realloc` with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's arguments.
        let new = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            count_allocation(0, new_size as isize - layout.size() as isize);
        }
        new
    }
}

/// Blocks and bytes allocated and not yet freed by this thread (see [`CountingAllocator`]).
/// Always `(0, 0)` in a binary that does not install the counting allocator.
pub fn thread_allocations() -> (isize, isize) {
    NET_ALLOCATIONS.with(|net| net.get())
}

/// Yields until every task in `tasks` is waiting to be woken (idle in [`nbio::dump`]): parked
/// on a socket, a timer or a channel, not merely queued. Call it from the runtime's thread; a
/// task that finished never counts as idle, so waiting for one hangs (under a watchdog, fails).
pub async fn until_idle(tasks: &[nbio::task::TaskId]) {
    loop {
        let dump = nbio::dump();
        let idle = |id: &nbio::task::TaskId| {
            dump.tasks()
                .iter()
                .any(|task| task.id == *id && task.state == nbio::task::TaskState::Idle)
        };
        if tasks.iter().all(idle) {
            return;
        }
        nbio::yield_now().await;
    }
}

/// Yields until every live task of the current runtime has been polled at least once (tasks
/// that already finished are no longer live, and so do not count).
pub async fn until_polled() {
    while nbio::dump().tasks().iter().any(|task| task.polls == 0) {
        nbio::yield_now().await;
    }
}

/// A waker that counts how often it was woken, for polling a future by hand: the tests of
/// `nbio::sync` check with it that a waiting future is woken when (and only when) it should be.
#[derive(Clone, Debug, Default)]
pub struct WakeCounter(Arc<WakeCount>);

#[derive(Debug, Default)]
struct WakeCount(AtomicUsize);

impl std::task::Wake for WakeCount {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

impl WakeCounter {
    /// A counter at zero.
    pub fn new() -> WakeCounter {
        WakeCounter::default()
    }

    /// A waker that adds one to this counter each time it is woken.
    pub fn waker(&self) -> Waker {
        Waker::from(Arc::clone(&self.0))
    }

    /// How many wakes so far.
    pub fn wakes(&self) -> usize {
        self.0 .0.load(SeqCst)
    }

    /// Polls `future` once with this counter's waker.
    pub fn poll<F: Future + ?Sized>(&self, future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(&self.waker()))
    }
}

/// How many threads this process has now: the entries of `/proc/self/task`. Tests run in
/// parallel threads of one process, so a test that counts threads runs in a child process of
/// its own (see [`run_child`]).
pub fn process_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("list /proc/self/task")
        .count()
}

/// Polls `condition` every millisecond until it holds or `limit` (times [`slowdown`]) passed;
/// returns how long it took, or `None` if it never held. For conditions another thread makes
/// true (a pool thread leaving), with a limit that only a broken runtime reaches.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    let started = std::time::Instant::now();
    let limit = limit * slowdown();
    loop {
        if condition() {
            return Some(started.elapsed());
        }
        if started.elapsed() > limit {
            return None;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// The environment variable that tells a test binary started by [`run_child`] which test it
/// plays.
pub const CHILD: &str = "NBIO_TEST_CHILD";

/// Whether this process is the child started by [`run_child`] for `test`.
pub fn in_child(test: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|playing| playing == test)
}

/// What a child test process left: whether it passed, and what it printed.
#[derive(Debug)]
pub struct ChildOutput {
    /// The child passed (exited 0).
    pub success: bool,
    /// Its stdout, which holds the libtest lines and the test's own prints.
    pub stdout: String,
    /// Its stderr, where nbio's warnings and reports go.
    pub stderr: String,
}

/// Runs the test named `test` of this same test binary alone, in a child process, with
/// [`CHILD`] set so that [`in_child`] tells it to play its part: for tests of process-wide
/// effects (threads, signals, stderr) that parallel tests would disturb. Panics with the
/// child's output if the child fails.
pub fn run_child(test: &str, env: &[(&str, &str)]) -> ChildOutput {
    let mut command = std::process::Command::new(std::env::current_exe().expect("own path"));
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .env_remove("NBIO_TRACE")
        .env_remove("NBIO_EXPLAIN");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("start the child test process");
    let child = ChildOutput {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        child.success,
        "the child playing {test} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status, child.stdout, child.stderr
    );
    child
}
