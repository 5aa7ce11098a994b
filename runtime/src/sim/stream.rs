//! The handles `nbio::net` holds inside a host: a simulated listener and a simulated stream.
//! `AsyncTcpListener` and `AsyncTcpStream` keep one of these instead of a socket when they are
//! made inside a simulated host, and forward every call here; the state they act on is the
//! world's (`tcp.rs`).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use super::host::Hosted;
use super::observed::read_arrivals;
use super::tcp::{EndId, Listener, Phase};
use super::world::World;

/// A listener of a simulated host.
pub(crate) struct SimListener {
    world: Arc<World>,
    addr: SocketAddr,
    epoch: u64,
}

/// One end of a simulated TCP connection.
pub(crate) struct SimStream {
    world: Arc<World>,
    end: EndId,
}

impl SimListener {
    /// Listens on `addr` of the current host: its own address, or an unspecified one (port 0
    /// picks a free port).
    pub(crate) fn bind(hosted: &Hosted, addr: SocketAddr) -> io::Result<SimListener> {
        let host = hosted.host;
        let epoch = hosted.world.epoch(host);
        let addr = hosted.world.with(|state, _| {
            let ip = state.hosts[host as usize].ip;
            if !addr.ip().is_unspecified() && addr.ip() != ip && !addr.ip().is_loopback() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    format!(
                        "cannot bind {addr} on simulated host {} (its address is {ip}): bind \
                         0.0.0.0:port or {ip}:port",
                        state.name(host)
                    ),
                ));
            }
            let port = match addr.port() {
                0 => state.ephemeral_port(host),
                port => port,
            };
            let addr = SocketAddr::new(ip, port);
            if state.tcp.listeners.contains_key(&addr) {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "{addr} is already in use on simulated host {}",
                        state.name(host)
                    ),
                ));
            }
            let listener = Listener {
                host,
                epoch,
                backlog: VecDeque::new(),
                waker: None,
            };
            state.tcp.listeners.insert(addr, listener);
            Ok(addr)
        })?;
        Ok(SimListener {
            world: Arc::clone(&hosted.world),
            addr,
            epoch,
        })
    }

    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next connection of the backlog, or `Pending` with `cx` filed.
    pub(crate) fn poll_accept(
        &self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(SimStream, SocketAddr)>> {
        let accepted = self.world.with(|state, _| {
            let Some(listener) = state.tcp.listeners.get_mut(&self.addr) else {
                return Some(Err(io::Error::new(
                    io::ErrorKind::NotConnected,
                    format!("the listener on {} is gone: its host crashed", self.addr),
                )));
            };
            match listener.backlog.pop_front() {
                Some(end) => Some(Ok((end, state.tcp.ends[end].peer))),
                None => {
                    listener.waker = Some(cx.waker().clone());
                    None
                }
            }
        });
        match accepted {
            None => Poll::Pending,
            Some(accepted) => Poll::Ready(accepted.map(|(end, peer)| {
                let stream = SimStream {
                    world: Arc::clone(&self.world),
                    end,
                };
                (stream, peer)
            })),
        }
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        let (addr, epoch) = (self.addr, self.epoch);
        self.world.with(|state, wakes| {
            let mine = state
                .tcp
                .listeners
                .get(&addr)
                .is_some_and(|l| l.epoch == epoch);
            let Some(listener) = mine.then(|| state.tcp.listeners.remove(&addr)).flatten() else {
                return;
            };
            for end in listener.backlog {
                state.close(end, wakes);
            }
        });
    }
}

impl SimStream {
    /// Connects the current host to `addr`: waits for the SYN-ACK or the refusal.
    pub(crate) async fn connect(hosted: &Hosted, addr: SocketAddr) -> io::Result<SimStream> {
        let world = &hosted.world;
        let end = world.with(|state, wakes| {
            let Some(peer_host) = state.host_at(addr.ip()) else {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    format!("connection refused by {addr}: no simulated host has that address"),
                ));
            };
            Ok(state.connect(hosted.host, peer_host, addr, wakes))
        })?;
        let stream = SimStream {
            world: Arc::clone(world),
            end,
        };
        poll_fn(|cx| {
            stream.world.with(|state, _| {
                let record = &mut state.tcp.ends[end];
                match record.phase {
                    Phase::Open => Poll::Ready(Ok(())),
                    Phase::Connecting => {
                        record.write_waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                    Phase::Refused => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        format!("connection refused by {addr} (simulated: nothing listens there)"),
                    ))),
                    Phase::Reset => Poll::Ready(Err(reset(addr))),
                }
            })
        })
        .await?;
        Ok(stream)
    }

    pub(crate) fn peer_addr(&self) -> SocketAddr {
        self.world.with(|state, _| state.tcp.ends[self.end].peer)
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.world.with(|state, _| state.tcp.ends[self.end].local)
    }

    /// One read: `copy` takes what it can from the receive buffer. `Pending` (with `cx`) or
    /// `WouldBlock` (without) if nothing has arrived.
    fn read_with(
        &self,
        cx: Option<&mut Context<'_>>,
        copy: impl FnOnce(&mut VecDeque<u8>) -> usize,
    ) -> Poll<io::Result<usize>> {
        if spent(cx.as_deref()) {
            return Poll::Pending;
        }
        self.world.with(|state, wakes| {
            let record = &mut state.tcp.ends[self.end];
            if record.phase == Phase::Reset {
                return Poll::Ready(Err(reset(record.peer)));
            }
            if !record.recv.is_empty() {
                let read = copy(&mut record.recv);
                if !record.arrivals.is_empty() {
                    for flow in read_arrivals(&mut record.arrivals, read) {
                        state.flow_received(flow);
                    }
                }
                let record = &mut state.tcp.ends[self.end];
                // The window opened: the writer may go on.
                if let Some(peer) = record.peer_end {
                    wakes.extend(state.tcp.ends[peer].write_waker.take());
                }
                return Poll::Ready(Ok(read));
            }
            if record.fin_in || record.read_shut {
                return Poll::Ready(Ok(0));
            }
            match cx {
                Some(cx) => {
                    record.read_waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                None => Poll::Ready(Err(io::ErrorKind::WouldBlock.into())),
            }
        })
    }

    /// One write of at most `len` bytes: `take` gives the first `n` of them. `Pending` (with
    /// `cx`) or `WouldBlock` (without) if the window is shut.
    fn write_with(
        &self,
        cx: Option<&mut Context<'_>>,
        len: usize,
        take: impl FnOnce(usize) -> Vec<u8>,
    ) -> Poll<io::Result<usize>> {
        if spent(cx.as_deref()) {
            return Poll::Pending;
        }
        self.world.with(|state, wakes| {
            let record = &state.tcp.ends[self.end];
            match record.phase {
                Phase::Reset => return Poll::Ready(Err(reset(record.peer))),
                Phase::Open if record.write_shut => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "write after shutdown(Write) on a simulated stream",
                    )))
                }
                _ => {}
            }
            if len == 0 {
                return Poll::Ready(Ok(0));
            }
            let room = state.window(self.end);
            if room == 0 {
                state.would_block += 1;
                return match cx {
                    Some(cx) => {
                        state.tcp.ends[self.end].write_waker = Some(cx.waker().clone());
                        Poll::Pending
                    }
                    None => Poll::Ready(Err(io::ErrorKind::WouldBlock.into())),
                };
            }
            let n = room.min(len);
            if n < len {
                state.short_writes += 1;
            }
            state.send_data(self.end, take(n), wakes);
            Poll::Ready(Ok(n))
        })
    }

    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.read_with(Some(cx), |recv| drain_into(recv, buf))
    }

    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        ready_or_would_block(self.read_with(None, |recv| drain_into(recv, buf)))
    }

    pub(crate) fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        self.read_with(Some(cx), |recv| {
            let n = recv.len().min(buf.len());
            for (slot, byte) in buf.iter_mut().zip(recv.drain(..n)) {
                slot.write(byte);
            }
            n
        })
    }

    pub(crate) fn poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.read_with(Some(cx), |recv| {
            bufs.iter_mut().map(|buf| drain_into(recv, buf)).sum()
        })
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.write_with(Some(cx), buf.len(), |n| buf[..n].to_vec())
    }

    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        ready_or_would_block(self.write_with(None, buf.len(), |n| buf[..n].to_vec()))
    }

    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|buf| buf.len()).sum();
        self.write_with(Some(cx), len, |n| {
            let mut out = Vec::with_capacity(n);
            for buf in bufs {
                let left = n - out.len();
                out.extend_from_slice(&buf[..buf.len().min(left)]);
            }
            out
        })
    }

    /// Whether a read (`read`) or a write would not wait now; `Pending` with `cx` if it would.
    pub(crate) fn poll_ready(&self, read: bool, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.world.with(|state, _| {
            let ready = {
                let record = &state.tcp.ends[self.end];
                record.phase == Phase::Reset
                    || if read {
                        !record.recv.is_empty() || record.fin_in || record.read_shut
                    } else {
                        record.write_shut || state.window(self.end) > 0
                    }
            };
            if ready {
                return Poll::Ready(Ok(()));
            }
            let record = &mut state.tcp.ends[self.end];
            let slot = if read {
                &mut record.read_waker
            } else {
                &mut record.write_waker
            };
            *slot = Some(cx.waker().clone());
            Poll::Pending
        })
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.world.with(|state, wakes| {
            if matches!(how, Shutdown::Read | Shutdown::Both) {
                let record = &mut state.tcp.ends[self.end];
                record.read_shut = true;
                record.wake_all(wakes);
            }
            if matches!(how, Shutdown::Write | Shutdown::Both) {
                state.shut_write(self.end, wakes);
            }
        });
        Ok(())
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        self.world.with(|state, wakes| state.close(self.end, wakes));
    }
}

/// Whether the polled task has spent its budget of socket operations for this poll (as on a
/// real socket): then it is woken to come back, and the operation is `Pending`, so that a
/// peer that always has data cannot keep one task polling forever. A `try_` call (no `cx`)
/// does not count.
fn spent(cx: Option<&Context<'_>>) -> bool {
    match cx {
        Some(cx) if !crate::context::spend_budget() => {
            cx.waker().wake_by_ref();
            true
        }
        _ => false,
    }
}

/// Moves the first bytes of `recv` into `buf`; how many.
fn drain_into(recv: &mut VecDeque<u8>, buf: &mut [u8]) -> usize {
    let n = recv.len().min(buf.len());
    let (front, back) = recv.as_slices();
    let first = front.len().min(n);
    buf[..first].copy_from_slice(&front[..first]);
    buf[first..n].copy_from_slice(&back[..n - first]);
    recv.drain(..n);
    n
}

fn ready_or_would_block(poll: Poll<io::Result<usize>>) -> io::Result<usize> {
    match poll {
        Poll::Ready(result) => result,
        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
    }
}

fn reset(peer: SocketAddr) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!("connection reset by {peer} (simulated)"),
    )
}
