//! 200 children at once, each exit checked, and no thread per child: the exits are pidfd
//! events on the reactor. Its own test binary, so that the threads counted are this test's.

use std::io;

use nbio::process::Command;
use nbio::{Builder, Runtime};
use nbio_tests::watched;

fn threads_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Whether this kernel (or valgrind, which does not know the call) gives pidfds.
fn kernel_gives_pidfds() -> bool {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; the
    // descriptor, ours alone, is closed at once.
    unsafe {
        let fd = libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0);
        if fd < 0 {
            return false;
        }
        libc::close(fd as libc::c_int);
    }
    true
}

fn two_hundred_children_at_once(rt: Runtime, pool: bool) {
    let pidfds = !pool && kernel_gives_pidfds();
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
            let watch = format!("{child:?}");
            assert_eq!(watch.contains("pidfd"), pidfds, "{watch}");
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
    println!("200 children, pidfds = {pidfds}: at most {most} threads, {before} before");
    if pidfds {
        // The runtime's own threads and a few pool threads at most: none per child.
        assert!(
            most < before + 16,
            "{most} threads (from {before}) for 200 children"
        );
    }
}

/// One test, so that no other test's threads are counted: the pidfd runs first, on both
/// flavours, then the pool (a thread per child, as documented for kernels without pidfds).
/// Where the kernel gives no pidfds (under valgrind 3.19, which does not know the call), every
/// child takes the pool's path, and the thread count is not bounded.
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
