//! The seam between a TCP stream and what carries its bytes: a kernel socket, or, inside a
//! simulated host (`nbio::sim`), a simulated connection. `AsyncTcpStream` holds a [`TcpIo`]
//! and the shared stream methods (`stream_api.rs`) call it as they call `Registered`, so the
//! code that uses a stream is the same in production and in a simulation. The real path pays
//! one branch per call; the simulated one lives in `sim/stream.rs`.

use std::future::poll_fn;
use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::net::{Shutdown, TcpStream};
use std::task::{Context, Poll};

use super::registered::Registered;
use crate::reactor::Direction;
use crate::sim::SimStream;

/// A TCP stream's transport.
pub(crate) enum TcpIo {
    /// A non-blocking kernel socket, registered with the reactor.
    Real(Registered<TcpStream>),
    /// A connection of the simulated network.
    Sim(SimStream),
}

impl TcpIo {
    /// The kernel socket.
    ///
    /// # Panics
    /// For a simulated stream, which has none: descriptor-level options (`AsFd`, keepalive,
    /// buffer sizes) have no meaning inside a simulation.
    pub(crate) fn get_ref(&self) -> &TcpStream {
        match self {
            TcpIo::Real(registered) => registered.get_ref(),
            TcpIo::Sim(_) => panic!(
                "nbio: a simulated TCP stream (inside nbio::sim) has no socket descriptor; \
                 socket options and AsFd are not simulated"
            ),
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            TcpIo::Real(registered) => registered.shutdown(how),
            TcpIo::Sim(sim) => sim.shutdown(how),
        }
    }

    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            TcpIo::Real(registered) => registered.read(buf).await,
            TcpIo::Sim(sim) => poll_fn(|cx| sim.poll_read(cx, buf)).await,
        }
    }

    pub(crate) async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            TcpIo::Real(registered) => registered.write(buf).await,
            TcpIo::Sim(sim) => poll_fn(|cx| sim.poll_write(cx, buf)).await,
        }
    }

    pub(crate) async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        let sim = match self {
            TcpIo::Real(registered) => return registered.write_all(buf).await,
            TcpIo::Sim(sim) => sim,
        };
        while !buf.is_empty() {
            let written = poll_fn(|cx| sim.poll_write(cx, buf)).await?;
            buf = &buf[written..];
        }
        Ok(())
    }

    pub(crate) async fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            TcpIo::Real(registered) => registered.write_vectored(bufs).await,
            TcpIo::Sim(sim) => poll_fn(|cx| sim.poll_write_vectored(cx, bufs)).await,
        }
    }

    pub(crate) async fn read_vectored(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        match self {
            TcpIo::Real(registered) => registered.read_vectored(bufs).await,
            TcpIo::Sim(sim) => poll_fn(|cx| sim.poll_read_vectored(cx, bufs)).await,
        }
    }

    pub(crate) async fn read_exact(&self, mut buf: &mut [u8]) -> io::Result<()> {
        let sim = match self {
            TcpIo::Real(registered) => return registered.read_exact(buf).await,
            TcpIo::Sim(sim) => sim,
        };
        while !buf.is_empty() {
            match poll_fn(|cx| sim.poll_read(cx, buf)).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                read => buf = &mut buf[read..],
            }
        }
        Ok(())
    }

    pub(crate) async fn ready(&self, dir: Direction) -> io::Result<()> {
        match self {
            TcpIo::Real(registered) => registered.ready(dir).await,
            TcpIo::Sim(sim) => poll_fn(|cx| sim.poll_ready(dir == Direction::Read, cx)).await,
        }
    }

    pub(crate) fn poll_ready_for(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        match self {
            TcpIo::Real(registered) => registered.poll_ready_for(dir, cx),
            TcpIo::Sim(sim) => sim.poll_ready(dir == Direction::Read, cx),
        }
    }

    pub(crate) fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        match self {
            TcpIo::Real(registered) => registered.poll_read_uninit(cx, buf),
            TcpIo::Sim(sim) => sim.poll_read_uninit(cx, buf),
        }
    }

    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            TcpIo::Real(registered) => registered.try_read(buf),
            TcpIo::Sim(sim) => sim.try_read(buf),
        }
    }

    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            TcpIo::Real(registered) => registered.try_write(buf),
            TcpIo::Sim(sim) => sim.try_write(buf),
        }
    }

    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self {
            TcpIo::Real(registered) => registered.poll_read(cx, buf),
            TcpIo::Sim(sim) => sim.poll_read(cx, buf),
        }
    }

    pub(crate) fn poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        match self {
            TcpIo::Real(registered) => registered.poll_read_vectored(cx, bufs),
            TcpIo::Sim(sim) => sim.poll_read_vectored(cx, bufs),
        }
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            TcpIo::Real(registered) => registered.poll_write(cx, buf),
            TcpIo::Sim(sim) => sim.poll_write(cx, buf),
        }
    }

    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self {
            TcpIo::Real(registered) => registered.poll_write_vectored(cx, bufs),
            TcpIo::Sim(sim) => sim.poll_write_vectored(cx, bufs),
        }
    }

    pub(crate) fn poll_close(&self) -> Poll<io::Result<()>> {
        match self {
            TcpIo::Real(registered) => registered.poll_close(),
            TcpIo::Sim(sim) => Poll::Ready(sim.shutdown(Shutdown::Write)),
        }
    }
}

impl std::fmt::Debug for TcpIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TcpIo::Real(registered) => registered.fmt(f),
            TcpIo::Sim(sim) => write!(f, "simulated {} -> {}", sim.local_addr(), sim.peer_addr()),
        }
    }
}
