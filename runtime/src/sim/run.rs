//! `Sim`: building a simulation, running it on one seeded, virtual-time runtime, and what a
//! run reports.

use std::fmt;
use std::future::{poll_fn, Future};
use std::ops::RangeInclusive;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::host::{panic_message, HostGuard, Hosted};
use super::liveness::stuck_or_late;
use super::world::{Config, Event, Factory, HostId, Run, World};
use super::{SimError, SimFailure};
use crate::executor::{OnCycle, Runtime};

/// A simulation being put together: its hosts and clients, and the network's knobs.
///
/// See the [module docs](crate::sim) for a whole example.
pub struct Sim {
    seed: u64,
    config: Config,
    /// Every host and client, in the order added (which gives each its address).
    hosts: Vec<(String, Option<Factory>)>,
    /// The clients' futures, by host index.
    clients: Vec<(HostId, Run)>,
}

/// The knobs of a [`Sim`]: `Sim::builder().seed(7).latency(a..=b).loss(p).build()`.
#[derive(Clone, Debug)]
pub struct SimBuilder {
    seed: Option<u64>,
    config: Config,
}

/// What a host's or a client's future may end with: `()`, or a `Result` whose `Err` fails
/// the run (its `Display` is the message).
pub trait SimOutput {
    /// What failed, or `None`.
    fn failure(self) -> Option<String>;
}

impl SimOutput for () {
    fn failure(self) -> Option<String> {
        None
    }
}

impl<T, E: fmt::Display> SimOutput for Result<T, E> {
    fn failure(self) -> Option<String> {
        self.err().map(|err| err.to_string())
    }
}

impl Sim {
    /// The knobs, at their defaults: seed from `NBIO_SEED` (else 0), latency 1..=5 ms, no loss,
    /// no duplication, 64 KiB send and receive buffers, one hour of virtual time at most,
    /// `buggify!` true in 5% of calls.
    pub fn builder() -> SimBuilder {
        SimBuilder {
            seed: None,
            config: Config {
                latency: (Duration::from_millis(1), Duration::from_millis(5)),
                loss: 0.0,
                duplicate: 0.0,
                send_buffer: 64 * 1024,
                recv_buffer: 64 * 1024,
                time_limit: Duration::from_secs(3600),
                buggify: 0.05,
            },
        }
    }

    /// The seed this simulation runs under.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Adds a host called `name` (its name resolves to its address, 10.0.0.1 for the first
    /// host or client added, 10.0.0.2 for the next, …). `factory` makes its main future, once
    /// when the run starts and again at each `restart`. The host's future ending is not the
    /// run's end; its `Err` fails the run.
    ///
    /// # Panics
    /// If a host or client of that name exists already.
    pub fn host<F, Fut>(&mut self, name: &str, factory: F) -> &mut Sim
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: SimOutput,
    {
        let factory: Factory = Arc::new(move || -> Run {
            let future = factory();
            Box::pin(async move { future.await.failure() })
        });
        self.add(name, Some(factory));
        self
    }

    /// Adds a client called `name`: a host whose one future is part of the test. The run ends
    /// when every client's future has; a client's `Err` (or panic) fails it.
    ///
    /// # Panics
    /// If a host or client of that name exists already.
    pub fn client<Fut>(&mut self, name: &str, future: Fut) -> &mut Sim
    where
        Fut: Future + Send + 'static,
        Fut::Output: SimOutput,
    {
        let id = self.add(name, None);
        self.clients
            .push((id, Box::pin(async move { future.await.failure() })));
        self
    }

    fn add(&mut self, name: &str, factory: Option<Factory>) -> HostId {
        assert!(
            !self.hosts.iter().any(|(known, _)| known == name),
            "nbio::sim: a host called {name:?} was added twice; give each host its own name"
        );
        self.hosts.push((name.to_string(), factory));
        (self.hosts.len() - 1) as HostId
    }

    /// Runs every host and client on one current-thread runtime under the seed, on virtual
    /// time, until every client's future has ended.
    ///
    /// # Errors
    /// A [`SimError`] if a host or client panicked or returned `Err`, if the run got stuck (a
    /// deadlock or a cycle of waits: [`SimFailure::Deadlock`], naming every host's tasks), if
    /// the virtual time limit passed with things still happening, or if the runtime reported
    /// the run stuck. Its message starts with `NBIO_SEED=<n> replays this run`.
    pub fn run(self) -> Result<SimReport, SimError> {
        self.run_journaled(false).0
    }

    /// `run`, with the runtime's journal on if `journal`: the outcome, and the runtime's
    /// decisions (each spawn, poll and wake, in order; empty without the journal).
    pub(crate) fn run_journaled(self, journal: bool) -> (Result<SimReport, SimError>, Vec<String>) {
        let mut builder = Runtime::builder();
        if journal {
            builder = builder.trace(true);
        }
        let runtime = builder
            .seed(self.seed)
            .virtual_time(true)
            .on_cycle(OnCycle::Panic)
            .build();
        let names = self.hosts.iter().map(|(name, _)| name.clone()).collect();
        let world = Arc::new(World::new(
            self.seed,
            self.config.clone(),
            self.hosts,
            self.clients.len(),
            Instant::now(),
        ));
        let runtime = match runtime {
            Ok(runtime) => runtime,
            Err(err) => {
                let failure = SimFailure::Stuck(err.to_string());
                return (Err(world.error(failure)), Vec::new());
            }
        };
        runtime.set_places(world.observed());
        if runtime.keeps_trace() {
            world.with(|state, _| state.flows = Some(Vec::new()));
        }
        runtime.on_wake_off_loop(world.woken_off_loop(std::thread::current().id()));
        let run = AssertUnwindSafe(|| runtime.block_on(main(Arc::clone(&world), self.clients)));
        let outcome = panic::catch_unwind(run);
        let decisions = (runtime.decisions())
            .map(|(decisions, _dropped)| decisions)
            .unwrap_or_default();
        drop(runtime);
        let outcome = match outcome {
            Ok(Ok(())) => Ok(world.report(names)),
            Ok(Err(failure)) => Err(world.error(failure)),
            Err(panic) => Err(world.error(SimFailure::Stuck(panic_message(&*panic)))),
        };
        (outcome, decisions)
    }
}

/// The run's own task: starts the network and the hosts, then waits for the clients, a
/// failure, or the time limit.
async fn main(world: Arc<World>, clients: Vec<(HostId, Run)>) -> Result<(), SimFailure> {
    let start = crate::time::now();
    let limit = world.with(|state, _| {
        state.start = start;
        state.config.time_limit
    });
    // Named, so that a dump tells the network's task from the hosts'.
    let driver = crate::executor::spawn_named(
        drive(Arc::clone(&world)),
        Some(Arc::from("sim network")),
        std::panic::Location::caller(),
    );
    let factories = world.with(|state, _| {
        (state.hosts.iter().enumerate())
            .filter_map(|(id, host)| host.factory.clone().map(|f| (id as HostId, f)))
            .collect::<Vec<_>>()
    });
    for (host, factory) in factories {
        start_host(&world, host, &factory);
    }
    for (host, future) in clients {
        let hosted = Hosted {
            world: Arc::clone(&world),
            host,
        };
        let ended = Arc::clone(&world);
        drop(crate::executor::spawn(hosted.wrap(async move {
            let failure = future.await;
            ended.client_ended(host, failure);
        })));
    }
    let mut deadline = Box::pin(crate::time::sleep_until(start + limit));
    let outcome = poll_fn(|cx| {
        if let Some(outcome) = world.outcome(cx.waker()) {
            return Poll::Ready(outcome);
        }
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(stuck_or_late(&world, limit)));
        }
        Poll::Pending
    })
    .await;
    driver.abort();
    // A stuck run is reported at the time it last moved, not at the deadline.
    let stuck = matches!(outcome, Err(SimFailure::Deadlock { .. }));
    let ended = match world.last_poll() {
        Some(moved) if stuck => moved,
        _ => crate::time::now(),
    };
    world.with(|state, _| state.frozen = Some(ended));
    outcome
}

/// Starts (or restarts) `host`'s main future, as a task of the host's current epoch.
pub(crate) fn start_host(world: &Arc<World>, host: HostId, factory: &Factory) {
    let hosted = Hosted {
        world: Arc::clone(world),
        host,
    };
    let future = factory();
    let failed = Arc::clone(world);
    // Spawned with no host current, so that the task is the new host's alone.
    let _none = HostGuard::enter(None);
    drop(crate::executor::spawn(hosted.wrap(async move {
        if let Some(message) = future.await {
            failed.host_failed(host, message);
        }
    })));
}

/// The network's driver: delivers each segment when it is due, sleeping on an ordinary timer
/// in between.
async fn drive(world: Arc<World>) {
    let mut sleep = Box::pin(crate::time::sleep(Duration::ZERO));
    poll_fn(|cx| loop {
        let next = world.with(|state, wakes| state.deliver_due(cx.waker(), wakes));
        let Some(next) = next else {
            return Poll::<()>::Pending;
        };
        sleep.as_mut().reset(next);
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
    })
    .await;
}

impl SimBuilder {
    /// The seed that draws everything: the order of polls, every latency, loss and
    /// duplicate, `buggify!`. Without it, `NBIO_SEED` from the environment, else 0.
    pub fn seed(mut self, seed: u64) -> SimBuilder {
        self.seed = Some(seed);
        self
    }

    /// Each segment or datagram takes a latency drawn evenly from this range.
    pub fn latency(mut self, range: RangeInclusive<Duration>) -> SimBuilder {
        self.config.latency = (*range.start(), *range.end());
        self
    }

    /// The chance that a datagram is lost (TCP retransmits, so its segments only arrive late).
    pub fn loss(mut self, p: f64) -> SimBuilder {
        self.config.loss = p;
        self
    }

    /// The chance that a datagram arrives twice.
    pub fn duplicate(mut self, p: f64) -> SimBuilder {
        self.config.duplicate = p;
        self
    }

    /// The size of each TCP end's send and receive buffers (64 KiB each by default): a write
    /// takes at most what fits in the sender's and the receiver's together.
    pub fn buffers(mut self, send: usize, recv: usize) -> SimBuilder {
        self.config.send_buffer = send;
        self.config.recv_buffer = recv;
        self
    }

    /// The most virtual time a run may take (one hour by default); a run still going then
    /// fails. A run that is stuck fails as a deadlock instead, when the clock gets there.
    pub fn time_limit(mut self, limit: Duration) -> SimBuilder {
        self.config.time_limit = limit;
        self
    }

    /// How often [`buggify!`](crate::sim::buggify) is true inside this simulation (5% of
    /// calls by default; 0 turns it off).
    pub fn buggify(mut self, p: f64) -> SimBuilder {
        self.config.buggify = p;
        self
    }

    /// The simulation, with no hosts yet.
    ///
    /// # Panics
    /// If `NBIO_SEED` is needed and is not a number.
    pub fn build(self) -> Sim {
        let seed = self
            .seed
            .unwrap_or_else(|| match std::env::var("NBIO_SEED") {
                Ok(text) => text.trim().parse().unwrap_or_else(|_| {
                    panic!("NBIO_SEED={text:?} is not a number: set it to the seed to replay")
                }),
                Err(_) => 0,
            });
        Sim {
            seed,
            config: self.config,
            hosts: Vec::new(),
            clients: Vec::new(),
        }
    }
}

/// What a run that passed did.
#[derive(Clone, Debug)]
pub struct SimReport {
    /// The seed it ran under.
    pub seed: u64,
    /// Virtual time from start to the last client's end.
    pub elapsed: Duration,
    /// Segments delivered.
    pub delivered: u64,
    /// Segments and datagrams dropped (lost, or sent to a host that crashed or closed).
    pub dropped: u64,
    /// Writes that found the window shut (`WouldBlock`).
    pub would_block: u64,
    /// Writes that took only part of what they were given.
    pub short_writes: u64,
    /// The faults injected, in order, each with its time.
    pub faults: Vec<String>,
    pub(crate) names: Vec<String>,
    pub(crate) events: Vec<Event>,
}

impl SimReport {
    /// Every event of the run (connects, sends, deliveries, stalls, resets, faults), one line
    /// each, in order: two runs under one seed give the same log.
    pub fn log(&self) -> Vec<String> {
        (self.events.iter())
            .map(|event| {
                format!(
                    "{:?} {} {}->{} {}",
                    event.at,
                    event.kind,
                    self.names[event.from as usize],
                    self.names[event.to as usize],
                    event.len
                )
            })
            .collect()
    }
}
