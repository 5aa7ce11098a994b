//! WebSockets on nbio with async-tungstenite: an echo server and a client, messages from
//! 1 byte to 64 KiB.
//!
//! What it shows: async-tungstenite speaks WebSocket over any futures-io stream, so nbio's
//! `AsyncTcpStream` is all it needs: the server is `accept_async(stream)`, the client
//! `client_async("ws://localhost/echo", stream)`, and each `WebSocketStream` is a futures
//! `Stream` of messages (read with futures-lite's `StreamExt::next`) with an async `send`.
//!
//! The client sends one binary and one text message of each size from 1 B to 64 KiB (the
//! powers of two), checks that each one comes back exactly, then closes with the closing
//! handshake.
//!
//! Run it with `cargo run -p nbio --example websocket_echo`.

use async_tungstenite::tungstenite::Message;
use futures_lite::StreamExt;
use nbio::net::{AsyncTcpListener, AsyncTcpStream};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Echoes every data message of one WebSocket connection until the client closes it;
/// returns how many it echoed.
async fn echo(stream: AsyncTcpStream) -> Result<usize, Error> {
    let mut ws = async_tungstenite::accept_async(stream).await?;
    let mut echoed = 0;
    while let Some(message) = ws.next().await {
        // tungstenite answers a close (and pings) by itself; after a close the stream ends.
        if let message @ (Message::Binary(_) | Message::Text(_)) = message? {
            ws.send(message).await?;
            echoed += 1;
        }
    }
    Ok(echoed)
}

/// The message sizes: 1 B, 2 B, 4 B, … 64 KiB.
fn sizes() -> impl Iterator<Item = usize> {
    (0..=16).map(|power| 1 << power)
}

/// A payload of `len` bytes that says where it is, so that a byte out of place shows.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

/// A text payload of `len` ASCII letters.
fn text(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

fn main() -> Result<(), Error> {
    nbio::block_on(async {
        let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = nbio::spawn(async move {
            let (stream, _) = listener.accept().await?;
            echo(stream).await
        });

        let stream = AsyncTcpStream::connect(addr).await?;
        let (mut ws, response) =
            async_tungstenite::client_async("ws://localhost/echo", stream).await?;
        println!("WebSocket handshake done: {}", response.status());
        let mut checked = 0;
        for size in sizes() {
            let binary = payload(size);
            ws.send(Message::binary(binary.clone())).await?;
            match ws.next().await.ok_or("the server closed early")?? {
                Message::Binary(echoed) if echoed == binary => {}
                other => {
                    return Err(format!("a {size} B binary message came back as {other:?}").into())
                }
            }
            let sent = text(size);
            ws.send(Message::text(sent.clone())).await?;
            match ws.next().await.ok_or("the server closed early")?? {
                Message::Text(echoed) if echoed.as_str() == sent => {}
                other => {
                    return Err(format!(
                        "a {size} B text message came back as {} bytes",
                        other.len()
                    )
                    .into())
                }
            }
            checked += 2;
        }
        ws.close(None).await?;
        // The close handshake: the server's close frame comes back, then the stream ends.
        while let Some(message) = ws.next().await {
            message?;
        }
        let echoed = server.await??;
        println!(
            "echoed {checked} messages from 1 B to 64 KiB exactly; the server echoed {echoed}"
        );
        Ok(())
    })
}
