//! # nbio: the article's event loop, grown up
//!
//! nbio is a small async/await runtime written from scratch on `std::future`: an executor with
//! a waker-driven run queue, and a reactor on the [`polling`](https://docs.rs/polling) crate
//! that registers sockets and wakes futures when they are ready. It grew out of a classic
//! article on non-blocking I/O, which makes a socket non-blocking, retries `send` on `EAGAIN`
//! after `select()` says the socket is writable, and lets Python generators take turns in a
//! loop. nbio is that loop: the same idea, made correct, fast and observable.
//!
//! ## The article's scene in ten lines
//!
//! Two clients send data while a counter keeps counting. No thread blocks: when a socket's
//! buffer is full, `write_all` waits for writability and the counter runs meanwhile.
//!
//! ```
//! use nbio::net::{AsyncTcpListener, AsyncTcpStream};
//! use std::time::Duration;
//!
//! nbio::block_on(async {
//!     let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     // A server that reads everything and reports how much it got.
//!     let server = nbio::spawn(async move {
//!         let (conn, _) = listener.accept().await?;
//!         let (mut total, mut buf) = (0, vec![0u8; 1024]);
//!         loop {
//!             match conn.read(&mut buf).await? {
//!                 0 => return std::io::Result::Ok(total),
//!                 n => total += n,
//!             }
//!         }
//!     });
//!     let counter = nbio::spawn(async {
//!         let mut i = 0;
//!         while i < 5 {
//!             i += 1;
//!             nbio::time::sleep(Duration::from_millis(1)).await; // not time.sleep: no stall
//!         }
//!         i
//!     });
//!     let sock = AsyncTcpStream::connect(addr).await?;
//!     sock.write_all(&b"foobar\n".repeat(100_000)).await?;
//!     sock.shutdown(std::net::Shutdown::Write)?;
//!     assert_eq!(server.await.unwrap()?, 700_000);
//!     assert_eq!(counter.await.unwrap(), 5);
//!     std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```
//!
//! ## Where each part of the article lives
//!
//! | the article | nbio |
//! |---|---|
//! | a generator in `tasks` | a task: [`spawn`], [`task`] |
//! | the `while` loop over `tasks` | [`Runtime::block_on`] and its run queue |
//! | a bare `yield` | [`yield_now`] |
//! | `yield ('w', sock)` and `fds['w']` | a [`Waker`](std::task::Waker) filed with the reactor |
//! | `select.select(r, w, [], 0)` | the reactor, on epoll through `polling` |
//! | `time.sleep(0.02)` | [`time::sleep`], which does not stop the thread |
//! | the `send` loop with `EAGAIN` | [`net::AsyncTcpStream::write_all`] |
//! | generators handing data over a shared list | channels and locks: [`sync`] |
//!
//! ## What is guaranteed
//!
//! A wake is never lost, whether it arrives while the task is being polled or from another
//! thread while the runtime sleeps in the kernel. A task is queued at most once and never
//! polled after it finished. A panic in a task is caught and reported through its
//! [`JoinHandle`]. Dropping a runtime drops every task's future. Timers never fire early.
//! Writing to a closed peer is an error, never `SIGPIPE`. An idle runtime uses no CPU.

#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]
#![cfg(unix)]

// The layers, which docs/README.md draws: bottom up, loom (the primitives), task, reactor,
// observe, blocking, context, executor; then what runs on them: net, io, fs, time, signal,
// process, sync, sim, the attributes and the macros (`select!`, `join!`; `task_local!` is in task).
// What the attributes expand to call; hidden, and named so that nobody calls it by hand.
#[doc(hidden)]
#[path = "attributes.rs"]
pub mod __private;
pub mod blocking;
mod context;
mod diagnose;
mod executor;
pub mod fs;
#[cfg(feature = "hyper")]
pub mod hyper;
pub mod io;
mod loom;
mod macros;
pub mod net;
mod observe;
pub mod process;
mod reactor;
pub mod signal;
pub mod sim;
pub mod sync;
pub mod task;
pub mod time;

pub use executor::{
    block_on, dump, spawn, spawn_blocking, spawn_local, stats, yield_now, Builder, EnterGuard,
    Handle, OnCycle, Runtime, TryCurrentError, YieldNow,
};
pub use observe::{Stats, WorkerStats};

/// Runs an `async fn main` on an nbio runtime.
///
/// ```
/// #[nbio::main]
/// async fn main() {
///     nbio::spawn(async { println!("on nbio") }).await.unwrap();
/// }
/// # // The doctest calls it: an attribute on `main` makes an ordinary `fn main`.
/// ```
///
/// Its arguments: `worker_threads = N` (the multi-thread runtime), `seed = N` (the order in
/// which ready tasks are polled, `Builder::seed`), `virtual_time` (`Builder::virtual_time`),
/// as in `#[nbio::main(worker_threads = 2)]`. A wrong one is a compile error:
///
/// ```compile_fail
/// #[nbio::main(threads = 2)] // unknown argument `threads`: expected `worker_threads = N`, ...
/// async fn main() {}
/// ```
///
/// ```compile_fail
/// #[nbio::main] // needs an `async fn`
/// fn main() {}
/// ```
pub use nbio_macros::main;

/// Runs an `async fn` test on an nbio runtime, under a seed that it prints if the test fails.
///
/// Each test runs under its own seed: the one given (`#[nbio::test(seed = 7)]`), else
/// `NBIO_SEED` from the environment, else a fresh one. A failure (a panic, or an `Err` returned)
/// prints `NBIO_SEED=<n> replays this run`; run the test again with that variable set to replay
/// the same order of polls. The other arguments are those of [`main`]: `worker_threads = N`,
/// `virtual_time`. The function returns `()` or a `Result`.
///
/// Tasks that wait on each other in a cycle (one holds a mutex and awaits the other, which
/// waits for that mutex) fail the test with the report of the cycle, where `#[nbio::main]` and
/// a runtime built by hand print it once and go on waiting ([`OnCycle`]).
///
/// ```
/// #[nbio::test(virtual_time)]
/// async fn an_hour_passes_in_no_time() {
///     nbio::time::sleep(std::time::Duration::from_secs(3600)).await;
/// }
/// # fn main() {}
/// ```
pub use nbio_macros::test;
pub use task::{JoinError, JoinHandle};
