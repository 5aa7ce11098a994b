//! Simulated TCP: connections as pairs of ends, each with a bounded receive buffer and an
//! ordered queue of segments in flight toward its peer.
//!
//! What a connection does, and where:
//!
//! 1. `connect` makes the client's end and queues a SYN; delivered, it finds a listener (the
//!    server's end is made and put in the backlog, a SYN-ACK goes back) or none (a refusal goes
//!    back, and the connect fails with `ConnectionRefused`).
//! 2. A write takes as much as the window allows: the sender's send buffer plus the peer's
//!    receive buffer, less what is in flight and what the peer has not read. No room is
//!    `WouldBlock`; some room is a short write. The bytes travel as one segment.
//! 3. Each end's queue is delivered in order: a segment never overtakes an earlier one of the
//!    same end, whatever latency it drew. A segment whose link is partitioned when it is due
//!    stays at the head of its queue (TCP retransmits; nothing is lost) until `repair`.
//! 4. Shutting the write half (or dropping the stream) queues a FIN: the peer reads its data,
//!    then 0. Dropping a stream with unread data, data reaching a closed end, and a crash send
//!    an RST: the peer's next read or write is `ConnectionReset`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::task::Waker;
use std::time::Instant;

use super::world::{Due, EventKind, HostId, State};

/// An end's index among all ends of the run (never reused).
pub(crate) type EndId = usize;

/// The TCP part of the world.
#[derive(Default)]
pub(crate) struct Tcp {
    pub(crate) ends: Vec<End>,
    pub(crate) listeners: HashMap<SocketAddr, Listener>,
}

/// Where a connection's end is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Connecting,
    Open,
    Refused,
    Reset,
}

/// One end of a connection.
pub(crate) struct End {
    pub(crate) host: HostId,
    pub(crate) peer_host: HostId,
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
    pub(crate) peer_end: Option<EndId>,
    pub(crate) phase: Phase,
    /// Bytes delivered and not yet read.
    pub(crate) recv: VecDeque<u8>,
    /// The peer's FIN arrived (after all its data).
    pub(crate) fin_in: bool,
    pub(crate) read_shut: bool,
    pub(crate) write_shut: bool,
    /// The stream was dropped (or its host crashed).
    pub(crate) closed: bool,
    /// Bytes this end sent that have not reached the peer.
    pub(crate) in_flight: usize,
    /// Segments on their way to the peer, in order.
    queue: VecDeque<Segment>,
    /// Its head waits for a partition to be repaired.
    stalled: bool,
    pub(crate) read_waker: Option<Waker>,
    pub(crate) write_waker: Option<Waker>,
    /// While the trace is on: the flow of each message in `recv`, and its bytes not yet read.
    pub(crate) arrivals: VecDeque<(usize, usize)>,
}

/// A listening socket.
pub(crate) struct Listener {
    pub(crate) host: HostId,
    /// The host's epoch when it was bound: a listener of a crashed incarnation, dropped late,
    /// must not remove the one its restarted host bound on the same address.
    pub(crate) epoch: u64,
    pub(crate) backlog: VecDeque<EndId>,
    pub(crate) waker: Option<Waker>,
}

struct Segment {
    at: Instant,
    kind: Kind,
}

enum Kind {
    Syn,
    SynAck,
    /// Bytes, and their flow in the trace (`observed.rs`) if it is on.
    Data(Vec<u8>, Option<usize>),
    Fin,
    Rst,
    /// The server's refusal, travelling back to this same end.
    Refused,
}

impl End {
    fn new(host: HostId, peer_host: HostId, local: SocketAddr, peer: SocketAddr) -> End {
        End {
            host,
            peer_host,
            local,
            peer,
            peer_end: None,
            phase: Phase::Connecting,
            recv: VecDeque::new(),
            fin_in: false,
            read_shut: false,
            write_shut: false,
            closed: false,
            in_flight: 0,
            queue: VecDeque::new(),
            stalled: false,
            read_waker: None,
            write_waker: None,
            arrivals: VecDeque::new(),
        }
    }

    /// Wakes both directions' waiters.
    pub(crate) fn wake_all(&mut self, wakes: &mut Vec<Waker>) {
        wakes.extend(self.read_waker.take());
        wakes.extend(self.write_waker.take());
    }
}

impl Tcp {
    /// The ends whose queue stalled on the link between `a` and `b`; they are no longer
    /// marked stalled.
    pub(crate) fn stalled_between(&mut self, a: HostId, b: HostId) -> Vec<EndId> {
        let mut found = Vec::new();
        for (id, end) in self.ends.iter_mut().enumerate() {
            let hosts = (end.host.min(end.peer_host), end.host.max(end.peer_host));
            if end.stalled && hosts == (a.min(b), a.max(b)) {
                end.stalled = false;
                found.push(id);
            }
        }
        found
    }

    /// Holds every segment of `end`'s queue until `at` at least (order kept); the new time of
    /// its head.
    pub(crate) fn delay_queue(&mut self, end: EndId, at: Instant) -> Option<Instant> {
        let queue = &mut self.ends[end].queue;
        for segment in queue.iter_mut() {
            segment.at = segment.at.max(at);
        }
        queue.front().map(|segment| segment.at)
    }
}

impl State {
    /// Queues a segment from `end` toward its peer (or, for a refusal, back to itself), after
    /// a latency, behind what the end already has in flight.
    fn send(&mut self, end: EndId, kind: Kind, wakes: &mut Vec<Waker>) {
        let latency = self.latency();
        let now = self.now();
        let queue = &mut self.tcp.ends[end].queue;
        let at = queue
            .back()
            .map_or(now + latency, |last| last.at.max(now + latency));
        queue.push_back(Segment { at, kind });
        self.schedule(at, Due::Tcp(end), wakes);
    }

    /// Delivers the due head segments of `end`'s queue, stopping at a partition.
    pub(crate) fn deliver_from(&mut self, end: EndId, now: Instant, wakes: &mut Vec<Waker>) {
        loop {
            let record = &self.tcp.ends[end];
            let Some(head) = record.queue.front() else {
                return;
            };
            if head.at > now {
                return;
            }
            let (from, to) = match head.kind {
                Kind::Refused => (record.peer_host, record.host),
                _ => (record.host, record.peer_host),
            };
            if self.blocked(from, to) {
                if !record.stalled {
                    self.tcp.ends[end].stalled = true;
                    self.note(EventKind::Stalled, from, to, 0);
                }
                return;
            }
            let segment = self.tcp.ends[end]
                .queue
                .pop_front()
                .expect("a head was seen");
            self.apply(end, segment.kind, wakes);
        }
    }

    /// What a segment from `end` does where it arrives.
    fn apply(&mut self, end: EndId, kind: Kind, wakes: &mut Vec<Waker>) {
        let (host, peer_host) = (self.tcp.ends[end].host, self.tcp.ends[end].peer_host);
        if let Kind::Refused = kind {
            let record = &mut self.tcp.ends[end];
            record.phase = Phase::Refused;
            record.wake_all(wakes);
            self.note(EventKind::Refused, peer_host, host, 0);
            return;
        }
        if let Kind::Syn = kind {
            return self.arrive_syn(end, wakes);
        }
        let Some(peer) = self.tcp.ends[end].peer_end else {
            return;
        };
        match kind {
            Kind::SynAck => {
                let record = &mut self.tcp.ends[peer];
                if record.phase == Phase::Connecting {
                    record.phase = Phase::Open;
                }
                record.wake_all(wakes);
            }
            Kind::Data(bytes, flow) => {
                let arrived = bytes.len();
                if self.arrive_data(end, peer, bytes, wakes) {
                    let arrivals = &mut self.tcp.ends[peer].arrivals;
                    arrivals.extend(flow.map(|flow| (flow, arrived)));
                }
            }
            Kind::Fin => {
                self.tcp.ends[peer].fin_in = true;
                self.tcp.ends[peer].wake_all(wakes);
                self.note(EventKind::Fin, host, peer_host, 0);
            }
            Kind::Rst => {
                let record = &mut self.tcp.ends[peer];
                if matches!(record.phase, Phase::Open | Phase::Connecting) {
                    record.phase = Phase::Reset;
                    record.recv.clear();
                }
                record.wake_all(wakes);
                self.note(EventKind::Reset, host, peer_host, 0);
            }
            Kind::Syn | Kind::Refused => unreachable!("handled above"),
        }
    }

    /// A SYN reaches the server: a listener takes it into its backlog, or it is refused.
    fn arrive_syn(&mut self, client: EndId, wakes: &mut Vec<Waker>) {
        let (client_host, addr, from) = {
            let record = &self.tcp.ends[client];
            (record.host, record.peer, record.local)
        };
        let listening = self
            .tcp
            .listeners
            .get(&addr)
            .map(|listener| listener.host)
            .filter(|host| self.hosts[*host as usize].alive);
        let Some(server_host) = listening else {
            return self.send(client, Kind::Refused, wakes);
        };
        let server = self.tcp.ends.len();
        let mut record = End::new(server_host, client_host, addr, from);
        record.peer_end = Some(client);
        record.phase = Phase::Open;
        self.tcp.ends.push(record);
        self.tcp.ends[client].peer_end = Some(server);
        let listener = self.tcp.listeners.get_mut(&addr).expect("found above");
        listener.backlog.push_back(server);
        wakes.extend(listener.waker.take());
        self.note(EventKind::Accept, client_host, server_host, 0);
        self.send(server, Kind::SynAck, wakes);
    }

    /// Data reaches `peer`: into its receive buffer (true), or answered with an RST if it is
    /// gone.
    fn arrive_data(
        &mut self,
        end: EndId,
        peer: EndId,
        bytes: Vec<u8>,
        wakes: &mut Vec<Waker>,
    ) -> bool {
        let (host, peer_host) = (self.tcp.ends[end].host, self.tcp.ends[end].peer_host);
        let sender = &mut self.tcp.ends[end];
        sender.in_flight -= bytes.len();
        wakes.extend(sender.write_waker.take());
        let record = &mut self.tcp.ends[peer];
        if record.closed || record.phase == Phase::Reset || record.read_shut {
            self.dropped += 1;
            self.note(EventKind::Dropped, host, peer_host, bytes.len());
            if !matches!(self.tcp.ends[peer].phase, Phase::Reset) {
                self.tcp.ends[peer].phase = Phase::Reset;
                self.send(peer, Kind::Rst, wakes);
            }
            return false;
        }
        record.recv.extend(&bytes);
        wakes.extend(record.read_waker.take());
        self.delivered += 1;
        self.note(EventKind::Deliver, host, peer_host, bytes.len());
        true
    }

    /// Starts a connection from `host` to `addr` (on `peer_host`); the new end.
    pub(crate) fn connect(
        &mut self,
        host: HostId,
        peer_host: HostId,
        addr: SocketAddr,
        wakes: &mut Vec<Waker>,
    ) -> EndId {
        let local = SocketAddr::new(self.hosts[host as usize].ip, self.ephemeral_port(host));
        let end = self.tcp.ends.len();
        self.tcp.ends.push(End::new(host, peer_host, local, addr));
        self.note(EventKind::Connect, host, peer_host, 0);
        self.send(end, Kind::Syn, wakes);
        end
    }

    /// A port of `host` no socket of it uses.
    pub(crate) fn ephemeral_port(&mut self, host: HostId) -> u16 {
        let record = &mut self.hosts[host as usize];
        let port = record.next_port;
        record.next_port = record.next_port.checked_add(1).unwrap_or(49152);
        port
    }

    /// How many bytes `end` may write now.
    pub(crate) fn window(&self, end: EndId) -> usize {
        let record = &self.tcp.ends[end];
        let unread = record
            .peer_end
            .map_or(0, |peer| self.tcp.ends[peer].recv.len());
        (self.config.send_buffer + self.config.recv_buffer)
            .saturating_sub(record.in_flight + unread)
    }

    /// Sends `bytes` from `end` (the caller checked the window).
    pub(crate) fn send_data(&mut self, end: EndId, bytes: Vec<u8>, wakes: &mut Vec<Waker>) {
        let (host, peer_host) = (self.tcp.ends[end].host, self.tcp.ends[end].peer_host);
        self.note(EventKind::Send, host, peer_host, bytes.len());
        self.tcp.ends[end].in_flight += bytes.len();
        let flow = self.flow_sent(host, peer_host, bytes.len());
        self.send(end, Kind::Data(bytes, flow), wakes);
    }

    /// Shuts `end`'s write half: a FIN follows its data.
    pub(crate) fn shut_write(&mut self, end: EndId, wakes: &mut Vec<Waker>) {
        let record = &mut self.tcp.ends[end];
        if record.write_shut || record.phase != Phase::Open {
            record.write_shut = true;
            return;
        }
        record.write_shut = true;
        self.send(end, Kind::Fin, wakes);
    }

    /// The stream of `end` was dropped: a FIN, or an RST if data was left unread.
    pub(crate) fn close(&mut self, end: EndId, wakes: &mut Vec<Waker>) {
        let record = &mut self.tcp.ends[end];
        if record.closed {
            return;
        }
        record.closed = true;
        record.read_waker = None;
        record.write_waker = None;
        if record.phase == Phase::Open && !record.recv.is_empty() {
            record.phase = Phase::Reset;
            record.recv.clear();
            self.send(end, Kind::Rst, wakes);
        } else {
            self.shut_write(end, wakes);
        }
    }

    /// A crash of `host`: its listeners vanish, its connections are reset (the peers hear an
    /// RST), what it had in flight is lost.
    pub(crate) fn crash_tcp(&mut self, host: HostId, wakes: &mut Vec<Waker>) {
        self.tcp
            .listeners
            .retain(|_, listener| listener.host != host);
        for end in 0..self.tcp.ends.len() {
            let record = &mut self.tcp.ends[end];
            if record.host != host || record.closed {
                continue;
            }
            record.closed = true;
            record.read_waker = None;
            record.write_waker = None;
            let lost = record.queue.len();
            record.queue.clear();
            record.in_flight = 0;
            let was_live = matches!(record.phase, Phase::Open | Phase::Connecting);
            record.phase = Phase::Reset;
            self.dropped += lost as u64;
            if was_live && record.peer_end.is_some() {
                self.send(end, Kind::Rst, wakes);
            }
        }
    }
}
