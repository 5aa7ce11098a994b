//! 200 children at once, each exit checked, and no thread per child: the exits are pidfd
//! events on the reactor. Its own test binary, so that the threads counted are this test's.

use std::io;

use nbio::process::Command;
use nbio::{Builder, Runtime};
use nbio_tests::watched;

fn threads_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn two_hundred_children_at_once(rt: Runtime, pool: bool) {
    let before = threads_of_this_process();
    let most = rt.block_on(async move {
        let mut waits = Vec::new();
        for n in 0..200u32 {
            let mut command = Command::new("sh");
            command.args(["-c", &format!("sleep 0.2; exit {}", n % 256)]);
            if pool {
                command.wait_on_pool_for_tests();
            }
            let mut child = command.spawn()?;
            waits.push(nbio::spawn(async move { child.wait().await }));
        }
        let mut most = 0;
        for (n, wait) in waits.into_iter().enumerate() {
            most = most.max(threads_of_this_process());
            let status = wait.await.unwrap()?;
            assert_eq!(status.code(), Some(n as i32), "child {n}: {status}");
        }
        io::Result::Ok(most)
    });
    let most = most.unwrap();
    if !pool {
        // The runtime's own threads and a few pool threads at most: none per child.
        assert!(
            most < before + 16,
            "{most} threads (from {before}) for 200 children"
        );
    }
}

/// One test, so that no other test's threads are counted: the pidfd runs first, on both
/// flavours, then the pool (a thread per child, as documented for kernels without pidfds).
#[test]
fn two_hundred_children_at_once_report_their_exit_codes_and_take_no_thread_each() {
    watched(|| two_hundred_children_at_once(Runtime::new().unwrap(), false));
    watched(|| {
        let rt = Builder::new().worker_threads(2).build().unwrap();
        two_hundred_children_at_once(rt, false)
    });
    watched(|| {
        let rt = Builder::new().worker_threads(2).build().unwrap();
        two_hundred_children_at_once(rt, true)
    });
}
