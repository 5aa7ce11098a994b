//! Sockets: TCP, UDP and Unix, each a std socket in non-blocking mode plus a reactor
//! registration.
//!
//! The article makes one socket non-blocking with `sock.setblocking(0)` and then has to handle
//! `EAGAIN` by hand at every `send`. Every operation here does that for you: it tries the
//! syscall, and on `WouldBlock` parks the task with the reactor until the socket is ready,
//! leaving the thread free for other tasks.
//!
//! Every type is `Send` and `Sync`, so a task holding one can be started with `spawn`. A
//! socket registers with the runtime that first has to wait on it and should be used within
//! that runtime; once that runtime is dropped, waiting on it is an error.

mod registered;
mod stream;
mod tcp;
mod udp;
mod unix;

pub use tcp::{AsyncTcpListener, AsyncTcpStream};
pub use udp::AsyncUdpSocket;
pub use unix::{AsyncUnixListener, AsyncUnixStream};
