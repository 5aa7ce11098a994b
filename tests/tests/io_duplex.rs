//! `nbio::io::duplex`: an in-memory pair of streams. What one end writes the other reads, in
//! order; a write waits while the peer holds `max_buf` unread bytes and is woken when it reads;
//! a read waits while there is nothing and is woken by a write; end of stream when the peer
//! closed or was dropped; `BrokenPipe` for a write to a dropped peer. (In the spirit of tokio's
//! tests/duplex_stream.rs.)

use std::future::Future;
use std::pin::{pin, Pin};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use nbio::io::{duplex, DuplexStream};
use nbio::task::WaitOn;
use nbio_tests::{eventually, WakeCounter};

#[test]
fn bytes_written_at_one_end_are_read_at_the_other_in_both_directions() {
    nbio::block_on(async {
        let (mut a, mut b) = duplex(32);
        a.write_all(b"ping").await.unwrap();
        b.write_all(b"pong").await.unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    });
}

#[test]
fn a_write_waits_while_the_peer_holds_max_buf_bytes_and_a_read_wakes_it() {
    let (mut a, mut b) = duplex(4);
    let counter = WakeCounter::new();
    let mut write = Box::pin(a.write_all(b"0123456789"));
    assert!(counter.poll(write.as_mut()).is_pending(), "4 of 10 fit");
    assert_eq!(counter.wakes(), 0);
    let mut buf = [0u8; 3];
    let read = futures_lite::future::block_on(b.read(&mut buf)).unwrap();
    assert_eq!(&buf[..read], b"012");
    assert_eq!(
        counter.wakes(),
        1,
        "the read made room: the writer is woken"
    );
    assert!(
        counter.poll(write.as_mut()).is_pending(),
        "3 more fit, 3 still wait"
    );
    let mut rest = Vec::new();
    let mut reading = pin!(b.read_to_end(&mut rest));
    assert!(counter.poll(reading.as_mut()).is_pending());
    assert!(counter.poll(write.as_mut()).is_ready());
    drop(write);
    drop(a);
    assert_eq!(
        futures_lite::future::block_on(reading).unwrap(),
        7,
        "the rest, then end of stream"
    );
    assert_eq!(rest, b"3456789");
}

#[test]
fn a_read_waits_while_empty_and_a_write_wakes_it() {
    let (mut a, mut b) = duplex(8);
    let counter = WakeCounter::new();
    let mut buf = [0u8; 8];
    let mut read = pin!(b.read(&mut buf));
    assert!(counter.poll(read.as_mut()).is_pending());
    futures_lite::future::block_on(a.write_all(b"x")).unwrap();
    assert_eq!(counter.wakes(), 1);
    assert!(matches!(
        counter.poll(read.as_mut()),
        std::task::Poll::Ready(Ok(1))
    ));
}

#[test]
fn closing_the_write_side_gives_end_of_stream_after_the_queued_bytes_and_reads_go_on() {
    nbio::block_on(async {
        let (mut a, mut b) = duplex(16);
        a.write_all(b"last").await.unwrap();
        a.close().await.unwrap();
        let mut got = Vec::new();
        assert_eq!(b.read_to_end(&mut got).await.unwrap(), 4);
        assert_eq!(got, b"last");
        let err = a.write(b"more").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        b.write_all(b"back").await.unwrap(); // the other direction is still open
        let mut buf = [0u8; 4];
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"back");
    });
}

#[test]
fn a_dropped_peer_is_end_of_stream_for_reads_and_broken_pipe_for_writes() {
    nbio::block_on(async {
        let (mut a, b) = duplex(16);
        drop(b);
        let mut buf = [0u8; 4];
        assert_eq!(a.read(&mut buf).await.unwrap(), 0);
        let err = a.write(b"x").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        assert!(err.to_string().contains("peer was dropped"), "{err}");
    });
}

#[test]
fn a_writer_waiting_for_room_fails_when_the_reader_is_dropped() {
    let (mut a, b) = duplex(2);
    let counter = WakeCounter::new();
    let mut write = pin!(a.write_all(b"abcd"));
    assert!(counter.poll(write.as_mut()).is_pending());
    drop(b);
    assert_eq!(counter.wakes(), 1, "the drop wakes the writer");
    let std::task::Poll::Ready(Err(err)) = counter.poll(write.as_mut()) else {
        panic!("the write goes on after its reader is gone");
    };
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
}

#[test]
fn duplex_streams_are_send_and_sync_and_carry_256_kib_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<DuplexStream>();
    let rt = nbio::Builder::new().worker_threads(2).build().unwrap();
    let data: Vec<u8> = (0..1 << 18).map(|i: u32| (i % 251) as u8).collect();
    let expected = data.clone();
    rt.block_on(async move {
        let (mut a, mut b) = duplex(100);
        let writer = nbio::spawn(async move {
            a.write_all(&data).await.unwrap();
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert!(got == expected, "the bytes arrived changed");
    });
}

#[test]
fn a_task_waiting_on_a_duplex_says_so_in_the_dump() {
    let rt = nbio::Runtime::new().unwrap();
    let (a, mut b) = duplex(8);
    let line = line!() - 1;
    let reader = rt.spawn(async move {
        let mut buf = [0u8; 1];
        b.read(&mut buf).await.unwrap()
    });
    let mut said = None;
    let settled = eventually(Duration::from_secs(10), || {
        rt.block_on(nbio::yield_now());
        said = rt
            .dump()
            .tasks()
            .iter()
            .find(|task| task.id == reader.id())
            .and_then(|task| task.waits_on);
        said.is_some()
    });
    assert!(settled.is_some(), "the reader says nothing:\n{}", rt.dump());
    let Some(WaitOn::Duplex { made_at: Some(at) }) = said else {
        panic!("the reader says {said:?}");
    };
    assert_eq!((at.file(), at.line()), (file!(), line));
    let text = rt.dump().to_string();
    assert!(text.contains("the other end of a duplex pair"), "{text}");
    drop(a);
    assert_eq!(rt.block_on(reader).unwrap(), 0);
}

#[test]
fn read_buf_appends_into_the_spare_capacity_only() {
    nbio::block_on(async {
        let (mut a, mut b) = duplex(64);
        a.write_all(b"0123456789").await.unwrap();
        let mut buf = Vec::with_capacity(4);
        buf.extend_from_slice(b"ab");
        assert_eq!(b.read_buf(&mut buf).await.unwrap(), 2, "room for 2");
        assert_eq!(buf, b"ab01");
        let mut full = Vec::new();
        assert_eq!(
            b.read_buf(&mut full).await.unwrap(),
            8,
            "no room: 8 KiB reserved"
        );
        assert_eq!(full, b"23456789");
        drop(a);
        assert_eq!(b.read_buf(&mut full).await.unwrap(), 0);
    });
}

#[test]
#[should_panic(expected = "max_buf must be at least 1")]
fn a_duplex_of_no_room_is_refused() {
    let _ = duplex(0);
}

/// A waker whose wake writes into the pipe its task waits on: had the duplex held its lock
/// while it woke the waker, the write would take the same lock and the thread would wait for
/// itself (the watchdog fails it instead of hanging).
#[test]
fn no_waker_is_woken_under_the_duplex_lock() {
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Wake, Waker};

    /// The writing end, which the waker writes through when woken.
    struct WritesWhenWoken(Mutex<Option<DuplexStream>>);

    impl Wake for WritesWhenWoken {
        fn wake(self: Arc<Self>) {
            if let Some(writer) = self.0.lock().unwrap().as_mut() {
                let mut cx = Context::from_waker(Waker::noop());
                let wrote = futures_lite::AsyncWrite::poll_write(Pin::new(writer), &mut cx, b"w");
                assert!(matches!(wrote, Poll::Ready(Ok(1))), "{wrote:?}");
            }
        }
    }

    nbio_tests::watchdog("duplex re-entrant waker", Duration::from_secs(10), || {
        let (mut a, mut b) = duplex(1);
        futures_lite::future::block_on(a.write_all(b"1")).unwrap(); // full
        let wakes = Arc::new(WritesWhenWoken(Mutex::new(None)));
        let waker = Waker::from(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        let mut write = Box::pin(a.write_all(b"2"));
        assert!(
            write.as_mut().poll(&mut cx).is_pending(),
            "full: the waker is filed"
        );
        drop(write);
        *wakes.0.lock().unwrap() = Some(a);
        let mut buf = [0u8; 1];
        // The read makes room and wakes the filed waker, which writes "w" into the room.
        assert_eq!(futures_lite::future::block_on(b.read(&mut buf)).unwrap(), 1);
        futures_lite::future::block_on(b.read(&mut buf)).unwrap();
        assert_eq!(&buf, b"w", "the waker wrote into the room the read made");
    });
}
