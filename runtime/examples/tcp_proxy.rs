//! A TCP proxy on `nbio::io::copy_bidirectional`, with its echo server and its client.
//!
//! What it shows: a proxy is one accept loop and, per connection, one call. The example starts
//! three things on one runtime: an echo server, the proxy in front of it, and a client that
//! connects to the proxy, sends 7 MiB (the article's `b"foobar\n"` a million times) while it
//! reads the echo, half-closes its side when done, and reads until the end of the stream. The
//! half-close travels through the proxy: `copy_bidirectional` shuts the server's side down for
//! writing when the client's reads end, the echo server sees end of stream and closes, and
//! that end of stream travels back. The proxy prints what it carried each way, and the client
//! checks that the echo is the bytes it sent; the example ends by itself.
//!
//! Run it with `cargo run -p nbio --example tcp_proxy`.

use std::io;
use std::net::{Shutdown, SocketAddr};

use futures_lite::future;
use nbio::net::{AsyncTcpListener, AsyncTcpStream};

/// Echoes every connection until it half-closes, then closes its own side.
async fn echo_server(listener: AsyncTcpListener) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        nbio::spawn(async move {
            let (mut reader, mut writer) = (&stream, &stream);
            let echoed = nbio::io::copy(&mut reader, &mut writer).await?;
            stream.shutdown(Shutdown::Write)?;
            io::Result::Ok(echoed)
        });
    }
}

/// Accepts one client and carries its bytes to `upstream` and back.
async fn proxy_one(listener: AsyncTcpListener, upstream: SocketAddr) -> io::Result<(u64, u64)> {
    let (mut client, _) = listener.accept().await?;
    let mut server = AsyncTcpStream::connect(upstream).await?;
    nbio::io::copy_bidirectional(&mut client, &mut server).await
}

fn main() -> io::Result<()> {
    nbio::block_on(async {
        let echo = AsyncTcpListener::bind("127.0.0.1:0")?;
        let echo_addr = echo.local_addr()?;
        nbio::spawn(echo_server(echo));
        let proxy = AsyncTcpListener::bind("127.0.0.1:0")?;
        let proxy_addr = proxy.local_addr()?;
        let carried = nbio::spawn(proxy_one(proxy, echo_addr));

        let message = b"foobar\n".repeat(1024 * 1024);
        let stream = AsyncTcpStream::connect(proxy_addr).await?;
        let send = async {
            stream.write_all(&message).await?;
            stream.shutdown(Shutdown::Write) // the end of the request, through the proxy
        };
        let receive = async {
            let mut echoed = Vec::with_capacity(message.len());
            while stream.read_buf(&mut echoed).await? != 0 {}
            io::Result::Ok(echoed)
        };
        let (sent, echoed) = future::zip(send, receive).await;
        sent?;
        let echoed = echoed?;
        let (to_server, to_client) = carried.await.expect("the proxy task panicked")?;
        println!("proxy carried {to_server} bytes to the server and {to_client} back");
        assert!(echoed == message, "the echo differs from what was sent");
        println!("the client got back the {} bytes it sent", echoed.len());
        Ok(())
    })
}
