//! What every stream's `read_buf` shares: the spare capacity of a `Vec<u8>` as the buffer of
//! one non-blocking read, and the length grown only by what the read returned.
//!
//! The obvious way to read into a growable buffer (resize with zeros, read, truncate to what
//! came) is not cancel-safe when the read is a future: dropped between the resize and the
//! truncate, it leaves zeros in the buffer as if they had been read. Here the length changes
//! once, in the same poll as the syscall that filled the bytes, so there is no such moment.

use std::io;
use std::mem::MaybeUninit;
use std::task::Poll;

/// How much `read_buf` reserves when the buffer has no spare capacity: one read's worth for a
/// line or a frame, and what `copy` reads at a time.
pub(crate) const RESERVE: usize = 8 * 1024;

/// Makes sure `buf` has spare capacity: if it has none, reserves [`RESERVE`] bytes.
pub(crate) fn reserve_some(buf: &mut Vec<u8>) {
    if buf.capacity() == buf.len() {
        buf.reserve(RESERVE);
    }
}

/// One poll of a read into `buf`'s spare capacity through `read`, which must return how many
/// bytes at the front of the slice it initialised (a read syscall: the kernel only writes).
/// The length of `buf` grows by that count when, and only when, the read is ready.
pub(crate) fn poll_into_spare(
    buf: &mut Vec<u8>,
    read: impl FnOnce(&mut [MaybeUninit<u8>]) -> Poll<io::Result<usize>>,
) -> Poll<io::Result<usize>> {
    reserve_some(buf);
    let spare = buf.spare_capacity_mut();
    let room = spare.len();
    let ready = read(spare);
    if let Poll::Ready(Ok(n)) = ready {
        assert!(
            n <= room,
            "a read reported more bytes than it was given room for"
        );
        // SAFETY: `read` initialised the first `n` bytes of the spare capacity (a read
        // syscall wrote them), and `n` fits in the capacity (checked above).
        unsafe { buf.set_len(buf.len() + n) };
    }
    ready
}
