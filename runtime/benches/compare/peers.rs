//! The runtimes under comparison, behind one small trait so that every workload is written
//! once and runs unchanged on each of them.
//!
//! Each implementation uses its runtime's own, idiomatic calls: its own `spawn`, its own
//! `yield_now` and timer, its own TCP types and their own `write_all` / `read_exact`. The only
//! glue is a wrapper that turns each join handle into a future of the task's output (an
//! `expect` on the join result), the same thin layer for all of them.
//!
//! Differences that cannot be avoided, and why they are fair:
//! - smol has no ambient "current executor": its `LocalExecutor` lives in a thread-local so
//!   that a task can spawn more tasks, as `nbio::spawn` and `tokio::spawn` allow. The
//!   thread-local look-up costs a few nanoseconds per spawn; nbio and tokio pay a similar one
//!   for their own current-runtime context.
//! - smol's `Task` cancels its task when dropped; the others detach. `spawn_detached` calls
//!   `Task::detach` so that all runtimes keep a dropped-handle task running.
//! - tokio's current_thread runtime runs `!Send` tasks only inside a `LocalSet`, so the Rc
//!   variant of W4 runs there (`block_on_local`); everything else runs on the plain runtime.
//!   tokio's multi_thread runtime does not run `!Send` tasks on its workers at all: no Rc cell.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

/// One runtime, as the workloads see it.
///
/// `build` happens outside every timed region; the associated functions are called from
/// inside tasks of a runtime that `block_on` is driving.
pub trait Peer: Sized + 'static {
    /// Whether the runtime can run `!Send` tasks (the Rc variant of W4).
    const LOCAL_TASKS: bool;

    type Listener: Send + 'static;
    type Stream: Send + 'static;

    /// A fresh runtime with default settings (2 workers for tokio's multi_thread).
    fn build() -> Self;

    /// Drives `future` to completion on this thread.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Like `block_on`, in a context where `spawn_local` works.
    fn block_on_local<F: Future>(&self, future: F) -> F::Output {
        self.block_on(future)
    }

    /// Prints the runtime's own counters to stderr, if it keeps any (only nbio does); called
    /// after the timed body when `NBIO_BENCH_STATS=1`.
    fn print_stats(&self) {}

    /// Spawns a task; the returned future resolves to its output.
    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Spawns a task that keeps running with nobody waiting for it.
    fn spawn_detached<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Spawns a `!Send` task (only called when `LOCAL_TASKS`).
    fn spawn_local<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static;

    /// The runtime's own `yield_now`.
    fn yield_now() -> impl Future<Output = ()> + Send + 'static;

    /// The runtime's own timer.
    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static;

    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr>;
    fn accept(listener: &Self::Listener) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    fn set_nodelay(stream: &Self::Stream) -> io::Result<()>;
    fn read(
        stream: &mut Self::Stream,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send;
    fn read_exact(
        stream: &mut Self::Stream,
        buf: &mut [u8],
    ) -> impl Future<Output = io::Result<()>> + Send;
    fn write_all(
        stream: &mut Self::Stream,
        buf: &[u8],
    ) -> impl Future<Output = io::Result<()>> + Send;
    /// Half-closes: the peer reads end of stream.
    fn shutdown_write(stream: &mut Self::Stream) -> impl Future<Output = io::Result<()>> + Send;
}

// ---------------------------------------------------------------------------------------------
// nbio

/// nbio's single-threaded runtime, default settings unless `NBIO_BENCH_OBSERVE` says
/// `trace` (the journal on, kept in memory) or `quiet` (no slow-poll timing either): the way
/// to measure what watching the runtime costs.
pub struct Nbio(nbio::Runtime);

impl Peer for Nbio {
    const LOCAL_TASKS: bool = true;

    type Listener = nbio::net::AsyncTcpListener;
    type Stream = nbio::net::AsyncTcpStream;

    fn build() -> Self {
        let builder = nbio::Runtime::builder();
        let builder = match std::env::var("NBIO_BENCH_OBSERVE").as_deref() {
            Ok("trace") => builder.trace(true),
            Ok("quiet") => builder.slow_poll_threshold(None),
            _ => builder,
        };
        Nbio(builder.build().expect("build the nbio runtime"))
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }

    fn print_stats(&self) {
        eprintln!("nbio stats: {:?}", self.0.stats());
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = nbio::spawn(future);
        async move { handle.await.expect("an nbio task failed") }
    }

    fn spawn_detached<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(nbio::spawn(future));
    }

    fn spawn_local<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let handle = nbio::spawn_local(future);
        async move { handle.await.expect("an nbio local task failed") }
    }

    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        nbio::yield_now()
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        nbio::time::sleep(duration)
    }

    async fn bind(addr: SocketAddr) -> io::Result<Self::Listener> {
        nbio::net::AsyncTcpListener::bind(addr)
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<Self::Stream> {
        Ok(listener.accept().await?.0)
    }

    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        nbio::net::AsyncTcpStream::connect(addr)
    }

    fn set_nodelay(stream: &Self::Stream) -> io::Result<()> {
        stream.set_nodelay(true)
    }

    async fn read(stream: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize> {
        stream.read(buf).await
    }

    async fn read_exact(stream: &mut Self::Stream, buf: &mut [u8]) -> io::Result<()> {
        stream.read_exact(buf).await
    }

    async fn write_all(stream: &mut Self::Stream, buf: &[u8]) -> io::Result<()> {
        stream.write_all(buf).await
    }

    async fn shutdown_write(stream: &mut Self::Stream) -> io::Result<()> {
        stream.shutdown(Shutdown::Write)
    }
}

// ---------------------------------------------------------------------------------------------
// tokio

/// tokio, `MULTI = false`: the current_thread runtime; `MULTI = true`: multi_thread with 2
/// workers (the machine's core count when the issue was written). `enable_all` in both.
pub struct Tokio<const MULTI: bool>(tokio::runtime::Runtime);

pub type TokioCurrentThread = Tokio<false>;
pub type TokioMultiThread = Tokio<true>;

impl<const MULTI: bool> Peer for Tokio<MULTI> {
    const LOCAL_TASKS: bool = !MULTI;

    type Listener = tokio::net::TcpListener;
    type Stream = tokio::net::TcpStream;

    fn build() -> Self {
        let mut builder = if MULTI {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(2);
            builder
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        Tokio(
            builder
                .enable_all()
                .build()
                .expect("build the tokio runtime"),
        )
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }

    fn block_on_local<F: Future>(&self, future: F) -> F::Output {
        tokio::task::LocalSet::new().block_on(&self.0, future)
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = tokio::spawn(future);
        async move { handle.await.expect("a tokio task failed") }
    }

    fn spawn_detached<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(future));
    }

    fn spawn_local<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let handle = tokio::task::spawn_local(future);
        async move { handle.await.expect("a tokio local task failed") }
    }

    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        tokio::task::yield_now()
    }

    fn sleep(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(duration)
    }

    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send {
        tokio::net::TcpListener::bind(addr)
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<Self::Stream> {
        Ok(listener.accept().await?.0)
    }

    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        tokio::net::TcpStream::connect(addr)
    }

    fn set_nodelay(stream: &Self::Stream) -> io::Result<()> {
        stream.set_nodelay(true)
    }

    async fn read(stream: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize> {
        tokio::io::AsyncReadExt::read(stream, buf).await
    }

    async fn read_exact(stream: &mut Self::Stream, buf: &mut [u8]) -> io::Result<()> {
        tokio::io::AsyncReadExt::read_exact(stream, buf).await?;
        Ok(())
    }

    async fn write_all(stream: &mut Self::Stream, buf: &[u8]) -> io::Result<()> {
        tokio::io::AsyncWriteExt::write_all(stream, buf).await
    }

    async fn shutdown_write(stream: &mut Self::Stream) -> io::Result<()> {
        // tokio's `shutdown` on a TcpStream is `shutdown(Write)`.
        tokio::io::AsyncWriteExt::shutdown(stream).await
    }
}

// ---------------------------------------------------------------------------------------------
// smol: async-executor's LocalExecutor driven by async-io's block_on, with async-io's Async
// sockets and Timer.

thread_local! {
    /// The executor of the `Smol` runtime built on this thread, so that tasks can spawn.
    static SMOL_EXECUTOR: RefCell<Option<Rc<async_executor::LocalExecutor<'static>>>> =
        const { RefCell::new(None) };
}

/// smol's single-threaded setup: `async_io::block_on(executor.run(future))`.
pub struct Smol(Rc<async_executor::LocalExecutor<'static>>);

impl Smol {
    fn spawn_here<F>(future: F) -> async_executor::Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        SMOL_EXECUTOR.with(|slot| {
            slot.borrow()
                .as_ref()
                .expect("smol: spawn called on a thread without a Smol runtime")
                .spawn(future)
        })
    }
}

impl Peer for Smol {
    const LOCAL_TASKS: bool = true;

    type Listener = async_io::Async<TcpListener>;
    type Stream = async_io::Async<TcpStream>;

    fn build() -> Self {
        let executor = Rc::new(async_executor::LocalExecutor::new());
        SMOL_EXECUTOR.with(|slot| *slot.borrow_mut() = Some(Rc::clone(&executor)));
        Smol(executor)
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        async_io::block_on(self.0.run(future))
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Smol::spawn_here(future)
    }

    fn spawn_detached<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Smol::spawn_here(future).detach();
    }

    fn spawn_local<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        Smol::spawn_here(future)
    }

    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        futures_lite::future::yield_now()
    }

    async fn sleep(duration: Duration) {
        async_io::Timer::after(duration).await;
    }

    async fn bind(addr: SocketAddr) -> io::Result<Self::Listener> {
        async_io::Async::<TcpListener>::bind(addr)
    }

    fn local_addr(listener: &Self::Listener) -> io::Result<SocketAddr> {
        listener.get_ref().local_addr()
    }

    async fn accept(listener: &Self::Listener) -> io::Result<Self::Stream> {
        Ok(listener.accept().await?.0)
    }

    fn connect(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Stream>> + Send {
        async_io::Async::<TcpStream>::connect(addr)
    }

    fn set_nodelay(stream: &Self::Stream) -> io::Result<()> {
        stream.get_ref().set_nodelay(true)
    }

    async fn read(stream: &mut Self::Stream, buf: &mut [u8]) -> io::Result<usize> {
        futures_lite::AsyncReadExt::read(stream, buf).await
    }

    async fn read_exact(stream: &mut Self::Stream, buf: &mut [u8]) -> io::Result<()> {
        futures_lite::AsyncReadExt::read_exact(stream, buf).await
    }

    async fn write_all(stream: &mut Self::Stream, buf: &[u8]) -> io::Result<()> {
        futures_lite::AsyncWriteExt::write_all(stream, buf).await
    }

    async fn shutdown_write(stream: &mut Self::Stream) -> io::Result<()> {
        stream.get_ref().shutdown(Shutdown::Write)
    }
}
