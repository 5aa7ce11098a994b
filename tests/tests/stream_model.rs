//! A fuzz-style state-machine check of the stream path: random sequences of partial reads,
//! partial writes, `WouldBlock`s, half-closes, closes and resets drive a real socket pair
//! (TCP or Unix), and every byte that comes out is compared with a reference model of what went
//! in. No byte may be lost, duplicated, reordered or invented, and nothing may hang.
//!
//! Each operation is either polled exactly once (the way a `select` or a `timeout` abandons a
//! read or a write half-way) or awaited to the end. A single poll that returns `Pending` must
//! have moved no byte; one that returns `Ready` must have moved exactly what it says. While an
//! awaited operation waits, the other direction is read meanwhile, as a real peer would (see
//! `Case::way_back` for the TCP stall this avoids). Small socket buffers make partial writes
//! and `WouldBlock`s common. Proptest draws the sequences
//! and shrinks a failing one to a shortest failing sequence; `PROPTEST_CASES` sets how many
//! are tried (default 256). The test also counts what the sequences exercised, and fails if a
//! kind of event it exists to exercise (a partial write, a `Pending` read, a reset) never
//! happened.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, ErrorKind};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use futures_lite::future::{or, poll_once, zip};
use nbio::net::{AsyncTcpStream, AsyncUnixStream};
use nbio::time::timeout;
use nbio_tests::{
    restore_default_sigpipe, set_linger_zero, set_recv_buffer, set_send_buffer, slowdown, watched,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Which end of the pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    A,
    B,
}

impl Side {
    fn index(self) -> usize {
        self as usize
    }

    fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    /// Both ends with small buffers and `SO_LINGER` zero, so that closing one is a reset.
    Tcp,
    /// A `socketpair` with a small send buffer; closing one end is an orderly close.
    Unix,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// One poll of `write` with `len` bytes.
    Write { from: Side, len: usize },
    /// One poll of `read` into a buffer of `len` bytes.
    Read { at: Side, len: usize },
    /// `read` awaited, when the model says something (data or the end) will come.
    ReadWaiting { at: Side, len: usize },
    /// `write_all` of `len` bytes awaited, while the peer reads everything that is in flight.
    Transfer { from: Side, len: usize },
    /// Lets the reactor deliver what the kernel reported.
    Yield,
    /// `shutdown(Write)`: the peer reads what is in flight, then the end of the stream.
    ShutdownWrite { side: Side },
    /// Drops one end: a reset for TCP, a close for Unix.
    Close { side: Side },
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::A), Just(Side::B)]
}

/// Lengths from one byte to several times the socket buffers, most of them small.
fn len() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 1..512usize, 2 => 512..16_384usize, 1 => 16_384..200_000usize]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (side(), len()).prop_map(|(from, len)| Op::Write { from, len }),
        6 => (side(), len()).prop_map(|(at, len)| Op::Read { at, len }),
        3 => (side(), len()).prop_map(|(at, len)| Op::ReadWaiting { at, len }),
        2 => (side(), len()).prop_map(|(from, len)| Op::Transfer { from, len }),
        4 => Just(Op::Yield),
        1 => side().prop_map(|side| Op::ShutdownWrite { side }),
        1 => side().prop_map(|side| Op::Close { side }),
    ]
}

fn transport() -> impl Strategy<Value = Transport> {
    prop_oneof![Just(Transport::Tcp), Just(Transport::Unix)]
}

/// One end of the pair, either kind.
enum Stream {
    Tcp(AsyncTcpStream),
    Unix(AsyncUnixStream),
}

impl Stream {
    async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf).await,
            Stream::Unix(s) => s.read(buf).await,
        }
    }

    async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf).await,
            Stream::Unix(s) => s.write(buf).await,
        }
    }

    async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf).await,
            Stream::Unix(s) => s.write_all(buf).await,
        }
    }

    fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
        }
    }
}

fn pair(transport: Transport) -> [Option<Stream>; 2] {
    match transport {
        Transport::Tcp => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let a = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (b, _) = listener.accept().unwrap();
            [a, b].map(|s| {
                // Small windows make TCP's own timers (zero-window probes, delayed ACKs, ~200 ms)
                // part of most sequences, at no gain; these are small enough for WouldBlock.
                set_send_buffer(&s, 32 * 1024).unwrap();
                set_recv_buffer(&s, 32 * 1024).unwrap();
                s.set_nodelay(true).unwrap();
                set_linger_zero(&s).unwrap();
                Some(Stream::Tcp(AsyncTcpStream::from_std(s).unwrap()))
            })
        }
        Transport::Unix => {
            let (a, b) = UnixStream::pair().unwrap();
            [a, b].map(|s| {
                set_send_buffer(&s, 8 * 1024).unwrap();
                Some(Stream::Unix(AsyncUnixStream::from_std(s).unwrap()))
            })
        }
    }
}

/// The reference model of one direction of the pair.
#[derive(Default)]
struct Direction {
    /// Bytes written and not read yet, in order.
    in_flight: VecDeque<u8>,
    /// Bytes ever written in this direction: the position of the next one.
    written: u64,
    /// The writer shut down its write half.
    shut: bool,
    /// The writer's end was closed (for TCP: reset). What was in flight may be cut short.
    writer_gone: bool,
    /// The reader's end was closed: writes go nowhere.
    reader_gone: bool,
    /// The reader saw the end (or an error): nothing may come after it.
    ended: bool,
}

impl std::fmt::Debug for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direction")
            .field("in_flight", &self.in_flight.len())
            .field("written", &self.written)
            .field("shut", &self.shut)
            .field("writer_gone", &self.writer_gone)
            .field("reader_gone", &self.reader_gone)
            .field("ended", &self.ended)
            .finish()
    }
}

/// Byte `pos` of direction `dir`: no period a chunk could hide in.
fn byte(dir: usize, pos: u64) -> u8 {
    let mixed = (pos ^ (dir as u64) << 40).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 56) as u8
}

/// What the sequences exercised, over every case.
#[derive(Default)]
struct Coverage {
    partial_writes: AtomicUsize,
    pending_writes: AtomicUsize,
    partial_reads: AtomicUsize,
    pending_reads: AtomicUsize,
    ends_read: AtomicUsize,
    errors_after_reset: AtomicUsize,
    transfers: AtomicUsize,
    bytes_checked: AtomicUsize,
}

static COVERAGE: Coverage = Coverage {
    partial_writes: AtomicUsize::new(0),
    pending_writes: AtomicUsize::new(0),
    partial_reads: AtomicUsize::new(0),
    pending_reads: AtomicUsize::new(0),
    ends_read: AtomicUsize::new(0),
    errors_after_reset: AtomicUsize::new(0),
    transfers: AtomicUsize::new(0),
    bytes_checked: AtomicUsize::new(0),
};

fn count(counter: &AtomicUsize, n: usize) {
    counter.fetch_add(n, Relaxed);
}

fn is_peer_gone(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}

/// How long an awaited operation may take before the case counts as a hang. Nothing here
/// waits on anything slower than the loopback.
fn patience() -> Duration {
    Duration::from_secs(5) * slowdown()
}

/// The pair and its model.
struct Case {
    streams: [Option<Stream>; 2],
    /// `dirs[0]`: A to B; `dirs[1]`: B to A.
    dirs: [Direction; 2],
}

type Checked = Result<(), String>;

impl Case {
    fn dir(&mut self, from: Side) -> &mut Direction {
        &mut self.dirs[from.index()]
    }

    fn next_bytes(&self, from: Side, len: usize) -> Vec<u8> {
        let start = self.dirs[from.index()].written;
        (0..len as u64)
            .map(|i| byte(from.index(), start + i))
            .collect()
    }

    /// Checks what a read at `at` returned against the model, and updates it.
    fn check_read(&mut self, at: Side, result: io::Result<usize>, buf: &[u8]) -> Checked {
        let dir = self.dir(at.other());
        match result {
            Ok(0) => {
                let may_end = (dir.shut && dir.in_flight.is_empty()) || dir.writer_gone;
                if !may_end {
                    return Err(format!(
                        "read at {at:?} gave end of stream with {} bytes in flight and the \
                         writer still there ({dir:?})",
                        dir.in_flight.len()
                    ));
                }
                dir.ended = true;
                count(&COVERAGE.ends_read, 1);
            }
            Ok(n) => {
                if dir.ended {
                    return Err(format!("read at {at:?} gave {n} bytes after the end"));
                }
                if n > dir.in_flight.len() {
                    return Err(format!(
                        "read at {at:?} gave {n} bytes, only {} in flight: invented or \
                         duplicated",
                        dir.in_flight.len()
                    ));
                }
                if n < dir.in_flight.len() {
                    count(&COVERAGE.partial_reads, 1);
                }
                for (i, (&got, want)) in buf[..n].iter().zip(dir.in_flight.drain(..n)).enumerate() {
                    if got != want {
                        return Err(format!(
                            "read at {at:?}: byte {i} of {n} is {got:#04x}, the model says \
                             {want:#04x}: lost, duplicated or reordered"
                        ));
                    }
                }
                count(&COVERAGE.bytes_checked, n);
            }
            Err(err) if dir.writer_gone && is_peer_gone(&err) => {
                dir.ended = true;
                count(&COVERAGE.errors_after_reset, 1);
            }
            Err(err) => return Err(format!("read at {at:?} failed: {err:?} ({dir:?})")),
        }
        Ok(())
    }

    /// Checks what a write from `from` returned, and updates the model.
    fn check_write(&mut self, from: Side, len: usize, result: io::Result<usize>) -> Checked {
        let dir = self.dir(from);
        let dead_end = dir.shut || dir.reader_gone;
        match result {
            Ok(n) if dir.shut => Err(format!("write of {n} bytes after shutdown succeeded")),
            Ok(_) if dir.reader_gone => Ok(()), // into a socket whose peer is gone: lost
            Ok(n) if n == 0 || n > len => Err(format!("write of {len} bytes returned {n}")),
            Ok(n) => {
                if n < len {
                    count(&COVERAGE.partial_writes, 1);
                }
                let start = dir.written;
                dir.in_flight
                    .extend((0..n as u64).map(|i| byte(from.index(), start + i)));
                dir.written += n as u64;
                Ok(())
            }
            Err(err) if dead_end && is_peer_gone(&err) => Ok(()),
            Err(err) => Err(format!("write from {from:?} failed: {err:?} ({dir:?})")),
        }
    }

    async fn apply(&mut self, op: Op) -> Checked {
        match op {
            Op::Write { from, len } => {
                let Some(stream) = &self.streams[from.index()] else {
                    return Ok(());
                };
                let data = self.next_bytes(from, len);
                match poll_once(stream.write(&data)).await {
                    Some(result) => self.check_write(from, len, result)?,
                    None => count(&COVERAGE.pending_writes, 1),
                }
            }
            Op::Read { at, len } => {
                let Some(stream) = &self.streams[at.index()] else {
                    return Ok(());
                };
                let mut buf = vec![0u8; len];
                match poll_once(stream.read(&mut buf)).await {
                    Some(result) => self.check_read(at, result, &buf)?,
                    None => count(&COVERAGE.pending_reads, 1),
                }
            }
            Op::ReadWaiting { at, len } => {
                let dir = &self.dirs[at.other().index()];
                let something_will_come = !dir.in_flight.is_empty() || dir.shut || dir.writer_gone;
                let Some(stream) = &self.streams[at.index()] else {
                    return Ok(());
                };
                if !something_will_come || dir.ended {
                    return Ok(());
                }
                let mut buf = vec![0u8; len];
                let (back_reader, back_bytes) = self.way_back(at);
                let back = RefCell::new(Vec::new());
                let reading = or(
                    stream.read(&mut buf),
                    read_meanwhile(back_reader, back_bytes, &back),
                );
                let result = timeout(patience(), reading)
                    .await
                    .map_err(|_| format!("a read at {at:?} waited forever ({dir:?})"))?;
                self.check_read(at, result, &buf)?;
                self.check_way_back(at, back.into_inner())?;
            }
            Op::Transfer { from, len } => self.transfer(from, len).await?,
            Op::Yield => nbio::yield_now().await,
            Op::ShutdownWrite { side } => {
                let Some(stream) = &self.streams[side.index()] else {
                    return Ok(());
                };
                let result = stream.shutdown_write();
                let dir = self.dir(side);
                match result {
                    Ok(()) => dir.shut = true,
                    // Once both halves are shut (or the peer is gone) TCP has no connection
                    // left to shut down.
                    Err(err)
                        if (dir.shut || dir.reader_gone)
                            && err.kind() == ErrorKind::NotConnected =>
                    {
                        dir.shut = true
                    }
                    Err(err) => return Err(format!("shutdown at {side:?} failed: {err:?}")),
                }
            }
            Op::Close { side } => {
                if self.streams[side.index()].take().is_some() {
                    self.dir(side).writer_gone = true;
                    self.dir(side.other()).reader_gone = true;
                }
            }
        }
        Ok(())
    }

    /// While a task waits for bytes to come to `reader`, what is in flight the other way is
    /// read meanwhile (as a real peer would). Without that, a TCP peer whose receive buffer
    /// stays full drops the segments that carry `reader`'s window updates, and learns only
    /// from its persist timer (seconds, doubling) that it may send again: the kernel's doing,
    /// not nbio's; a plain `select` loop stalls the same way. Returns the stream that reads the
    /// way back and how many bytes at most; no stream if that direction is closed, cut short or
    /// has no reader left.
    fn way_back(&self, reader: Side) -> (Option<&Stream>, usize) {
        let back = &self.dirs[reader.index()];
        let peer = self.streams[reader.other().index()].as_ref();
        if back.writer_gone || back.ended || peer.is_none() {
            return (None, 0);
        }
        (peer, back.in_flight.len())
    }

    /// Checks the bytes read the way back to `reader`'s peer (see [`Case::way_back`]): they
    /// must be what the model has in flight, from the front.
    fn check_way_back(&mut self, reader: Side, back: Vec<u8>) -> Checked {
        let dir = self.dir(reader);
        if back.len() > dir.in_flight.len()
            || !back.iter().eq(dir.in_flight.iter().take(back.len()))
        {
            return Err(format!(
                "the way back to {:?} delivered {} bytes that are not the {} in flight",
                reader.other(),
                back.len(),
                dir.in_flight.len()
            ));
        }
        count(&COVERAGE.bytes_checked, back.len());
        dir.in_flight.drain(..back.len());
        Ok(())
    }

    /// `write_all` from `from` while the peer reads everything in flight plus the new bytes.
    async fn transfer(&mut self, from: Side, len: usize) -> Checked {
        let dir = &self.dirs[from.index()];
        let (Some(writer), Some(reader)) = (
            &self.streams[from.index()],
            &self.streams[from.other().index()],
        ) else {
            return Ok(());
        };
        if dir.shut || dir.ended {
            return Ok(());
        }
        let data = self.next_bytes(from, len);
        let expected: Vec<u8> = dir
            .in_flight
            .iter()
            .copied()
            .chain(data.iter().copied())
            .collect();
        let (back_reader, back_bytes) = self.way_back(from.other());
        let back = RefCell::new(Vec::new());
        let moves = or(
            zip(writer.write_all(&data), read_up_to(reader, expected.len())),
            read_meanwhile(back_reader, back_bytes, &back),
        );
        let (written, read) = timeout(patience(), moves)
            .await
            .map_err(|_| format!("a transfer of {len} bytes from {from:?} never finished"))?;
        self.check_way_back(from.other(), back.into_inner())?;
        written.map_err(|err| format!("write_all from {from:?} failed: {err:?}"))?;
        let got = read.map_err(|err| format!("reading a transfer failed: {err:?}"))?;
        if got != expected {
            let at = got.iter().zip(&expected).position(|(a, b)| a != b);
            return Err(format!(
                "a transfer from {from:?} delivered {} of {} bytes, first difference at {at:?}",
                got.len(),
                expected.len()
            ));
        }
        count(&COVERAGE.transfers, 1);
        count(&COVERAGE.bytes_checked, got.len());
        let dir = self.dir(from);
        dir.in_flight.clear();
        dir.written += len as u64;
        Ok(())
    }

    /// At the end: every direction whose ends are both there is shut down and read to its end,
    /// which must bring exactly what is in flight; one whose writer is gone is read to its end
    /// too, which may come early (a reset) but may bring nothing the model does not expect.
    async fn drain(&mut self) -> Checked {
        for from in [Side::A, Side::B] {
            if self.streams[from.other().index()].is_none() {
                continue;
            }
            if self.streams[from.index()].is_some() && !self.dirs[from.index()].shut {
                self.apply(Op::ShutdownWrite { side: from }).await?;
            }
            while !self.dirs[from.index()].ended {
                self.apply(Op::ReadWaiting {
                    at: from.other(),
                    len: 64 * 1024,
                })
                .await?;
            }
            let dir = &self.dirs[from.index()];
            if !dir.writer_gone && !dir.in_flight.is_empty() {
                return Err(format!(
                    "{} bytes from {from:?} never arrived before the end of the stream",
                    dir.in_flight.len()
                ));
            }
        }
        Ok(())
    }
}

/// Reads until `wanted` bytes came or the stream ended.
async fn read_up_to(stream: &Stream, wanted: usize) -> io::Result<Vec<u8>> {
    let mut got = Vec::with_capacity(wanted);
    let mut buf = vec![0u8; 64 * 1024];
    while got.len() < wanted {
        let want = (wanted - got.len()).min(buf.len());
        match stream.read(&mut buf[..want]).await? {
            0 => break,
            n => got.extend_from_slice(&buf[..n]),
        }
    }
    Ok(got)
}

/// Reads up to `most` bytes into `got` as they come, and never completes: it runs beside
/// another operation and is dropped when that one completes. Stops reading at the end of the
/// stream or an error (the operations that follow see them).
async fn read_meanwhile<T>(stream: Option<&Stream>, most: usize, got: &RefCell<Vec<u8>>) -> T {
    if let Some(stream) = stream {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let want = (most - got.borrow().len()).min(buf.len());
            if want == 0 {
                break;
            }
            match stream.read(&mut buf[..want]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.borrow_mut().extend_from_slice(&buf[..n]),
            }
        }
    }
    std::future::pending().await
}

fn run_case(transport: Transport, ops: Vec<Op>) -> Checked {
    nbio::block_on(async {
        let mut case = Case {
            streams: pair(transport),
            dirs: Default::default(),
        };
        for (i, op) in ops.iter().enumerate() {
            case.apply(*op)
                .await
                .map_err(|err| format!("step {i} ({op:?}): {err}"))?;
        }
        case.drain().await.map_err(|err| format!("draining: {err}"))
    })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(256)
}

#[test]
fn random_partial_reads_writes_would_blocks_and_resets_never_lose_or_duplicate_a_byte() {
    // A write that raised SIGPIPE would end the process instead of returning an error.
    restore_default_sigpipe();
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        // A failing sequence that hangs costs `patience()` per shrinking step: keep it bounded.
        max_shrink_iters: 256,
        ..Config::default()
    });
    let sequences = (transport(), prop::collection::vec(op(), 1..64));
    let result = runner.run(&sequences, |(transport, ops)| {
        watched(move || run_case(transport, ops)).map_err(TestCaseError::fail)
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let c = &COVERAGE;
    let seen = |counter: &AtomicUsize| counter.load(Relaxed);
    eprintln!(
        "{} sequences: {} bytes checked; {} partial writes, {} pending writes, {} partial \
         reads, {} pending reads, {} ends of stream, {} errors after a reset, {} transfers",
        cases(),
        seen(&c.bytes_checked),
        seen(&c.partial_writes),
        seen(&c.pending_writes),
        seen(&c.partial_reads),
        seen(&c.pending_reads),
        seen(&c.ends_read),
        seen(&c.errors_after_reset),
        seen(&c.transfers),
    );
    if cases() >= 64 {
        for (what, counter) in [
            ("a partial write", &c.partial_writes),
            ("a pending write", &c.pending_writes),
            ("a partial read", &c.partial_reads),
            ("a pending read", &c.pending_reads),
            ("an end of stream", &c.ends_read),
            ("an error after a reset", &c.errors_after_reset),
            ("a transfer", &c.transfers),
        ] {
            assert!(
                seen(counter) > 0,
                "no sequence produced {what}: the check is too weak"
            );
        }
    }
}
