//! Descriptor passing (`SCM_RIGHTS`) on Unix streams and datagrams: a pipe's write end and a
//! file go across and work on the other side; received descriptors are close-on-exec; too
//! many or no bytes are refused; a dropped receive loses nothing.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::pin::pin;

use futures_lite::future::poll_once;
use nbio::net::{AsyncUnixDatagram, AsyncUnixStream};
use nbio_tests::{watched, TempDir};

fn is_cloexec(fd: &OwnedFd) -> bool {
    // SAFETY: F_GETFD on a descriptor `fd` owns and keeps open reads its flags, nothing more.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    assert!(flags >= 0, "fcntl: {}", io::Error::last_os_error());
    flags & libc::FD_CLOEXEC != 0
}

#[test]
fn a_pipes_write_end_goes_over_a_stream_and_writes_into_the_pipe() {
    let result = watched(|| {
        nbio::block_on(async {
            let (a, b) = AsyncUnixStream::pair()?;
            let (reader, writer) = io::pipe()?;
            assert_eq!(a.send_with_fds(b"pipe", &[writer.as_fd()]).await?, 4);
            drop(writer); // the receiver's copy keeps the pipe open
            let mut buf = [0u8; 16];
            let (n, mut fds) = b.recv_with_fds(&mut buf).await?;
            assert_eq!(&buf[..n], b"pipe");
            assert_eq!(fds.len(), 1);
            let received = fds.pop().unwrap();
            assert!(is_cloexec(&received));
            let mut received = io::PipeWriter::from(received);
            received.write_all(b"through the passed end")?;
            drop(received);
            let mut text = String::new();
            let mut reader = reader;
            reader.read_to_string(&mut text)?;
            assert_eq!(text, "through the passed end");
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn a_file_goes_over_a_datagram_sharing_its_offset() {
    let dir = TempDir::new();
    let path = dir.path().join("shared.txt");
    let result = watched(move || {
        nbio::block_on(async move {
            std::fs::write(&path, b"0123456789")?;
            let mut file = File::open(&path)?;
            let (a, b) = AsyncUnixDatagram::pair()?;
            a.send_with_fds(b"file", &[file.as_fd()]).await?;
            let mut buf = [0u8; 16];
            let (n, fds) = b.recv_with_fds(&mut buf).await?;
            assert_eq!((&buf[..n], fds.len()), (&b"file"[..], 1));
            let mut received = File::from(fds.into_iter().next().unwrap());
            let mut first = [0u8; 4];
            received.read_exact(&mut first)?;
            assert_eq!(&first, b"0123");
            // One open file, two descriptors: the offset moved for both.
            assert_eq!(file.stream_position()?, 4);
            file.seek(SeekFrom::Start(8))?;
            let mut rest = String::new();
            received.read_to_string(&mut rest)?;
            assert_eq!(rest, "89");
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn several_descriptors_and_none_in_one_call() {
    let result = watched(|| {
        nbio::block_on(async {
            let (a, b) = AsyncUnixDatagram::pair()?;
            let pipes: Vec<_> = (0..3).map(|_| io::pipe()).collect::<io::Result<_>>()?;
            let ends: Vec<BorrowedFd<'_>> = pipes.iter().map(|(_, w)| w.as_fd()).collect();
            a.send_with_fds(b"three", &ends).await?;
            a.send_with_fds(b"none", &[]).await?;
            let mut buf = [0u8; 16];
            let (n, fds) = b.recv_with_fds(&mut buf).await?;
            assert_eq!((&buf[..n], fds.len()), (&b"three"[..], 3));
            assert!(fds.iter().all(is_cloexec));
            let (n, fds) = b.recv_with_fds(&mut buf).await?;
            assert_eq!((&buf[..n], fds.len()), (&b"none"[..], 0));
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn too_many_descriptors_or_no_bytes_is_invalid_input() {
    let result = watched(|| {
        nbio::block_on(async {
            let (a, _b) = AsyncUnixStream::pair()?;
            let (_reader, writer) = io::pipe()?;
            let many = vec![writer.as_fd(); 254];
            let err = a.send_with_fds(b"x", &many).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(err.to_string().contains("at most 253"), "{err}");
            // 253 is allowed.
            a.send_with_fds(b"x", &many[..253]).await?;
            let err = a.send_with_fds(b"", &[writer.as_fd()]).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            io::Result::Ok(())
        })
    });
    result.unwrap();
}

#[test]
fn a_dropped_recv_with_fds_loses_neither_bytes_nor_descriptors() {
    let result = watched(|| {
        nbio::block_on(async {
            let (a, b) = AsyncUnixStream::pair()?;
            let (reader, writer) = io::pipe()?;
            let mut buf = [0u8; 16];
            {
                let mut recv = pin!(b.recv_with_fds(&mut buf));
                assert!(poll_once(recv.as_mut()).await.is_none());
                a.send_with_fds(b"late", &[writer.as_fd()]).await?;
            }
            drop(writer);
            let (n, fds) = b.recv_with_fds(&mut buf).await?;
            assert_eq!((&buf[..n], fds.len()), (&b"late"[..], 1));
            drop(fds);
            // Every write end is closed now: the pipe reads end of file.
            let mut rest = Vec::new();
            let mut reader = reader;
            reader.read_to_end(&mut rest)?;
            assert!(rest.is_empty());
            io::Result::Ok(())
        })
    });
    result.unwrap();
}
