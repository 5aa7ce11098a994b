//! The answer to the exercise of the guide's chapter 1, "Non-blocking sockets and WouldBlock".
//!
//! The exercise: how many bytes does the kernel take from non-blocking sends before it first
//! says `EAGAIN` (`WouldBlock`) on a loopback connection whose reader reads nothing? Does it
//! depend on the sender's buffer size (`SO_SNDBUF`)?
//!
//! The answer: it takes what fits in the sender's send buffer plus the receiver's receive
//! buffer, then refuses; a smaller send buffer makes it refuse sooner. This program measures
//! both on this machine and prints the figures (the kernel doubles what `SO_SNDBUF` asks for,
//! and tunes loopback buffers by itself, so the exact numbers vary from machine to machine).
//!
//! Run it with `cargo run -p nbio --example exercise_partial_send`.

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};

/// Sends 1 MiB at a time without blocking until the kernel refuses; returns how much it took
/// and how many sends took less than they were offered.
fn until_would_block(send_buffer: Option<usize>) -> io::Result<(usize, u32)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut sender = TcpStream::connect(listener.local_addr()?)?;
    let (_reader, _) = listener.accept()?; // never reads
    if let Some(size) = send_buffer {
        rustix::net::sockopt::set_socket_send_buffer_size(&sender, size)?;
    }
    sender.set_nonblocking(true)?;
    let chunk = vec![0u8; 1 << 20];
    let (mut taken, mut partial) = (0, 0);
    loop {
        match sender.write(&chunk) {
            Ok(n) => {
                taken += n;
                if n < chunk.len() {
                    partial += 1;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok((taken, partial)),
            Err(err) => return Err(err),
        }
    }
}

fn main() -> io::Result<()> {
    let (default, partial) = until_would_block(None)?;
    let (small, _) = until_would_block(Some(16 * 1024))?;
    println!("default buffers: the kernel took {default} bytes ({partial} partial sends), then WouldBlock");
    println!("SO_SNDBUF 16 KiB: it took {small} bytes, then WouldBlock");
    assert!(small < default, "a smaller send buffer fills sooner");
    assert!(default > 0, "the first send takes something");
    Ok(())
}
