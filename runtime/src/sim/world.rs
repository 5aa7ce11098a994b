//! The state of one running simulation: its hosts, its network, its chance, its log.
//!
//! Everything lives behind one lock (`World::with`), taken for a few field updates at a time
//! and never across user code: the wakers an update collects are woken after it is released.
//! All hosts run on one thread, so the lock is never contended; it is there because sockets
//! and tasks must be `Send`.
//!
//! Time is the runtime's virtual clock (`nbio::time::now()`): a segment sent now with a
//! latency of 3 ms is delivered by the network's driver task (`deliver_due`), which sleeps on
//! an ordinary nbio timer until the earliest delivery is due. With nothing else to run, the
//! clock jumps to it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

use super::host::TaskSlot;
use super::rng::Rng;
use super::tcp::{EndId, Tcp};
use super::udp::Udp;
use super::SimFailure;
use crate::task::TaskId;

/// A host's index in the world, in the order `Sim::host` and `Sim::client` added them.
pub(crate) type HostId = u32;

/// What runs a host again after a restart.
pub(crate) type Factory = Arc<dyn Fn() -> Run + Send + Sync>;

/// A host's or a client's future, ending with what failed (`None`: it ended well).
pub(crate) type Run = Pin<Box<dyn Future<Output = Option<String>> + Send>>;

/// The knobs of `SimBuilder`.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) latency: (Duration, Duration),
    pub(crate) loss: f64,
    pub(crate) duplicate: f64,
    pub(crate) send_buffer: usize,
    pub(crate) recv_buffer: usize,
    pub(crate) time_limit: Duration,
    pub(crate) buggify: f64,
}

/// One simulated machine.
pub(crate) struct Host {
    pub(crate) name: String,
    pub(crate) ip: IpAddr,
    pub(crate) alive: bool,
    pub(crate) factory: Option<Factory>,
    /// Its tasks, for a crash to wake (and so drop); dead entries are swept as it grows.
    tasks: Vec<Weak<TaskSlot>>,
    /// The next ephemeral port it hands out.
    pub(crate) next_port: u16,
}

/// What happened, for the run's log: two runs under one seed have the same log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) at: Duration,
    pub(crate) kind: EventKind,
    pub(crate) from: HostId,
    pub(crate) to: HostId,
    /// Bytes, for data; the index into the fault list, for a fault.
    pub(crate) len: u32,
}

/// The kinds of [`Event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    Connect,
    Accept,
    Refused,
    Send,
    Deliver,
    Fin,
    Reset,
    Stalled,
    Dropped,
    Fault,
}

/// The world of one simulation.
pub(crate) struct World {
    pub(crate) seed: u64,
    /// Each host's epoch, bumped by a crash: read on every poll of a host's task, so kept out
    /// of the lock.
    epochs: Box<[AtomicU64]>,
    /// The virtual time of the latest poll of a host's task, and how many polls it has seen:
    /// while any task is runnable the virtual clock stands still, so a task that never waits
    /// (a retry loop with no sleep) would hold it still for good. Past `SPIN_LIMIT` polls at
    /// one instant, the run fails instead of hanging.
    spin: Mutex<(Option<Instant>, u64)>,
    /// Each host's name, for what names tasks by host (`liveness.rs`) without the lock.
    pub(crate) names: Box<[Arc<str>]>,
    /// The host of each task that has been polled, by the runtime's task id, and whether it
    /// is still the host's (not ended, not dropped by a crash): the dump and the trace say
    /// "task#7 on db2" (`observed.rs`).
    pub(crate) task_hosts: Mutex<HashMap<TaskId, (HostId, bool)>>,
    state: Mutex<State>,
}

/// How many polls of hosts' tasks one instant of virtual time may see before the run is
/// declared a livelock.
const SPIN_LIMIT: u64 = 1_000_000;

/// What the lock guards.
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) rng: Rng,
    pub(crate) hosts: Vec<Host>,
    pub(crate) tcp: Tcp,
    pub(crate) udp: Udp,
    /// Pairs of hosts that cannot reach each other, smaller id first, and since when.
    partitions: HashMap<(HostId, HostId), Instant>,
    /// Pairs of hosts whose messages wait (are held, not lost) until released.
    held: HashMap<(HostId, HostId), Instant>,
    pub(crate) start: Instant,
    /// The clock's reading when the run ended: what is dropped afterwards reads this.
    pub(crate) frozen: Option<Instant>,
    /// Deliveries to make: when, in which order among equals, and which end's queue.
    schedule: BinaryHeap<Reverse<(Instant, u64, Due)>>,
    order: u64,
    pub(crate) log: Vec<Event>,
    pub(crate) faults: Vec<String>,
    /// Every message sent while the trace is on, for its flows (`observed.rs`); `None` while
    /// it is off.
    pub(crate) flows: Option<Vec<super::observed::Flow>>,
    pub(crate) delivered: u64,
    pub(crate) dropped: u64,
    pub(crate) would_block: u64,
    pub(crate) short_writes: u64,
    pub(crate) failure: Option<SimFailure>,
    pub(crate) clients_left: usize,
    /// The task of `Sim::run` that waits for the clients (woken by a failure or the last end).
    pub(crate) main_waker: Option<Waker>,
    /// The network's driver task, and the deadline it sleeps until.
    driver_waker: Option<Waker>,
    driver_deadline: Option<Instant>,
}

impl World {
    /// A world of `hosts` (name, factory), on a clock that reads `start` now.
    pub(crate) fn new(
        seed: u64,
        config: Config,
        hosts: Vec<(String, Option<Factory>)>,
        clients: usize,
        start: Instant,
    ) -> World {
        let hosts: Vec<Host> = hosts
            .into_iter()
            .enumerate()
            .map(|(index, (name, factory))| Host {
                name,
                ip: address_of(index),
                alive: true,
                factory,
                tasks: Vec::new(),
                next_port: 49152,
            })
            .collect();
        World {
            seed,
            epochs: hosts.iter().map(|_| AtomicU64::new(0)).collect(),
            spin: Mutex::new((None, 0)),
            names: hosts
                .iter()
                .map(|host| Arc::from(host.name.as_str()))
                .collect(),
            task_hosts: Mutex::default(),
            state: Mutex::new(State {
                rng: Rng::new(seed),
                config,
                hosts,
                tcp: Tcp::default(),
                udp: Udp::default(),
                partitions: HashMap::new(),
                held: HashMap::new(),
                start,
                frozen: None,
                schedule: BinaryHeap::new(),
                order: 0,
                log: Vec::new(),
                faults: Vec::new(),
                flows: None,
                delivered: 0,
                dropped: 0,
                would_block: 0,
                short_writes: 0,
                failure: None,
                clients_left: clients,
                main_waker: None,
                driver_waker: None,
                driver_deadline: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `update` under the lock, then wakes the wakers it collected, with the lock
    /// released.
    pub(crate) fn with<R>(&self, update: impl FnOnce(&mut State, &mut Vec<Waker>) -> R) -> R {
        let mut wakes = Vec::new();
        let result = update(&mut self.lock(), &mut wakes);
        wakes.into_iter().for_each(Waker::wake);
        result
    }

    /// The epoch of `host` (how many times it crashed).
    pub(crate) fn epoch(&self, host: HostId) -> u64 {
        self.epochs[host as usize].load(Relaxed)
    }

    /// Files a new task of `host` for a crash to find; returns the host's epoch.
    pub(crate) fn adopt(&self, host: HostId, slot: &Arc<TaskSlot>) -> u64 {
        let mut state = self.lock();
        let tasks = &mut state.hosts[host as usize].tasks;
        if tasks.len() >= 64 && tasks.len().is_power_of_two() {
            tasks.retain(|task| task.strong_count() > 0);
        }
        tasks.push(Arc::downgrade(slot));
        self.epoch(host)
    }

    /// Ends the host's life: every task of it is woken to drop its future. Returns the slots,
    /// to wake with no lock held.
    pub(crate) fn kill(&self, state: &mut State, host: HostId) -> Vec<Arc<TaskSlot>> {
        self.epochs[host as usize].fetch_add(1, Relaxed);
        let record = &mut state.hosts[host as usize];
        record.alive = false;
        std::mem::take(&mut record.tasks)
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Counts a poll of a task of `host`; fails the run once the clock has stood still for
    /// `SPIN_LIMIT` of them.
    pub(crate) fn count_poll(&self, host: HostId) {
        let now = crate::time::now();
        let polls = {
            let mut spin = self.spin.lock().unwrap_or_else(PoisonError::into_inner);
            if spin.0 != Some(now) {
                *spin = (Some(now), 0);
            }
            spin.1 += 1;
            spin.1
        };
        if polls == SPIN_LIMIT {
            self.with(|state, wakes| {
                let host = state.name(host).to_string();
                state.fail(SimFailure::Livelock { host, polls }, wakes);
            });
        }
    }

    /// The virtual time of the latest poll of a host's task: when a stuck run last moved.
    pub(crate) fn last_poll(&self) -> Option<Instant> {
        self.spin.lock().unwrap_or_else(PoisonError::into_inner).0
    }

    /// A task of `host` panicked: the run fails (the first failure is the one reported).
    pub(crate) fn host_panicked(&self, host: HostId, message: String) {
        self.with(|state, wakes| {
            let name = state.hosts[host as usize].name.clone();
            state.fail(
                SimFailure::Panic {
                    host: name,
                    message,
                },
                wakes,
            );
        });
    }
}

/// The address of the host at `index`: 10.0.x.y, from 10.0.0.1 on.
fn address_of(index: usize) -> IpAddr {
    let n = index as u32 + 1;
    IpAddr::V4(Ipv4Addr::new(10, 0, (n >> 8) as u8, n as u8))
}

impl State {
    /// Time since the run started, on the virtual clock.
    pub(crate) fn elapsed(&self) -> Duration {
        self.now().saturating_duration_since(self.start)
    }

    /// The virtual clock's reading (held still once the run is over).
    pub(crate) fn now(&self) -> Instant {
        self.frozen.unwrap_or_else(crate::time::now)
    }

    /// Writes an event into the log.
    pub(crate) fn note(&mut self, kind: EventKind, from: HostId, to: HostId, len: usize) {
        let at = self.elapsed();
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        self.log.push(Event {
            at,
            kind,
            from,
            to,
            len,
        });
    }

    /// Records a fault (a partition, a crash) in the fault list and the log.
    pub(crate) fn fault(&mut self, what: String, from: HostId, to: HostId) {
        let at = self.elapsed();
        self.faults.push(format!("{} at {at:?}", what));
        let index = self.faults.len() - 1;
        self.note(EventKind::Fault, from, to, index);
    }

    /// The run fails with `failure`, unless it failed already.
    pub(crate) fn fail(&mut self, failure: SimFailure, wakes: &mut Vec<Waker>) {
        if self.failure.is_none() {
            self.failure = Some(failure);
            wakes.extend(self.main_waker.take());
        }
    }

    /// A segment or datagram is on its way: the network will do something yet.
    pub(crate) fn in_flight(&self) -> bool {
        !self.schedule.is_empty()
    }

    /// A latency drawn from the configured range.
    pub(crate) fn latency(&mut self) -> Duration {
        let (low, high) = self.config.latency;
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.between(nanos(low), nanos(high)))
    }

    /// The host whose address is `ip`.
    pub(crate) fn host_at(&self, ip: IpAddr) -> Option<HostId> {
        self.hosts
            .iter()
            .position(|host| host.ip == ip)
            .map(|index| index as HostId)
    }

    /// The host called `name`.
    pub(crate) fn host_named(&self, name: &str) -> Option<HostId> {
        self.hosts
            .iter()
            .position(|host| host.name == name)
            .map(|index| index as HostId)
    }

    pub(crate) fn name(&self, host: HostId) -> &str {
        &self.hosts[host as usize].name
    }

    /// Whether `a` and `b` cannot reach each other.
    pub(crate) fn partitioned(&self, a: HostId, b: HostId) -> bool {
        !self.partitions.is_empty() && self.partitions.contains_key(&pair(a, b))
    }

    /// Whether messages between `a` and `b` are held.
    pub(crate) fn held(&self, a: HostId, b: HostId) -> bool {
        !self.held.is_empty() && self.held.contains_key(&pair(a, b))
    }

    /// What keeps `a` and `b` apart, if anything: "partitioned" or "held", and since when (from
    /// the start).
    pub(crate) fn cut_since(&self, a: HostId, b: HostId) -> Option<(&'static str, Duration)> {
        let since = |at: &Instant| at.saturating_duration_since(self.start);
        (self
            .partitions
            .get(&pair(a, b))
            .map(|at| ("partitioned", since(at))))
        .or_else(|| self.held.get(&pair(a, b)).map(|at| ("held", since(at))))
    }

    /// Whether a TCP segment from `a` to `b` must wait (a partition or a hold: TCP
    /// retransmits, so neither loses it).
    pub(crate) fn blocked(&self, a: HostId, b: HostId) -> bool {
        self.partitioned(a, b) || self.held(a, b)
    }

    /// Cuts (`on`) or mends the link between `a` and `b` (`hold`: holds or releases it).
    /// True if that changed anything.
    pub(crate) fn set_link(&mut self, a: HostId, b: HostId, hold: bool, on: bool) -> bool {
        let now = self.now();
        let set = if hold {
            &mut self.held
        } else {
            &mut self.partitions
        };
        if on {
            set.insert(pair(a, b), now).is_none()
        } else {
            set.remove(&pair(a, b)).is_some()
        }
    }

    /// Asks the driver to look at `end`'s queue at `at`, waking it if that is sooner than it
    /// planned.
    pub(crate) fn schedule(&mut self, at: Instant, due: Due, wakes: &mut Vec<Waker>) {
        self.order += 1;
        self.schedule.push(Reverse((at, self.order, due)));
        if !matches!(self.driver_deadline, Some(deadline) if at >= deadline) {
            wakes.extend(self.driver_waker.take());
        }
    }

    /// The driver's turn: delivers what is due now, and says when to come back (`None`: when
    /// woken).
    pub(crate) fn deliver_due(
        &mut self,
        driver: &Waker,
        wakes: &mut Vec<Waker>,
    ) -> Option<Instant> {
        let now = self.now();
        while let Some(Reverse((at, _, due))) = self.schedule.peek().copied() {
            if at > now {
                break;
            }
            self.schedule.pop();
            match due {
                Due::Tcp(end) => self.deliver_from(end, now, wakes),
                Due::Udp(datagram) => self.deliver_datagram(datagram, wakes),
            }
        }
        let next = self.schedule.peek().map(|Reverse((at, _, _))| *at);
        self.driver_deadline = next;
        if !self
            .driver_waker
            .as_ref()
            .is_some_and(|filed| filed.will_wake(driver))
        {
            self.driver_waker = Some(driver.clone());
        }
        next
    }

    /// Puts a repaired or released link's stalled queues and held datagrams back on the
    /// schedule, each after a fresh latency.
    pub(crate) fn reschedule_between(&mut self, a: HostId, b: HostId, wakes: &mut Vec<Waker>) {
        let now = self.now();
        let stalled = match self.blocked(a, b) {
            true => Vec::new(),
            false => self.tcp.stalled_between(a, b),
        };
        for end in stalled {
            let latency = self.latency();
            let at = self.tcp.delay_queue(end, now + latency);
            if let Some(at) = at {
                self.schedule(at, Due::Tcp(end), wakes);
            }
        }
        if !self.held(a, b) {
            for datagram in self.udp.held_between(a, b) {
                let at = now + self.latency();
                self.schedule(at, Due::Udp(datagram), wakes);
            }
        }
    }
}

/// What the driver must look at when its time comes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Due {
    /// The queue of a TCP end.
    Tcp(EndId),
    /// A datagram in flight.
    Udp(usize),
}

fn pair(a: HostId, b: HostId) -> (HostId, HostId) {
    (a.min(b), a.max(b))
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl World {
    /// The run's end, if it has come: a failure, or every client done. Else files `waker`.
    pub(crate) fn outcome(&self, waker: &Waker) -> Option<Result<(), SimFailure>> {
        self.with(|state, _| {
            if let Some(failure) = &state.failure {
                return Some(Err(failure.clone()));
            }
            if state.clients_left == 0 {
                return Some(Ok(()));
            }
            state.main_waker = Some(waker.clone());
            None
        })
    }

    /// A client's future ended, with `failure` if it failed.
    pub(crate) fn client_ended(&self, host: HostId, failure: Option<String>) {
        self.with(|state, wakes| {
            if let Some(message) = failure {
                let host = state.name(host).to_string();
                state.fail(SimFailure::Failed { host, message }, wakes);
            }
            state.clients_left -= 1;
            if state.clients_left == 0 {
                wakes.extend(state.main_waker.take());
            }
        });
    }

    /// A host's main future returned an error.
    pub(crate) fn host_failed(&self, host: HostId, message: String) {
        self.with(|state, wakes| {
            let host = state.name(host).to_string();
            state.fail(SimFailure::Failed { host, message }, wakes);
        });
    }

    /// The error of a failed run.
    pub(crate) fn error(&self, failure: SimFailure) -> super::SimError {
        self.with(|state, _| super::SimError {
            seed: self.seed,
            at: state.elapsed(),
            failure,
            faults: state.faults.clone(),
        })
    }

    /// The report of a run that passed.
    pub(crate) fn report(&self, names: Vec<String>) -> super::SimReport {
        self.with(|state, _| super::SimReport {
            seed: self.seed,
            elapsed: state.elapsed(),
            delivered: state.delivered,
            dropped: state.dropped,
            would_block: state.would_block,
            short_writes: state.short_writes,
            faults: state.faults.clone(),
            names,
            events: std::mem::take(&mut state.log),
        })
    }
}
