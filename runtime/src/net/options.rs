//! Socket options shared by `AsyncTcpStream` and `TcpSocket`: keepalive, linger, TTL and the
//! kernel's buffer sizes. Each is one `setsockopt`/`getsockopt` through rustix; the functions
//! here turn the kernel's bare `errno` into an error that says which option failed and why.
//!
//! The methods themselves are written once, by [`socket_options!`], inside each type's `impl`.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::net::{sockopt, AddressFamily};

/// The largest idle time Linux takes for `TCP_KEEPIDLE` (`MAX_TCP_KEEPIDLE`), in seconds.
const MAX_KEEPIDLE_SECS: u64 = 32_767;

/// Names the option in the error, keeping the kind a caller matches on.
fn failed(what: &str, errno: rustix::io::Errno) -> io::Error {
    let err = io::Error::from(errno);
    io::Error::new(err.kind(), format!("could not {what}: {err}"))
}

pub(super) fn set_keepalive(fd: BorrowedFd<'_>, idle: Option<Duration>) -> io::Result<()> {
    let Some(idle) = idle else {
        return sockopt::set_socket_keepalive(fd, false)
            .map_err(|e| failed("turn SO_KEEPALIVE off", e));
    };
    if idle.is_zero() || idle > Duration::from_secs(MAX_KEEPIDLE_SECS) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "keepalive idle time {idle:?} is out of range: give between 1 second and \
                 {MAX_KEEPIDLE_SECS} seconds, or None to turn keepalive off"
            ),
        ));
    }
    sockopt::set_tcp_keepidle(fd, idle).map_err(|e| failed("set TCP_KEEPIDLE", e))?;
    sockopt::set_socket_keepalive(fd, true).map_err(|e| failed("turn SO_KEEPALIVE on", e))
}

pub(super) fn keepalive(fd: BorrowedFd<'_>) -> io::Result<Option<Duration>> {
    if !sockopt::socket_keepalive(fd).map_err(|e| failed("read SO_KEEPALIVE", e))? {
        return Ok(None);
    }
    let idle = sockopt::tcp_keepidle(fd).map_err(|e| failed("read TCP_KEEPIDLE", e))?;
    Ok(Some(idle))
}

pub(super) fn set_linger(fd: BorrowedFd<'_>, linger: Option<Duration>) -> io::Result<()> {
    sockopt::set_socket_linger(fd, linger).map_err(|e| failed("set SO_LINGER", e))
}

pub(super) fn linger(fd: BorrowedFd<'_>) -> io::Result<Option<Duration>> {
    sockopt::socket_linger(fd).map_err(|e| failed("read SO_LINGER", e))
}

fn is_v6(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let domain = sockopt::socket_domain(fd).map_err(|e| failed("read SO_DOMAIN", e))?;
    Ok(domain == AddressFamily::INET6)
}

pub(super) fn set_ttl(fd: BorrowedFd<'_>, ttl: u32) -> io::Result<()> {
    if ttl == 0 || ttl > 255 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("TTL {ttl} is out of range: give between 1 and 255"),
        ));
    }
    if is_v6(fd)? {
        // `ttl <= 255` was checked above.
        let hops = u8::try_from(ttl).unwrap_or(u8::MAX);
        sockopt::set_ipv6_unicast_hops(fd, Some(hops))
            .map_err(|e| failed("set IPV6_UNICAST_HOPS", e))
    } else {
        sockopt::set_ip_ttl(fd, ttl).map_err(|e| failed("set IP_TTL", e))
    }
}

pub(super) fn ttl(fd: BorrowedFd<'_>) -> io::Result<u32> {
    if is_v6(fd)? {
        let hops =
            sockopt::ipv6_unicast_hops(fd).map_err(|e| failed("read IPV6_UNICAST_HOPS", e))?;
        Ok(u32::from(hops))
    } else {
        sockopt::ip_ttl(fd).map_err(|e| failed("read IP_TTL", e))
    }
}

pub(super) fn set_send_buffer_size(fd: BorrowedFd<'_>, size: usize) -> io::Result<()> {
    sockopt::set_socket_send_buffer_size(fd, size).map_err(|e| failed("set SO_SNDBUF", e))
}

pub(super) fn send_buffer_size(fd: BorrowedFd<'_>) -> io::Result<usize> {
    sockopt::socket_send_buffer_size(fd).map_err(|e| failed("read SO_SNDBUF", e))
}

pub(super) fn set_recv_buffer_size(fd: BorrowedFd<'_>, size: usize) -> io::Result<()> {
    sockopt::set_socket_recv_buffer_size(fd, size).map_err(|e| failed("set SO_RCVBUF", e))
}

pub(super) fn recv_buffer_size(fd: BorrowedFd<'_>) -> io::Result<usize> {
    sockopt::socket_recv_buffer_size(fd).map_err(|e| failed("read SO_RCVBUF", e))
}

/// The option methods, written into an `impl` block of a type that implements `AsFd`.
macro_rules! socket_options {
    () => {
        /// Turns TCP keepalive on, probing the peer once the connection has been idle for
        /// `idle` (`SO_KEEPALIVE` plus `TCP_KEEPIDLE`), or off with `None`. The kernel counts
        /// whole seconds: a fraction is rounded up. Probes then follow at the system's interval
        /// (`net.ipv4.tcp_keepalive_intvl`) until the peer answers or the system's count
        /// (`tcp_keepalive_probes`) runs out, and then reads and writes fail with `TimedOut`.
        ///
        /// # Errors
        /// `InvalidInput` if `idle` is zero or longer than 32767 seconds (Linux's limit).
        pub fn set_keepalive(&self, idle: Option<std::time::Duration>) -> std::io::Result<()> {
            super::options::set_keepalive(std::os::fd::AsFd::as_fd(self), idle)
        }

        /// The keepalive idle time, or `None` if keepalive is off.
        pub fn keepalive(&self) -> std::io::Result<Option<std::time::Duration>> {
            super::options::keepalive(std::os::fd::AsFd::as_fd(self))
        }

        /// Sets `SO_LINGER`. With `Some(t)`, dropping the socket waits up to `t` (whole
        /// seconds, rounded up) in the kernel for unsent data to go out, and
        /// `Some(Duration::ZERO)` discards it and resets the connection instead of closing it
        /// with a FIN. `None` (the default) closes in the background.
        pub fn set_linger(&self, linger: Option<std::time::Duration>) -> std::io::Result<()> {
            super::options::set_linger(std::os::fd::AsFd::as_fd(self), linger)
        }

        /// The `SO_LINGER` time, or `None` if lingering is off.
        pub fn linger(&self) -> std::io::Result<Option<std::time::Duration>> {
            super::options::linger(std::os::fd::AsFd::as_fd(self))
        }

        /// Sets the time-to-live of outgoing packets (`IP_TTL`; on an IPv6 socket the hop
        /// limit, `IPV6_UNICAST_HOPS`).
        ///
        /// # Errors
        /// `InvalidInput` unless `ttl` is between 1 and 255.
        pub fn set_ttl(&self, ttl: u32) -> std::io::Result<()> {
            super::options::set_ttl(std::os::fd::AsFd::as_fd(self), ttl)
        }

        /// The time-to-live (or IPv6 hop limit) of outgoing packets.
        pub fn ttl(&self) -> std::io::Result<u32> {
            super::options::ttl(std::os::fd::AsFd::as_fd(self))
        }

        /// Asks for a kernel send buffer of `size` bytes (`SO_SNDBUF`). The kernel decides:
        /// Linux doubles the request (to leave room for its own bookkeeping) and clamps it
        /// between a minimum and `net.core.wmem_max`. Read back what it chose with
        /// [`send_buffer_size`](Self::send_buffer_size).
        pub fn set_send_buffer_size(&self, size: usize) -> std::io::Result<()> {
            super::options::set_send_buffer_size(std::os::fd::AsFd::as_fd(self), size)
        }

        /// The size of the kernel's send buffer, as the kernel chose it.
        pub fn send_buffer_size(&self) -> std::io::Result<usize> {
            super::options::send_buffer_size(std::os::fd::AsFd::as_fd(self))
        }

        /// Asks for a kernel receive buffer of `size` bytes (`SO_RCVBUF`). As with the send
        /// buffer, Linux doubles the request and clamps it (to `net.core.rmem_max`); read back
        /// what it chose with [`recv_buffer_size`](Self::recv_buffer_size).
        pub fn set_recv_buffer_size(&self, size: usize) -> std::io::Result<()> {
            super::options::set_recv_buffer_size(std::os::fd::AsFd::as_fd(self), size)
        }

        /// The size of the kernel's receive buffer, as the kernel chose it.
        pub fn recv_buffer_size(&self) -> std::io::Result<usize> {
            super::options::recv_buffer_size(std::os::fd::AsFd::as_fd(self))
        }
    };
}

pub(super) use socket_options;
