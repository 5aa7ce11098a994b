//! futures-io's `AsyncRead`/`AsyncWrite` on nbio streams: `futures_lite::io::copy`,
//! `BufReader`, and the extension traits, on both a stream and a shared reference to it.

use std::io;

use futures_lite::io::{copy, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use futures_lite::StreamExt;
use nbio::net::{AsyncTcpListener, AsyncTcpStream, AsyncUnixStream};
use nbio_tests::watched;

/// Bytes that are not all alike, so that a reordering or a dropped chunk shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 7 % 256) as u8 ^ (i >> 10) as u8)
        .collect()
}

async fn connected_pair() -> io::Result<(AsyncTcpStream, AsyncTcpStream)> {
    let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
    let client = AsyncTcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    Ok((client, server))
}

#[test]
fn copy_from_a_stream_to_itself_echoes_a_megabyte_byte_exact() {
    const BYTES: usize = 1 << 20;
    let result = watched(|| {
        nbio::block_on(async {
            let (client, server) = connected_pair().await?;
            // The echo server: copy what it reads back into the same socket, through `&`.
            let echo = nbio::spawn(async move {
                let copied = copy(&server, &mut &server).await?;
                (&server).close().await?;
                io::Result::Ok(copied)
            });
            let data = pattern(BYTES);
            let (mut reader, mut writer) = (&client, &client);
            let sending = async {
                writer.write_all(&data).await?;
                writer.close().await
            };
            let mut echoed = Vec::new();
            let receiving = reader.read_to_end(&mut echoed);
            let (sent, received) = futures_lite::future::zip(sending, receiving).await;
            sent?;
            assert_eq!(received?, BYTES);
            let copied = echo.await??;
            io::Result::Ok((copied, echoed == data))
        })
    });
    let (copied, exact) = result.unwrap();
    assert_eq!(copied, BYTES as u64);
    assert!(exact, "the echo differs from what was sent");
}

#[test]
fn copy_between_two_streams_relays_everything_through_a_proxy() {
    const BYTES: usize = 512 * 1024;
    let result = watched(|| {
        nbio::block_on(async {
            let (client, proxy_in) = connected_pair().await?;
            let (proxy_out, upstream) = connected_pair().await?;
            let relay = nbio::spawn(async move {
                let relayed = copy(&proxy_in, &mut &proxy_out).await?;
                proxy_out.shutdown(std::net::Shutdown::Write)?;
                io::Result::Ok(relayed)
            });
            let sink = nbio::spawn(async move {
                let mut all = Vec::new();
                copy(&upstream, &mut all).await?;
                io::Result::Ok(all)
            });
            let data = pattern(BYTES);
            client.write_all(&data).await?;
            client.shutdown(std::net::Shutdown::Write)?;
            let relayed = relay.await??;
            let arrived = sink.await??;
            io::Result::Ok((relayed, arrived == data))
        })
    });
    let (relayed, exact) = result.unwrap();
    assert_eq!(relayed, BYTES as u64);
    assert!(exact, "the relayed bytes differ");
}

#[test]
fn buf_reader_over_a_stream_reads_lines_split_across_writes() {
    let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
    let expected: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
    let lines = watched(move || {
        nbio::block_on(async move {
            let (client, server) = connected_pair().await?;
            let writer = nbio::spawn(async move {
                // Chunks of 1 to 13 bytes: lines split across writes, writes with several lines.
                let mut rest = text.as_bytes();
                let mut size = 1;
                while !rest.is_empty() {
                    let (chunk, tail) = rest.split_at(size.min(rest.len()));
                    client.write_all(chunk).await?;
                    nbio::yield_now().await;
                    rest = tail;
                    size = size % 13 + 1;
                }
                io::Result::Ok(())
            });
            let mut reader = BufReader::with_capacity(16, &server);
            let mut first = String::new();
            reader.read_line(&mut first).await?;
            let rest: Vec<String> = reader.lines().try_collect().await?;
            writer.await??;
            io::Result::Ok((first, rest))
        })
    });
    let (first, rest) = lines.unwrap();
    assert_eq!(first, "line 0\n");
    assert_eq!(rest, expected[1..]);
}

#[test]
fn owned_unix_streams_work_with_the_extension_traits_and_close_shuts_the_write_half() {
    let result = watched(|| {
        nbio::block_on(async {
            let (mut a, mut b) = AsyncUnixStream::pair()?;
            AsyncWriteExt::write_all(&mut a, b"through the trait").await?;
            AsyncWriteExt::flush(&mut a).await?;
            AsyncWriteExt::close(&mut a).await?;
            let mut text = String::new();
            AsyncReadExt::read_to_string(&mut b, &mut text).await?;
            io::Result::Ok(text)
        })
    });
    assert_eq!(result.unwrap(), "through the trait");
}
