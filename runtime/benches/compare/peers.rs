//! The runtimes under comparison, behind one small trait so that every workload is written
//! once and runs unchanged on each of them. nbio and tokio are here, smol in `smol.rs`.
//!
//! Each implementation uses its runtime's own, idiomatic calls: its own `spawn`, its own
//! `yield_now` and timer, its own TCP types and their own `write_all` / `read_exact`. The only
//! glue is a wrapper that turns each join handle into a future of the task's output (an
//! `expect` on the join result), the same thin layer for all of them.
//!
//! Differences that cannot be avoided, and why they are fair:
//! - smol has no ambient "current executor": see `smol.rs` for how its tasks find theirs.
//! - smol's `Task` cancels its task when dropped; the others detach. `spawn_detached` calls
//!   `Task::detach` so that all runtimes keep a dropped-handle task running.
//! - tokio's current_thread runtime runs `!Send` tasks only inside a `LocalSet`, so the Rc
//!   variant of W4 runs there (`run_local`); everything else runs on the plain runtime.
//!   tokio's multi_thread runtime does not run `!Send` tasks on its workers at all (nor does
//!   smol's `Executor`): no Rc cell for either.
//! - nbio's two-worker runtime runs `!Send` tasks on any of its threads (`spawn_local` pins
//!   the task to the thread that spawned it): its Rc variant runs, like every other body, on a
//!   worker, the players pinned to that worker.

use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
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

    /// A fresh runtime with default settings (2 worker threads for the two-worker columns).
    fn build() -> Self;

    /// Drives `future` to completion on this thread.
    fn block_on<F: Future>(&self, future: F) -> F::Output;

    /// Runs the `!Send` future that `make` builds as a local task (`spawn_local`), where this
    /// runtime runs local tasks, and returns its output (only called when `LOCAL_TASKS`).
    fn run_local<M, F>(&self, make: M) -> F::Output
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        self.block_on(async move { Self::spawn_local(make()).await })
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

/// nbio, `MULTI = false`: the current-thread runtime; `MULTI = true`: `worker_threads(2)`.
/// Default settings otherwise, unless `NBIO_BENCH_OBSERVE` says `trace` (the journal on, kept
/// in memory) or `quiet` (no slow-poll timing either): the way to measure what watching the
/// runtime costs.
pub struct Nbio<const MULTI: bool>(nbio::Runtime);

pub type NbioCurrentThread = Nbio<false>;
pub type NbioMultiThread = Nbio<true>;

impl<const MULTI: bool> Peer for Nbio<MULTI> {
    const LOCAL_TASKS: bool = true;

    type Listener = nbio::net::AsyncTcpListener;
    type Stream = nbio::net::AsyncTcpStream;

    fn build() -> Self {
        let builder = nbio::Runtime::builder();
        let builder = if MULTI {
            builder.worker_threads(2)
        } else {
            builder
        };
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

    /// On two workers: a `Send` task on a worker spawns the local task, so that it is pinned
    /// to that worker, where every other body runs too. On one thread: the default.
    fn run_local<M, F>(&self, make: M) -> F::Output
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        if !MULTI {
            return self.block_on(async move { Self::spawn_local(make()).await });
        }
        self.0.block_on(async move {
            let on_worker = nbio::spawn(async move {
                let local = nbio::spawn_local(make());
                local.await.expect("an nbio local task failed")
            });
            on_worker.await.expect("an nbio task failed")
        })
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

    fn run_local<M, F>(&self, make: M) -> F::Output
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        tokio::task::LocalSet::new()
            .block_on(&self.0, async move { Self::spawn_local(make()).await })
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
