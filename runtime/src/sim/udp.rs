//! Simulated UDP: datagrams that are lost, duplicated and reordered.
//!
//! Each datagram draws its own fate when sent: lost (at the `loss` rate), sent twice (at the
//! `duplicate` rate), and a latency per copy, so two datagrams may arrive in either order.
//! A partition loses what crosses it; a `hold` keeps it until `release`. A socket's queue of
//! received datagrams is bounded: what arrives at a full queue is dropped, as the kernel does.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::host::Hosted;
use super::world::{Due, EventKind, HostId, State, World};

/// How many datagrams a socket's receive queue holds.
const QUEUE: usize = 256;

/// The UDP part of the world.
#[derive(Default)]
pub(crate) struct Udp {
    sockets: HashMap<SocketAddr, Socket>,
    /// Datagrams in flight, by id (a slot is emptied on delivery).
    in_flight: Vec<Option<Datagram>>,
    /// Held datagrams, by id, in the order they were held.
    held: Vec<usize>,
}

struct Socket {
    host: HostId,
    /// The host's epoch when bound (see `tcp::Listener::epoch`).
    epoch: u64,
    /// Each datagram: its sender, its bytes, its flow in the trace (`observed.rs`) if it is on.
    received: VecDeque<(SocketAddr, Vec<u8>, Option<usize>)>,
    waker: Option<Waker>,
}

struct Datagram {
    from: SocketAddr,
    from_host: HostId,
    to: SocketAddr,
    to_host: HostId,
    bytes: Vec<u8>,
    flow: Option<usize>,
}

impl Udp {
    /// The held datagrams between `a` and `b`, taken out of the held list.
    pub(crate) fn held_between(&mut self, a: HostId, b: HostId) -> Vec<usize> {
        let in_flight = &self.in_flight;
        let (between, kept) = self.held.iter().partition(|id| {
            in_flight[**id].as_ref().is_some_and(|datagram| {
                let hosts = (
                    datagram.from_host.min(datagram.to_host),
                    datagram.from_host.max(datagram.to_host),
                );
                hosts == (a.min(b), a.max(b))
            })
        });
        self.held = kept;
        between
    }

    /// The address of the socket whose waiting receiver `task` wakes, if one is.
    pub(crate) fn waited_on_by(&self, task: &Waker) -> Option<SocketAddr> {
        let waits = |socket: &Socket| socket.waker.as_ref().is_some_and(|w| w.will_wake(task));
        (self.sockets.iter())
            .find(|(_, socket)| waits(socket))
            .map(|(addr, _)| *addr)
    }
}

impl State {
    /// A datagram's time has come: into its socket's queue, lost to a partition, held, or
    /// dropped if nobody listens.
    pub(crate) fn deliver_datagram(&mut self, id: usize, wakes: &mut Vec<Waker>) {
        let Some(datagram) = self.udp.in_flight[id].as_ref() else {
            return;
        };
        let (from_host, to_host) = (datagram.from_host, datagram.to_host);
        if self.held(from_host, to_host) {
            self.udp.held.push(id);
            self.note(EventKind::Stalled, from_host, to_host, 0);
            return;
        }
        let datagram = self.udp.in_flight[id].take().expect("seen above");
        let len = datagram.bytes.len();
        let reachable = self.hosts[to_host as usize].alive && !self.partitioned(from_host, to_host);
        let socket = self.udp.sockets.get_mut(&datagram.to);
        match socket {
            Some(socket) if reachable && socket.received.len() < QUEUE => {
                socket
                    .received
                    .push_back((datagram.from, datagram.bytes, datagram.flow));
                wakes.extend(socket.waker.take());
                self.delivered += 1;
                self.note(EventKind::Deliver, from_host, to_host, len);
            }
            _ => {
                self.dropped += 1;
                self.note(EventKind::Dropped, from_host, to_host, len);
            }
        }
    }

    /// Sends a datagram: lost, or one or two copies on their way.
    fn send_datagram(
        &mut self,
        from: SocketAddr,
        from_host: HostId,
        to: SocketAddr,
        bytes: &[u8],
        wakes: &mut Vec<Waker>,
    ) -> io::Result<()> {
        let Some(to_host) = self.host_at(to.ip()) else {
            // No such host: the datagram goes nowhere, as on a real network.
            self.dropped += 1;
            return Ok(());
        };
        self.note(EventKind::Send, from_host, to_host, bytes.len());
        let (loss, duplicate) = (self.config.loss, self.config.duplicate);
        if self.rng.chance(loss) {
            self.dropped += 1;
            self.note(EventKind::Dropped, from_host, to_host, bytes.len());
            return Ok(());
        }
        let copies = if self.rng.chance(duplicate) { 2 } else { 1 };
        let flow = self.flow_sent(from_host, to_host, bytes.len());
        for _ in 0..copies {
            let at = self.now() + self.latency();
            let id = self.udp.in_flight.len();
            self.udp.in_flight.push(Some(Datagram {
                from,
                from_host,
                to,
                to_host,
                bytes: bytes.to_vec(),
                flow,
            }));
            self.schedule(at, Due::Udp(id), wakes);
        }
        Ok(())
    }
}

/// A UDP socket of a simulated host.
pub(crate) struct SimUdp {
    world: Arc<World>,
    host: HostId,
    epoch: u64,
    addr: SocketAddr,
    connected: std::sync::Mutex<Option<SocketAddr>>,
}

impl SimUdp {
    /// Binds `addr` on the current host (an unspecified address is the host's; port 0 picks
    /// one).
    pub(crate) fn bind(hosted: &Hosted, addr: SocketAddr) -> io::Result<SimUdp> {
        let host = hosted.host;
        let epoch = hosted.world.epoch(host);
        let addr = hosted.world.with(|state, _| {
            let ip = state.hosts[host as usize].ip;
            let port = match addr.port() {
                0 => state.ephemeral_port(host),
                port => port,
            };
            let addr = SocketAddr::new(ip, port);
            if state.udp.sockets.contains_key(&addr) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "{addr} is already in use on simulated host {}",
                        state.name(host)
                    ),
                ));
            }
            let socket = Socket {
                host,
                epoch,
                received: VecDeque::new(),
                waker: None,
            };
            state.udp.sockets.insert(addr, socket);
            Ok(addr)
        })?;
        Ok(SimUdp {
            world: Arc::clone(&hosted.world),
            host,
            epoch,
            addr,
            connected: std::sync::Mutex::new(None),
        })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn connect(&self, addr: SocketAddr) {
        *self
            .connected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(addr);
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.connected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the simulated UDP socket is not connected",
                )
            })
    }

    /// Sends `buf` to `to` (a datagram never waits for room in a simulation).
    pub(crate) fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.world
            .with(|state, wakes| state.send_datagram(self.addr, self.host, to, buf, wakes))?;
        Ok(buf.len())
    }

    /// The next datagram (cut to `buf`, as the kernel does), or `Pending`/`WouldBlock`.
    pub(crate) fn poll_recv_from(
        &self,
        cx: Option<&mut Context<'_>>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        let connected = *self
            .connected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.world.with(|state, _| {
            let Some(socket) = state.udp.sockets.get_mut(&self.addr) else {
                return Poll::Ready(Err(io::Error::other(
                    "the simulated UDP socket's host crashed",
                )));
            };
            while let Some((from, bytes, flow)) = socket.received.pop_front() {
                if connected.is_some_and(|peer| peer != from) {
                    continue;
                }
                let n = bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&bytes[..n]);
                if let Some(flow) = flow {
                    state.flow_received(flow);
                }
                return Poll::Ready(Ok((n, from)));
            }
            match cx {
                Some(cx) => {
                    socket.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                None => Poll::Ready(Err(io::ErrorKind::WouldBlock.into())),
            }
        })
    }

    /// Whether a datagram waits; `Pending` with `cx` filed if none does.
    pub(crate) fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.world
            .with(|state, _| match state.udp.sockets.get_mut(&self.addr) {
                None => Poll::Ready(Ok(())),
                Some(socket) if !socket.received.is_empty() => Poll::Ready(Ok(())),
                Some(socket) => {
                    socket.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
    }
}

impl Drop for SimUdp {
    fn drop(&mut self) {
        let (addr, host, epoch) = (self.addr, self.host, self.epoch);
        self.world.with(|state, _| {
            let mine = |socket: &Socket| socket.host == host && socket.epoch == epoch;
            if state.udp.sockets.get(&addr).is_some_and(mine) {
                state.udp.sockets.remove(&addr);
            }
        });
    }
}

/// A crash closes the host's UDP sockets.
impl State {
    pub(crate) fn crash_udp(&mut self, host: HostId) {
        self.udp.sockets.retain(|_, socket| socket.host != host);
    }
}
