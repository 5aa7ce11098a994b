//! Simulation: many hosts in one process, under one seed, on a network that fails on purpose.
//!
//! A [`Sim`] runs every host and client on ONE current-thread runtime, built with
//! `Builder::seed` and `Builder::virtual_time`: the seed fixes the order of polls, the clock
//! moves only when nothing can run, and one seeded generator draws every latency and loss. So
//! a run is a function of its seed, and a failing seed replays exactly.
//!
//! Inside a host the ordinary `nbio::net` reaches the simulated network: the code under test
//! is the production code, unchanged. `AsyncTcpListener::bind` listens on the host's address,
//! `AsyncTcpStream::connect("db1:7000")` resolves a host's name, `nbio::time` sleeps on the
//! virtual clock, and `nbio::spawn` from a host's task makes a task of the same host.
//!
//! Simulated TCP behaves as Linux's does where a program can tell: bounded buffers (so
//! `WouldBlock` and short writes happen, and `write_all`'s loop is exercised), data in order,
//! end of stream (a read returns 0) after a FIN, `ConnectionReset` after an RST,
//! `ConnectionRefused` where nothing listens, and half-close (`shutdown(Write)`). Simulated UDP
//! loses datagrams (`SimBuilder::loss`), duplicates them (`SimBuilder::duplicate`) and
//! reorders them (each draws its own latency).
//!
//! Faults are called from inside, by a client's script or a "nemesis" host: [`partition`] and
//! [`repair`] a link (TCP waits, UDP is lost), [`hold`] and [`release`] it (everything waits),
//! [`crash`] a host (its tasks are dropped, its connections reset) and [`restart`] it (its
//! factory runs again). [`buggify!`] is true at a seeded rate inside a simulation and false
//! everywhere else: production code can take its rare paths on purpose.
//!
//! Nothing real leaks in ([`SimFailure::Leak`]). A real socket (`from_std`, `TcpSocket`, Unix
//! sockets) fails with `Unsupported`, names its call site and fails the run. So does
//! `nbio::spawn_blocking` inside a host (its job runs on a real thread, for a real time). A
//! wake from a thread outside the simulation (a `std::thread` the host started, a blocking
//! job, another runtime's timer or task) fails the run naming the task woken, its host and the
//! thread: a waker has no call site. A host task still waiting on a task of another runtime or
//! on a child process when nothing else can happen fails the run the same way. What cannot be
//! caught: `std::thread::sleep` and other blocking calls (they stall the one thread all hosts
//! run on; the virtual clock does not move meanwhile, so they cost real time and change
//! nothing simulated), reads of the real clock (`Instant::now`, `SystemTime::now`), randomness
//! not drawn from the seed, and a future of another runtime whose wake has not come yet (a
//! tokio timer polled inside a host shows as a deadlock whose task "waits on something that
//! does not say what"). A task that never waits (a retry loop with no sleep) holds the virtual
//! clock still; after a million polls at one instant the run fails as a livelock.
//!
//! ```
//! use nbio::net::{AsyncTcpListener, AsyncTcpStream};
//! use nbio::sim::Sim;
//! use std::time::Duration;
//!
//! // The production server, unchanged: it knows nothing of the simulation.
//! async fn echo() -> std::io::Result<()> {
//!     let listener = AsyncTcpListener::bind("0.0.0.0:7000")?;
//!     loop {
//!         let (conn, _) = listener.accept().await?;
//!         nbio::spawn(async move {
//!             let mut buf = [0u8; 1024];
//!             loop {
//!                 let n = conn.read(&mut buf).await?;
//!                 if n == 0 {
//!                     return std::io::Result::Ok(());
//!                 }
//!                 conn.write_all(&buf[..n]).await?;
//!             }
//!         });
//!     }
//! }
//!
//! let mut sim = Sim::builder()
//!     .seed(7)
//!     .latency(Duration::from_millis(1)..=Duration::from_millis(10))
//!     .build();
//! sim.host("echo", echo);
//! sim.client("c1", async {
//!     let conn = AsyncTcpStream::connect("echo:7000").await?;
//!     conn.write_all(b"ping").await?;
//!     let mut buf = [0u8; 4];
//!     conn.read_exact(&mut buf).await?;
//!     assert_eq!(&buf, b"ping");
//!     std::io::Result::Ok(())
//! });
//! let report = sim.run().unwrap_or_else(|err| panic!("{err}"));
//! assert!(report.elapsed >= Duration::from_millis(4)); // SYN, SYN-ACK, ping, echo
//! ```
//!
//! A run that can no longer move fails at once as a deadlock ([`SimFailure::Deadlock`]): no
//! task can run, no timer is pending, no message is in flight, yet a client is not done (every
//! host reading, say, with nothing sent). So does a cycle of tasks waiting on each other (two
//! `nbio::sync::Mutex`es locked in opposite orders), even while other hosts' timers go on. The
//! report names each task with its host and what it waits on, in the network too ("task#7 on
//! db2 ...; waits on recv from db3:7000, partitioned since 4.21 s"); so does `nbio::dump()`
//! inside a host. [`check_determinism`] runs with `OnCycle::Panic`: a cycle
//! fails it instead of hanging.
//!
//! With the journal on (`NBIO_TRACE=trace.json`), the Perfetto trace written as the run ends
//! has a track per host ("host db2") carrying the polls of the host's tasks, and draws each
//! message (a TCP write, a datagram) as an arrow from the poll that sent it to the poll that
//! read it (for TCP, the read that took its last byte).
//!
//! A failure (a panic, an `Err`, a deadlock, the virtual time limit passed, a livelock) is a [`SimError`]
//! whose message starts with `NBIO_SEED=<n> replays this run` and lists the faults injected
//! so far. A run that passes gives a [`SimReport`]: virtual time, messages delivered and
//! dropped, `WouldBlock`s and short writes, the faults, and a log of every network event that
//! two runs under one seed share line for line. `runtime/examples/sim_kv.rs` is a whole
//! example: a replicated store whose bug only a partition during a write shows, found by
//! seed.
//!
//! [`Sim::check_determinism`] runs a simulation twice under its seed and says where the two
//! runs first differ (the runtime's decisions, then the network's events); [`check_determinism`]
//! is the same for one body on one runtime.

mod determinism;
mod error;
mod faults;
pub(crate) mod host;
mod leaks;
mod liveness;
mod observed;
mod rng;
mod run;
pub(crate) mod stream;
mod tcp;
pub(crate) mod udp;
mod waits;
mod world;

#[doc(inline)]
pub use super::__sim_buggify as buggify;
pub use determinism::{check_determinism, Divergence};
pub use error::{SimError, SimFailure};
pub use faults::{buggify_now, crash, hold, partition, release, repair, restart};
pub use run::{Sim, SimBuilder, SimOutput, SimReport};

pub(crate) use host::{current, refuse_real, Hosted};
pub(crate) use leaks::refuse_blocking;
pub(crate) use stream::{SimListener, SimStream};
pub(crate) use udp::SimUdp;
