//! A task whose socket is always ready still lets the others run: each poll may complete a
//! bounded number of socket operations before the task yields.

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use nbio::net::AsyncTcpStream;

#[test]
fn a_reader_of_an_always_ready_socket_does_not_starve_a_timer_task() {
    const BYTES: usize = 1 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let writer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(&vec![1u8; BYTES]).unwrap();
    });
    let ticks_while_reading = nbio::block_on(async move {
        let stream = AsyncTcpStream::connect(addr).await.unwrap();
        // Let the whole megabyte arrive first: from then on every read succeeds at once.
        nbio::time::sleep(Duration::from_millis(100)).await;
        let ticks = Arc::new(AtomicUsize::new(0));
        let counter = nbio::spawn({
            let ticks = Arc::clone(&ticks);
            async move {
                loop {
                    nbio::time::sleep(Duration::from_millis(1)).await;
                    ticks.fetch_add(1, Relaxed);
                }
            }
        });
        let reader = nbio::spawn(async move {
            let mut byte = [0u8; 1];
            let mut total = 0;
            while total < BYTES {
                total += stream.read(&mut byte).await.unwrap();
            }
            total
        });
        assert_eq!(reader.await.unwrap(), BYTES);
        counter.abort();
        ticks.load(Relaxed)
    });
    writer.join().unwrap();
    // A million one-byte reads take hundreds of milliseconds; without the budget the reader
    // would finish them all in its first poll and the counter would not tick once meanwhile.
    assert!(
        ticks_while_reading >= 5,
        "the counter ticked {ticks_while_reading} times while the reader ran"
    );
}
