//! smol as a peer: async-executor's executors driven by async-io's `block_on`, with async-io's
//! `Async` sockets and `Timer`, in two setups.
//!
//! - One thread (`smol`): a `LocalExecutor`, run by the thread that calls `block_on`:
//!   `async_io::block_on(executor.run(future))`. smol has no ambient "current executor", so
//!   the executor also sits in a thread-local, where `spawn` finds it, as `nbio::spawn` and
//!   `tokio::spawn` find theirs. The look-up costs a few nanoseconds per spawn; nbio and tokio
//!   pay a similar one for their own current-runtime context.
//! - Two threads (`smol_mt`): one `Executor` in a `static` (the way smol's own global executor
//!   is kept), run by two threads started when the runtime is built, each in
//!   `async_io::block_on(EXECUTOR.run(stop))` until the runtime is dropped. The thread that
//!   calls `block_on` does not run tasks: it waits for the body, which is spawned onto the
//!   executor, as tokio's multi_thread `block_on` waits while its workers run the body. Both
//!   threads take turns driving async-io's reactor (whichever blocks first polls it).

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::thread;
use std::time::Duration;

use crate::peers::Peer;

thread_local! {
    /// The executor of the one-thread `Smol` runtime built on this thread, so that tasks can
    /// spawn.
    static LOCAL_EXECUTOR: RefCell<Option<Rc<async_executor::LocalExecutor<'static>>>> =
        const { RefCell::new(None) };
}

/// The executor of the two-thread setup. A child process builds one runtime, so one static
/// executor is enough.
static EXECUTOR: async_executor::Executor<'static> = async_executor::Executor::new();

/// How many threads run `EXECUTOR`.
const THREADS: usize = 2;

/// smol, `MULTI = false`: a `LocalExecutor` on the calling thread; `MULTI = true`: one
/// `Executor` run by two threads (see the module documentation).
pub struct Smol<const MULTI: bool> {
    local: Option<Rc<async_executor::LocalExecutor<'static>>>,
    threads: Vec<(Arc<Stop>, thread::JoinHandle<()>)>,
}

pub type SmolOneThread = Smol<false>;
pub type SmolMultiThread = Smol<true>;

impl<const MULTI: bool> Smol<MULTI> {
    fn spawn_local_here<F>(future: F) -> async_executor::Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        LOCAL_EXECUTOR.with(|slot| {
            slot.borrow()
                .as_ref()
                .expect("smol: spawn called on a thread without a Smol runtime")
                .spawn(future)
        })
    }

    fn spawn_any<F>(future: F) -> async_executor::Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if MULTI {
            EXECUTOR.spawn(future)
        } else {
            Self::spawn_local_here(future)
        }
    }
}

impl<const MULTI: bool> Drop for Smol<MULTI> {
    /// Ends the executor threads' `run` and joins them. Tasks still on the executor (W2's echo
    /// server, W7's idle tasks) stay there until the process exits.
    fn drop(&mut self) {
        for (stop, _) in &self.threads {
            stop.fire();
        }
        for (_, thread) in self.threads.drain(..) {
            thread.join().expect("a smol executor thread panicked");
        }
    }
}

impl<const MULTI: bool> Peer for Smol<MULTI> {
    const LOCAL_TASKS: bool = !MULTI;

    type Listener = async_io::Async<TcpListener>;
    type Stream = async_io::Async<TcpStream>;

    fn build() -> Self {
        if !MULTI {
            let executor = Rc::new(async_executor::LocalExecutor::new());
            LOCAL_EXECUTOR.with(|slot| *slot.borrow_mut() = Some(Rc::clone(&executor)));
            return Smol {
                local: Some(executor),
                threads: Vec::new(),
            };
        }
        let threads = (0..THREADS)
            .map(|i| {
                let stop = Arc::new(Stop::default());
                let waiting = Arc::clone(&stop);
                let thread = thread::Builder::new()
                    .name(format!("smol-executor-{}", i + 1))
                    .spawn(move || async_io::block_on(EXECUTOR.run(waiting.wait())))
                    .expect("start a smol executor thread");
                (stop, thread)
            })
            .collect();
        Smol {
            local: None,
            threads,
        }
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.local {
            Some(executor) => async_io::block_on(executor.run(future)),
            None => async_io::block_on(future),
        }
    }

    fn spawn<F>(future: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Self::spawn_any(future)
    }

    fn spawn_detached<F>(future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        Self::spawn_any(future).detach();
    }

    fn spawn_local<F>(future: F) -> impl Future<Output = F::Output> + 'static
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        assert!(
            !MULTI,
            "smol's Executor runs only Send tasks; W4's Rc variant does not run on smol_mt"
        );
        Self::spawn_local_here(future)
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

/// What ends one executor thread's `run`: a flag, and the waker of the thread waiting on it,
/// under one lock, so that a `fire` between the flag's check and the waker's store cannot be
/// lost.
#[derive(Default)]
struct Stop {
    state: Mutex<(bool, Option<Waker>)>,
}

impl Stop {
    /// Resolves once `fire` was called.
    fn wait(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.0 {
                return Poll::Ready(());
            }
            match &mut state.1 {
                Some(waker) => waker.clone_from(cx.waker()),
                empty => *empty = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
    }

    fn fire(&self) {
        let waker = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.0 = true;
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
