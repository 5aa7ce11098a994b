//! The pieces of the `demo` binary: the article's scene, played on nbio.
//!
//! The article runs one process per server and a client script in which a counter and two
//! senders take turns. The demo plays the same parts, as async fns on nbio:
//!
//! - [`server`]: the article's server, reading in small chunks and counting what arrives; at
//!   the end of each connection it replies with the count, so the client can check it.
//! - [`client`]: the article's client script: a counter and one sender per server, each an
//!   nbio task, all on one thread.
//! - [`counter`]: the article's `other_task`, ticking on nbio's timer, or on
//!   `std::thread::sleep` to show what one blocking call does to every other task.
//! - [`scene`]: both servers and the client in one process, which is what `demo` with no
//!   arguments runs.
//! - [`meter`], [`progress`] and [`report`]: counting waits for readiness per connection, the
//!   live display, and the summary.
//!
//! The guide's chapters in `docs/` are compiled and run as doctests of this crate (see the
//! bottom of this file), so a code sample in the guide that stops compiling fails the tests.

pub mod client;
pub mod counter;
pub mod failure;
pub mod meter;
pub mod progress;
pub mod report;
pub mod scene;
pub mod server;

pub use failure::Failure;

/// The guide: every chapter in `docs/`, included here so that `cargo test` compiles and runs
/// each Rust code block in it.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../../docs/README.md")]
    pub struct Index;

    #[doc = include_str!("../../docs/01-nonblocking-sockets.md")]
    pub struct NonBlockingSockets;

    #[doc = include_str!("../../docs/02-futures-wakers-executor.md")]
    pub struct FuturesWakersExecutor;

    #[doc = include_str!("../../docs/03-reactor.md")]
    pub struct Reactor;

    #[doc = include_str!("../../docs/04-timers.md")]
    pub struct Timers;

    #[doc = include_str!("../../docs/05-write-all.md")]
    pub struct WriteAll;

    #[doc = include_str!("../../docs/06-one-write-all.md")]
    pub struct OneWriteAll;

    #[doc = include_str!("../../docs/07-what-the-article-gets-wrong.md")]
    pub struct WhatTheArticleGetsWrong;

    #[doc = include_str!("../../docs/08-many-threads.md")]
    pub struct ManyThreads;
    #[doc = include_str!("../../docs/09-blocking-files-signals.md")]
    pub struct BlockingFilesSignals;
    #[doc = include_str!("../../docs/10-channels.md")]
    pub struct Channels;
    #[doc = include_str!("../../docs/11-watching-and-diagnosing.md")]
    pub struct WatchingAndDiagnosing;
    #[doc = include_str!("../../docs/12-testing-without-flakes.md")]
    pub struct TestingWithoutFlakes;
    #[doc = include_str!("../../docs/13-ecosystem.md")]
    pub struct Ecosystem;
    #[doc = include_str!("../../docs/14-programs.md")]
    pub struct Programs;
    #[doc = include_str!("../../docs/15-simulation.md")]
    pub struct Simulation;

    #[doc = include_str!("../../docs/performance.md")]
    pub struct Performance;
}
