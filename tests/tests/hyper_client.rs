//! A hyper 1.x client on nbio (feature `hyper`) fetches from a plain std server: small and
//! large bodies, several requests on one keep-alive connection, and a server that goes away.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::Request;
use nbio::hyper::Io;
use nbio::net::AsyncTcpStream;
use nbio_tests::watched;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A blocking std server on one connection: for each request, the request line it read, and
/// an answer of `body_for(path)`. Returns the request lines it saw.
fn std_server(
    requests: usize,
    body_for: fn(&str) -> Vec<u8>,
) -> (SocketAddr, thread::JoinHandle<io::Result<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept()?;
        let mut writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        let mut seen = Vec::new();
        for _ in 0..requests {
            let mut request_line = String::new();
            reader.read_line(&mut request_line)?;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header)?;
                if header == "\r\n" || header.is_empty() {
                    break;
                }
            }
            let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
            let body = body_for(&path);
            write!(
                writer,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )?;
            writer.write_all(&body)?;
            seen.push(request_line.trim_end().to_string());
        }
        Ok(seen)
    });
    (addr, server)
}

/// Sends `GET path` on `sender` and collects the body.
async fn get(
    sender: &mut http1::SendRequest<Empty<Bytes>>,
    path: &str,
) -> Result<(u16, Bytes), Error> {
    let request = Request::get(path)
        .header("host", "localhost")
        .body(Empty::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

#[test]
fn the_hyper_client_fetches_from_a_std_server_on_one_keep_alive_connection() {
    let (addr, server) = std_server(3, |path| format!("you asked for {path}").into_bytes());
    watched(move || {
        nbio::block_on(async move {
            let stream = AsyncTcpStream::connect(addr).await?;
            let (mut sender, conn) = http1::handshake(Io::new(stream)).await?;
            let conn = nbio::spawn(conn);
            for path in ["/a", "/b", "/c"] {
                let (status, body) = get(&mut sender, path).await?;
                assert_eq!(status, 200);
                assert_eq!(body, format!("you asked for {path}"));
            }
            drop(sender);
            conn.await.unwrap()?; // the connection ends cleanly once the sender is gone
            Ok::<_, Error>(())
        })
    })
    .unwrap();
    let seen = server.join().unwrap().unwrap();
    assert_eq!(
        seen,
        ["GET /a HTTP/1.1", "GET /b HTTP/1.1", "GET /c HTTP/1.1"]
    );
}

#[test]
fn the_hyper_client_reads_a_4_mib_body_byte_exact() {
    fn big(_: &str) -> Vec<u8> {
        (0..4 << 20).map(|i: u32| (i % 251) as u8).collect()
    }
    let (addr, server) = std_server(1, big);
    let body = watched(move || {
        nbio::block_on(async move {
            let stream = AsyncTcpStream::connect(addr).await?;
            let (mut sender, conn) = http1::handshake(Io::new(stream)).await?;
            nbio::spawn(conn);
            let (_, body) = get(&mut sender, "/big").await?;
            Ok::<_, Error>(body)
        })
    })
    .unwrap();
    assert!(body == big(""), "4 MiB arrived intact");
    server.join().unwrap().unwrap();
}

#[test]
fn a_server_that_closes_before_answering_is_an_error_not_a_hang() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut some = [0u8; 16];
        let _ = stream.read(&mut some); // the request's start, then away
    });
    let result = watched(move || {
        nbio::block_on(async move {
            let stream = AsyncTcpStream::connect(addr).await?;
            let (mut sender, conn) = http1::handshake(Io::new(stream)).await?;
            nbio::spawn(conn);
            get(&mut sender, "/").await
        })
    });
    server.join().unwrap();
    let err = result.unwrap_err();
    // Which error depends on what the kernel saw first (an end of stream, or a reset for
    // the request bytes the server never read): hyper reports either as its own error.
    assert!(err.downcast_ref::<hyper::Error>().is_some(), "{err}");
}
