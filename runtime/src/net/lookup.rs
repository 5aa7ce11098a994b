//! Host names to socket addresses, without stalling the loop.
//!
//! std's `ToSocketAddrs` resolves a name with `getaddrinfo`, which blocks the calling thread
//! for as long as the resolver takes (a timeout on a bad network is seconds). On the runtime's
//! thread that stalls every task, so nbio resolves on the blocking pool, and:
//!
//! - an address that needs no lookup (a `SocketAddr`, `"127.0.0.1:80"`, `("::1", 80)`) is
//!   parsed on the spot, with no job and no thread;
//! - identical lookups in flight at the same time (a burst of connects to `"db:5432"`) share one
//!   job: the first starts it, the others wait for its answer.
//!
//! [`ToSocketAddrs`] is nbio's own trait, sealed, implemented for what std's is implemented for;
//! it only says whether an address is already resolved or names a host to look up.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::panic::Location;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Poll, Waker};

use crate::context;

/// What an address argument is: already socket addresses, or a host and port to look up.
#[derive(Debug)]
pub enum Target {
    /// Nothing to look up.
    Resolved(Vec<SocketAddr>),
    /// A host name for the resolver.
    Lookup {
        /// The name, as given.
        host: String,
        /// The port to put in each address.
        port: u16,
    },
}

mod sealed {
    /// Only nbio implements `ToSocketAddrs`.
    pub trait Sealed {
        /// What the address argument is (parsing only; never a lookup).
        fn target(&self) -> std::io::Result<super::Target>;
    }
}

/// An address argument of [`lookup_host`] and the connecting calls: a `SocketAddr`, an
/// `(IpAddr, u16)`, a `"host:port"` string, a `(host, port)` pair, a slice of `SocketAddr`s, or a
/// reference to any of them. Host names are resolved on the blocking pool; IP literals need no
/// lookup.
pub trait ToSocketAddrs: sealed::Sealed {}

impl<T: sealed::Sealed + ?Sized> ToSocketAddrs for T {}

macro_rules! resolved {
    ($($ty:ty => |$this:ident| $addr:expr),* $(,)?) => {$(
        impl sealed::Sealed for $ty {
            fn target(&self) -> io::Result<Target> {
                let $this = self;
                Ok(Target::Resolved(vec![$addr]))
            }
        }
    )*};
}

resolved! {
    SocketAddr => |addr| *addr,
    SocketAddrV4 => |addr| SocketAddr::V4(*addr),
    SocketAddrV6 => |addr| SocketAddr::V6(*addr),
    (IpAddr, u16) => |pair| SocketAddr::new(pair.0, pair.1),
    (Ipv4Addr, u16) => |pair| SocketAddr::new(IpAddr::V4(pair.0), pair.1),
    (Ipv6Addr, u16) => |pair| SocketAddr::new(IpAddr::V6(pair.0), pair.1),
}

impl sealed::Sealed for [SocketAddr] {
    fn target(&self) -> io::Result<Target> {
        Ok(Target::Resolved(self.to_vec()))
    }
}

impl sealed::Sealed for (&str, u16) {
    fn target(&self) -> io::Result<Target> {
        let (host, port) = *self;
        Ok(match host.parse::<IpAddr>() {
            Ok(ip) => Target::Resolved(vec![SocketAddr::new(ip, port)]),
            Err(_) => Target::Lookup {
                host: host.to_string(),
                port,
            },
        })
    }
}

impl sealed::Sealed for (String, u16) {
    fn target(&self) -> io::Result<Target> {
        (self.0.as_str(), self.1).target()
    }
}

impl sealed::Sealed for str {
    fn target(&self) -> io::Result<Target> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(Target::Resolved(vec![addr]));
        }
        let invalid = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{why} in the address {self:?}: write it as \"host:port\""),
            )
        };
        let (host, port) = self.rsplit_once(':').ok_or_else(|| invalid("no port"))?;
        let port = port.parse().map_err(|_| invalid("an invalid port"))?;
        (host, port).target()
    }
}

impl sealed::Sealed for String {
    fn target(&self) -> io::Result<Target> {
        self.as_str().target()
    }
}

impl<T: sealed::Sealed + ?Sized> sealed::Sealed for &T {
    fn target(&self) -> io::Result<Target> {
        (**self).target()
    }
}

/// Resolves `addr` to its socket addresses, looking a host name up on the blocking pool (an IP
/// literal needs no lookup, and no thread).
///
/// ```
/// nbio::block_on(async {
///     let addrs: Vec<_> = nbio::net::lookup_host("localhost:8080").await?.into_iter().collect();
///     assert!(addrs.iter().all(|addr| addr.port() == 8080 && addr.ip().is_loopback()));
///     let literal: Vec<_> = nbio::net::lookup_host("127.0.0.1:80").await?.into_iter().collect();
///     assert_eq!(literal, ["127.0.0.1:80".parse().unwrap()]);
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Errors
/// `InvalidInput` for an address that is neither; the resolver's error (naming the host) if the
/// lookup fails; an error if a lookup is needed outside a runtime.
#[track_caller]
pub fn lookup_host<A: ToSocketAddrs>(
    addr: A,
) -> impl Future<Output = io::Result<impl IntoIterator<Item = SocketAddr>>> + Send {
    let target = addr.target();
    let at = Location::caller();
    async move { resolve(target?, at).await }
}

/// The addresses of `target`: at once if it is resolved, else from the shared lookup.
pub(crate) async fn resolve(
    target: Target,
    at: &'static Location<'static>,
) -> io::Result<Vec<SocketAddr>> {
    match target {
        Target::Resolved(addrs) => Ok(addrs),
        Target::Lookup { host, port } => {
            if let Some(hosted) = crate::sim::current() {
                return hosted.resolve(&host, port);
            }
            let flight = Flight::join(host, port, at);
            poll_fn(|cx| flight.poll(cx.waker())).await
        }
    }
}

/// A lookup in flight, shared by everyone who asked for the same host and port meanwhile.
struct Flight {
    key: (String, u16),
    state: Mutex<FlightState>,
}

#[derive(Default)]
struct FlightState {
    /// The answer, once there is one; errors are kept as kind and message, since each waiter
    /// gets its own `io::Error`.
    answer: Option<Result<Vec<SocketAddr>, (io::ErrorKind, String)>>,
    waiters: Vec<Waker>,
}

type InFlight = HashMap<(String, u16), Arc<Flight>>;

fn in_flight() -> MutexGuard<'static, InFlight> {
    static IN_FLIGHT: OnceLock<Mutex<InFlight>> = OnceLock::new();
    // One insert or remove per update: poisoning is harmless.
    IN_FLIGHT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

impl Flight {
    /// Joins the lookup of `host:port` in flight, or starts one on the current runtime's pool.
    fn join(host: String, port: u16, at: &'static Location<'static>) -> Arc<Flight> {
        let key = (host, port);
        let (flight, first) = {
            let mut flights = in_flight();
            match flights.get(&key) {
                Some(flight) => (Arc::clone(flight), false),
                None => {
                    let flight = Arc::new(Flight {
                        key: key.clone(),
                        state: Mutex::default(),
                    });
                    flights.insert(key, Arc::clone(&flight));
                    (flight, true)
                }
            }
        };
        if first {
            let landing = Landing(Arc::clone(&flight));
            let job = move || {
                let (host, port) = &landing.0.key;
                let answer = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), *port))
                    .map(Iterator::collect)
                    .map_err(|err| {
                        (
                            err.kind(),
                            format!("could not resolve {host}:{port}: {err}"),
                        )
                    });
                landing.0.land(answer);
            };
            // The job's handle is dropped: the answer comes through the flight. Outside a
            // runtime the closure is dropped unrun, and its `Landing` answers for it.
            drop(context::spawn_blocking(job, at));
        }
        flight
    }

    fn lock(&self) -> MutexGuard<'_, FlightState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes the answer, wakes the waiters, and lets the next lookup of this key start
    /// afresh.
    fn land(&self, answer: Result<Vec<SocketAddr>, (io::ErrorKind, String)>) {
        let waiters = {
            let mut state = self.lock();
            if state.answer.is_some() {
                return;
            }
            state.answer = Some(answer);
            std::mem::take(&mut state.waiters)
        };
        let mut flights = in_flight();
        if flights
            .get(&self.key)
            .is_some_and(|flight| std::ptr::eq(Arc::as_ptr(flight), self))
        {
            flights.remove(&self.key);
        }
        drop(flights);
        waiters.into_iter().for_each(Waker::wake);
    }

    fn poll(&self, waker: &Waker) -> Poll<io::Result<Vec<SocketAddr>>> {
        let mut state = self.lock();
        match &state.answer {
            Some(Ok(addrs)) => Poll::Ready(Ok(addrs.clone())),
            Some(Err((kind, message))) => Poll::Ready(Err(io::Error::new(*kind, message.clone()))),
            None => {
                if !state.waiters.iter().any(|w| w.will_wake(waker)) {
                    state.waiters.push(waker.clone());
                }
                Poll::Pending
            }
        }
    }
}

/// Travels with the lookup job. If the job is dropped unrun (no runtime, or the runtime shut
/// down first), it answers for it, so that no waiter waits forever.
struct Landing(Arc<Flight>);

impl Drop for Landing {
    fn drop(&mut self) {
        self.0.land(Err((
            io::ErrorKind::Other,
            format!(
                "the lookup of {}:{} was cancelled: it needs an nbio runtime (its blocking \
                 pool), and none ran it",
                self.0.key.0, self.0.key.1
            ),
        )));
    }
}
