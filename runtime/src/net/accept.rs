//! Accepting connections: the patience of an accept loop that ran out of descriptors, and
//! [`Incoming`], the stream of connections a listener hands out.
//!
//! The article's server calls `accept()` in a blocking loop. nbio's listeners offer the same
//! loop three ways, all on one attempt (`accept_once` of each listener): `accept().await`,
//! `poll_accept(cx)` for hand-written futures, and `incoming()`, a futures-lite `Stream` that
//! a server can drive with `while let Some(conn) = incoming.next().await`.
//!
//! All three share one rule: when the process is out of file descriptors the listener stays
//! readable (the connection waits in the backlog), so retrying at once would spin at 100% CPU,
//! and returning the error invites the caller to do exactly that. Instead the accept waits,
//! from 1 ms doubling up to 100 ms between attempts, and succeeds as soon as a descriptor is
//! free again.

use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_lite::Stream;

use super::registered::{Registered, Wait};
use crate::reactor::Direction;
use crate::time::{sleep, Sleep};

/// The first pause after running out of descriptors, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(1);
const LONGEST_PAUSE: Duration = Duration::from_millis(100);

/// How long an accept loop that ran out of descriptors waits before its next attempt, kept
/// between polls.
#[derive(Debug)]
pub(crate) struct Patience {
    /// The pause after the next failure.
    pause: Duration,
    /// The pause in progress, if the last attempt ran out of descriptors.
    sleep: Option<Sleep>,
}

impl Patience {
    pub(crate) const fn new() -> Patience {
        Patience {
            pause: FIRST_PAUSE,
            sleep: None,
        }
    }

    /// Polls `attempt` (one poll of an accept) until it gives a connection or an error other
    /// than running out of descriptors (or kernel memory), pausing between attempts that do.
    pub(crate) fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        loop {
            if let Some(pause) = &mut self.sleep {
                ready!(Pin::new(pause).poll(cx));
                self.sleep = None;
            }
            match ready!(attempt(cx)) {
                Err(err) if out_of_resources(&err) => {
                    self.sleep = Some(sleep(self.pause));
                    self.pause = (self.pause * 2).min(LONGEST_PAUSE);
                }
                result => {
                    self.pause = FIRST_PAUSE;
                    return Poll::Ready(result);
                }
            }
        }
    }
}

fn out_of_resources(err: &io::Error) -> bool {
    use rustix::io::Errno;
    let exhausted = [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM];
    err.raw_os_error()
        .is_some_and(|code| exhausted.iter().any(|errno| errno.raw_os_error() == code))
}

/// What a listener type offers the shared accept code: its registered socket and one
/// non-blocking accept, made into nbio's stream type.
pub(crate) trait Listen {
    /// The std listener.
    type Socket: AsFd;
    /// What one accepted connection is.
    type Conn;
    /// The registered socket.
    fn registered(&self) -> &Registered<Self::Socket>;
    /// One non-blocking `accept(2)`, the connection wrapped for nbio.
    fn accept_once(socket: &Self::Socket) -> io::Result<Self::Conn>;
}

/// One poll of an accept on `listener`, waiting for readability in between and remembering
/// its waker in `filed`: the heart of `accept`, `poll_accept` and `Incoming`.
pub(crate) fn poll_accept_once<L: Listen>(
    listener: &L,
    cx: &mut Context<'_>,
    filed: &mut Option<std::task::Waker>,
) -> Poll<io::Result<L::Conn>> {
    let registered = listener.registered();
    registered.poll_io(Direction::Read, cx, filed, || {
        registered.try_io(Direction::Read, None, L::accept_once)
    })
}

/// `accept().await` for any listener: a fresh patience and a wait that takes its waker back
/// when the future is dropped.
pub(crate) async fn accept<L: Listen>(listener: &L) -> io::Result<L::Conn> {
    let mut patience = Patience::new();
    let mut wait = Wait::new(listener.registered(), Direction::Read);
    std::future::poll_fn(|cx| patience.poll(cx, |cx| poll_accept_once(listener, cx, wait.filed())))
        .await
}

/// The connections a listener accepts, one after the other, as a futures-lite [`Stream`]:
/// what `AsyncTcpListener::incoming` and `AsyncUnixListener::incoming` return (as an
/// `impl Stream`). It never ends by itself. Dropping it takes back the waker it filed with
/// the reactor.
pub(crate) struct Incoming<'a, L: Listen> {
    listener: &'a L,
    patience: Patience,
    wait: Wait<'a, L::Socket>,
}

impl<'a, L: Listen> Incoming<'a, L> {
    pub(crate) fn new(listener: &'a L) -> Incoming<'a, L> {
        Incoming {
            listener,
            patience: Patience::new(),
            wait: Wait::new(listener.registered(), Direction::Read),
        }
    }
}

impl<L: Listen> Stream for Incoming<'_, L> {
    type Item = io::Result<L::Conn>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let (listener, wait) = (this.listener, &mut this.wait);
        this.patience
            .poll(cx, |cx| poll_accept_once(listener, cx, wait.filed()))
            .map(Some)
    }
}
