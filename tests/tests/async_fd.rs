//! `nbio::io::AsyncFd`: any descriptor with readiness (a pipe, an eventfd, a socket pair)
//! registered with the reactor; `readable()` waits for the kernel's word, `try_io`'s
//! `WouldBlock` clears it, descriptors epoll refuses fail at `new`, and `into_inner` gives the
//! descriptor back open.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nbio::io::{AsyncFd, Interest};
use nbio_tests::watched;

/// A pipe, both ends non-blocking.
fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two descriptors of the array we pass.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned by nobody else.
    unsafe {
        use std::os::fd::FromRawFd;
        (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1]))
    }
}

/// A non-blocking eventfd, as a `File` (so that `Read` and `Write` work on it).
fn eventfd() -> File {
    // SAFETY: eventfd takes no pointers; a negative result is checked below.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    assert!(fd >= 0, "eventfd: {}", std::io::Error::last_os_error());
    // SAFETY: the descriptor was just opened and is owned by nobody else.
    File::from(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

fn eventfd_add(fd: &impl AsFd, n: u64) {
    let mut writer = File::from(fd.as_fd().try_clone_to_owned().unwrap());
    writer.write_all(&n.to_ne_bytes()).unwrap();
}

#[test]
fn a_pipe_is_read_when_the_kernel_says_it_is_readable() {
    watched(|| {
        nbio::block_on(async {
            let (reader, mut writer) = pipe();
            let reader = AsyncFd::new(reader)?;
            let writing = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                writer.write_all(b"through the pipe")
            });
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                let n = reader
                    .async_io(Interest::READABLE, |mut inner| inner.read(&mut buf))
                    .await?;
                if n == 0 {
                    break; // the writer closed its end
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, b"through the pipe");
            writing.join().unwrap()
        })
        .unwrap()
    });
}

#[test]
fn readable_waits_for_the_kernel_and_a_would_block_clears_it() {
    watched(|| {
        nbio::block_on(async {
            let fd = AsyncFd::new(eventfd())?;
            // Nothing was written: readable() must not resolve on a guess.
            let early = nbio::time::timeout(Duration::from_millis(30), fd.readable()).await;
            assert!(early.is_err(), "readable() resolved with nothing to read");
            eventfd_add(&fd, 3);
            fd.readable().await?;
            let mut counter = [0u8; 8];
            let read = fd.try_io(Interest::READABLE, |mut inner| inner.read(&mut counter))?;
            assert_eq!((read, u64::from_ne_bytes(counter)), (8, 3));
            // Drained: the next attempt gets WouldBlock, which clears readiness...
            let again = fd.try_io(Interest::READABLE, |mut inner| inner.read(&mut counter));
            assert_eq!(again.unwrap_err().kind(), ErrorKind::WouldBlock);
            // ...so readable() waits again until the next write.
            let stale = nbio::time::timeout(Duration::from_millis(30), fd.readable()).await;
            assert!(stale.is_err(), "readable() stayed ready after WouldBlock");
            eventfd_add(&fd, 1);
            fd.readable().await?;
            std::io::Result::Ok(())
        })
        .unwrap()
    });
}

#[test]
fn a_socket_pair_is_writable_at_once_and_the_poll_forms_agree() {
    watched(|| {
        nbio::block_on(async {
            let (a, b) = UnixStream::pair()?;
            a.set_nonblocking(true)?;
            let a = AsyncFd::new(a)?;
            a.writable().await?;
            std::future::poll_fn(|cx| a.poll_write_ready(cx)).await?;
            let n = a.try_io(Interest::WRITABLE, |mut inner| inner.write(b"x"))?;
            assert_eq!(n, 1);
            drop(b);
            // The peer is gone: readable (end of stream).
            std::future::poll_fn(|cx| a.poll_read_ready(cx)).await?;
            std::io::Result::Ok(())
        })
        .unwrap()
    });
}

#[test]
fn a_regular_file_is_refused_at_new_with_a_clear_error() {
    nbio::block_on(async {
        let file = File::open(std::env::current_exe().unwrap()).unwrap();
        let err = AsyncFd::new(file).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let message = err.to_string();
        assert!(
            message.contains("epoll refuses it") && message.contains("nbio::fs"),
            "{message}"
        );
    });
}

#[test]
fn new_outside_a_runtime_is_an_error_that_says_so() {
    let err = AsyncFd::new(eventfd()).unwrap_err();
    assert!(err.to_string().contains("needs an nbio runtime"), "{err}");
}

#[test]
fn into_inner_deregisters_and_gives_the_descriptor_back_open() {
    watched(|| {
        nbio::block_on(async {
            let fd = AsyncFd::new(eventfd())?;
            let raw = fd.as_raw_fd();
            let owned = fd.into_inner();
            assert_eq!(owned.as_raw_fd(), raw);
            // Still open, and registering it again works (it was deleted from the poller).
            eventfd_add(&owned, 2);
            let fd = AsyncFd::new(owned)?;
            fd.readable().await?;
            assert_eq!(fd.get_ref().as_raw_fd(), raw);
            std::io::Result::Ok(())
        })
        .unwrap()
    });
}

#[test]
fn a_task_waiting_on_an_fd_is_woken_from_another_thread_while_the_runtime_sleeps() {
    watched(|| {
        nbio::block_on(async {
            let fd = AsyncFd::new(eventfd())?;
            let writer = fd.as_fd().try_clone_to_owned()?;
            let waiter = nbio::spawn(async move { fd.readable().await });
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                eventfd_add(&writer, 1);
            });
            waiter.await.unwrap()
        })
        .unwrap()
    });
}
