//! A hyper 1.x HTTP/1.1 client on nbio, connecting by host name.
//!
//! What it shows: `AsyncTcpStream::connect("localhost:PORT")` finds the host, tries each
//! address it resolves to (`::1`, then `127.0.0.1`), and connects without blocking the
//! thread; `nbio::hyper::Io` hands the stream to hyper's `handshake`, and the connection runs
//! as a task of its own while the requests go out on one keep-alive connection.
//!
//! So that it ends by itself, the example starts a small blocking std server on `127.0.0.1`
//! first and fetches three paths from it. To fetch from a server of your own instead:
//! `cargo run -p nbio --features hyper --example http_client -- localhost:8080 /path`.
//!
//! Run it with `cargo run -p nbio --features hyper --example http_client`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Request;
use nbio::hyper::Io;
use nbio::net::AsyncTcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A blocking server for `requests` requests on one connection, answering each with the
/// path it asked for.
fn start_std_server(requests: usize) -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    thread::spawn(move || -> std::io::Result<()> {
        let (stream, _) = listener.accept()?;
        let mut writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        for _ in 0..requests {
            let mut request_line = String::new();
            reader.read_line(&mut request_line)?;
            let mut header = String::new();
            while reader.read_line(&mut header)? > 2 {
                header.clear();
            }
            let path = request_line.split(' ').nth(1).unwrap_or("?");
            let body = format!("the std server got {path}");
            write!(
                writer,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            )?;
        }
        Ok(())
    });
    Ok(port)
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let (authority, paths) = match args.next() {
        Some(authority) => (authority, vec![args.next().unwrap_or_else(|| "/".into())]),
        None => {
            let paths: Vec<String> = ["/one", "/two", "/three"].map(String::from).to_vec();
            let port = start_std_server(paths.len())?;
            (format!("localhost:{port}"), paths)
        }
    };
    nbio::block_on(async {
        // A host name, resolved by nbio; every address it gives is tried in turn.
        let stream = AsyncTcpStream::connect(authority.as_str()).await?;
        println!("connected to {authority} ({})", stream.peer_addr()?);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(Io::new(stream)).await?;
        let conn = nbio::spawn(conn);
        for path in &paths {
            let request = Request::get(path.as_str())
                .header("host", authority.as_str())
                .body(Empty::<Bytes>::new())?;
            let response = sender.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            println!("GET {path} -> {status}: {}", String::from_utf8_lossy(&body));
        }
        drop(sender); // no more requests: the connection task ends
        conn.await??;
        println!("fetched {} paths on one keep-alive connection", paths.len());
        Ok(())
    })
}
