//! Faults, injected from inside a simulation (a client's script, a host's own code): cutting
//! and mending links, crashing and restarting hosts. Each is recorded, with its virtual time,
//! in the run's fault list and log.

use std::sync::Arc;

use super::host::{self, Hosted, TaskSlot};
use super::world::HostId;

/// The world of the running simulation and the host named `name` in it.
#[track_caller]
fn find(call: &str, names: &[&str]) -> (Hosted, Vec<HostId>) {
    let Some(hosted) = host::current() else {
        panic!(
            "nbio::sim::{call} called outside a simulated host: call it from a host's or a \
             client's code while Sim::run runs"
        );
    };
    let ids = hosted.world.with(|state, _| {
        (names.iter())
            .map(|name| {
                state.host_named(name).unwrap_or_else(|| {
                    panic!("nbio::sim::{call}: no simulated host is called {name:?}")
                })
            })
            .collect()
    });
    (hosted, ids)
}

/// Cuts the link between hosts `a` and `b`: from now on nothing they send each other arrives
/// (TCP segments wait, as retransmissions would, until [`repair`]; datagrams are lost).
///
/// # Panics
/// Outside a simulated host, or if either name is not a host's.
#[track_caller]
pub fn partition(a: &str, b: &str) {
    set_link("partition", a, b, false, true);
}

/// Mends the link between `a` and `b`: what waited on it is on its way again, each segment
/// after a fresh latency, in order.
///
/// # Panics
/// Outside a simulated host, or if either name is not a host's.
#[track_caller]
pub fn repair(a: &str, b: &str) {
    set_link("repair", a, b, false, false);
}

/// Holds what `a` and `b` send each other, in both directions, until [`release`]: nothing is
/// lost (datagrams included, unlike a [`partition`]), everything arrives late. The tool for
/// "this message arrives only after that one".
///
/// # Panics
/// Outside a simulated host, or if either name is not a host's.
#[track_caller]
pub fn hold(a: &str, b: &str) {
    set_link("hold", a, b, true, true);
}

/// Lets what [`hold`] kept between `a` and `b` go, each message after a fresh latency.
///
/// # Panics
/// Outside a simulated host, or if either name is not a host's.
#[track_caller]
pub fn release(a: &str, b: &str) {
    set_link("release", a, b, true, false);
}

/// Cuts or mends (`on`) a partition or a hold (`hold`) between `a` and `b`, records the fault
/// if that changed anything, and sends on what a mend lets go.
#[track_caller]
fn set_link(call: &str, a: &str, b: &str, hold: bool, on: bool) {
    let (hosted, ids) = find(call, &[a, b]);
    hosted.world.with(|state, wakes| {
        if state.set_link(ids[0], ids[1], hold, on) {
            state.fault(format!("{call}({a}, {b})"), ids[0], ids[1]);
            if !on {
                state.reschedule_between(ids[0], ids[1], wakes);
            }
        }
    });
}

/// Crashes `host`: every task of it is dropped (their destructors run, with the host
/// current), its listeners vanish, its connections are reset (each peer's next read or write
/// is `ConnectionReset`), and what it had in flight is lost. It stays down until
/// [`restart`].
///
/// # Panics
/// Outside a simulated host, or if `host` is not a host's name.
#[track_caller]
pub fn crash(host: &str) {
    let (hosted, ids) = find("crash", &[host]);
    let slots = crash_now(&hosted, ids[0], "crash");
    slots.iter().for_each(|slot| slot.wake());
}

/// Crashes `host` if it is up, then starts it again: its factory makes a fresh main future,
/// as at the start of the run.
///
/// # Panics
/// Outside a simulated host, if `host` is not a host's name, or if it is a client (a
/// client has no factory to start it again).
#[track_caller]
pub fn restart(host: &str) {
    let (hosted, ids) = find("restart", &[host]);
    let id = ids[0];
    let slots = crash_now(&hosted, id, "restart");
    slots.iter().for_each(|slot| slot.wake());
    let factory = hosted.world.with(|state, _| {
        let record = &mut state.hosts[id as usize];
        record.alive = true;
        record.factory.clone()
    });
    let Some(factory) = factory else {
        panic!("nbio::sim::restart({host:?}): a client cannot be restarted, only a host");
    };
    super::run::start_host(&hosted.world, id, &factory);
}

/// Takes `host` down (if up) and records the fault; the slots of its tasks, to wake.
fn crash_now(hosted: &Hosted, host: HostId, what: &str) -> Vec<Arc<TaskSlot>> {
    let world = &hosted.world;
    world.with(|state, wakes| {
        let name = state.name(host).to_string();
        state.fault(format!("{what}({name})"), host, host);
        if !state.hosts[host as usize].alive {
            return Vec::new();
        }
        state.crash_tcp(host, wakes);
        state.crash_udp(host);
        world.kill(state, host)
    })
}

/// `buggify!()`: inside a simulation, true at the seeded rate of `SimBuilder::buggify` (each
/// call a fresh draw from the run's generator, so a seed replays the same choices);
/// everywhere else, false, at the cost of one look at a thread-local.
#[doc(hidden)]
pub fn buggify_now() -> bool {
    let Some(hosted) = host::current() else {
        return false;
    };
    hosted.world.with(|state, _| {
        let rate = state.config.buggify;
        state.rng.chance(rate)
    })
}

/// True at a seeded rate inside a simulation (see [`SimBuilder::buggify`](super::SimBuilder::buggify)),
/// false everywhere else: a hook that lets a simulation push production code down its rare
/// paths (a short timeout, a retry, a cache miss) without a test-only build.
///
/// ```
/// async fn flush(buffer: &mut Vec<u8>) {
///     // Under a simulation, sometimes flush early: the path a slow disk takes.
///     if buffer.len() > 4096 || nbio::sim::buggify!() {
///         buffer.clear();
///     }
/// }
/// assert!(!nbio::sim::buggify!()); // outside a simulation: never
/// # nbio::block_on(flush(&mut Vec::new()));
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! __sim_buggify {
    () => {
        $crate::sim::buggify_now()
    };
}
