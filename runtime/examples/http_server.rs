//! A hyper 1.x HTTP/1.1 server on nbio, with keep-alive and a graceful stop.
//!
//! What it shows: `nbio::hyper` makes hyper's server one line per connection
//! (`serve_connection(Io::new(stream), service)`), each connection an nbio task. When the
//! stop comes (here: once the built-in clients are done; in a real server, `ctrl_c`), the
//! accept loop ends, every connection is asked to finish the request it is serving and close
//! (`graceful_shutdown`), and the server waits for them before it returns. The stop is an
//! `async-channel` that is closed: a runtime-agnostic crate, working on nbio as it is.
//!
//! So that it ends by itself, the example also runs the clients: four std threads, each
//! sending 100 requests on one keep-alive connection, as a browser or `curl` would, and then
//! keeping it open, idle, as browsers do. The graceful stop is what closes those.
//!
//! Run it with `cargo run -p nbio --features hyper --example http_server`. To try it with
//! your own client, give it a port and a number of seconds to serve:
//! `cargo run -p nbio --features hyper --example http_server -- 8080 30`, then
//! `curl http://127.0.0.1:8080/hello`.

use std::convert::Infallible;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures_lite::future;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use nbio::hyper::{Io, Timer};
use nbio::net::AsyncTcpListener;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The built-in clients: how many, and how many requests each sends on its connection.
const CLIENTS: usize = 4;
const REQUESTS_PER_CLIENT: usize = 100;

/// The service: "hello, <path>" for every request.
async fn hello(
    req: Request<Incoming>,
    served: Arc<AtomicU64>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    served.fetch_add(1, Relaxed);
    let body = format!("hello, {}\n", req.uri().path().trim_start_matches('/'));
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Accepts connections until `stop` is closed, then stops every connection gracefully and
/// waits for them. Returns how many connections it served.
async fn serve(
    listener: AsyncTcpListener,
    stop: async_channel::Receiver<()>,
    served: Arc<AtomicU64>,
) -> Result<usize, Error> {
    let mut connections = Vec::new();
    loop {
        // The next connection, or the stop, whichever comes first.
        let accepted = future::or(async { Some(listener.accept().await) }, async {
            let _ = stop.recv().await; // closed: an Err, which is the signal
            None
        })
        .await;
        let Some(accepted) = accepted else { break };
        let (stream, _) = accepted?;
        stream.set_nodelay(true)?;
        let (stop, served) = (stop.clone(), Arc::clone(&served));
        connections.push(nbio::spawn(async move {
            let service = service_fn(move |req| hello(req, Arc::clone(&served)));
            let conn = http1::Builder::new()
                .timer(Timer::new())
                .serve_connection(Io::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            // Serve until the connection ends or the stop comes ...
            let ended = future::or(async { Some(conn.as_mut().await) }, async {
                let _ = stop.recv().await;
                None
            })
            .await;
            match ended {
                Some(result) => result,
                // ... then let the request in flight finish, and close.
                None => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            }
        }));
    }
    let count = connections.len();
    for connection in connections {
        connection.await??;
    }
    Ok(count)
}

/// What a client thread reports.
enum Report {
    /// Its requests were answered; the connection stays open, idle.
    Done(io::Result<()>),
    /// The server closed the idle connection (end of stream), or reading failed.
    Closed(io::Result<()>),
}

/// One blocking client: `requests` GETs on one keep-alive connection, checking every
/// answer; reports, then waits for the server to close the connection.
fn client(addr: SocketAddr, id: usize, requests: usize, report: async_channel::Sender<Report>) {
    let stream = match get_all(addr, id, requests) {
        Ok(stream) => {
            let _ = report.send_blocking(Report::Done(Ok(())));
            stream
        }
        Err(err) => {
            let _ = report.send_blocking(Report::Done(Err(err)));
            return;
        }
    };
    let mut rest = Vec::new();
    let closed = match stream.take(1 << 20).read_to_end(&mut rest) {
        Ok(0) => Ok(()),
        Ok(n) => Err(io::Error::other(format!(
            "{n} bytes came after the last answer"
        ))),
        Err(err) => Err(err),
    };
    let _ = report.send_blocking(Report::Closed(closed));
}

/// The requests of one client; returns the connection, still open.
fn get_all(addr: SocketAddr, id: usize, requests: usize) -> io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    for i in 0..requests {
        write!(
            writer,
            "GET /client{id}/{i} HTTP/1.1\r\nhost: localhost\r\n\r\n"
        )?;
        let mut length = 0;
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if !line.starts_with("HTTP/1.1 200") {
            return Err(io::Error::other(format!("unexpected status line {line:?}")));
        }
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().map_err(io::Error::other)?;
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        if body != format!("hello, client{id}/{i}\n").as_bytes() {
            return Err(io::Error::other("a wrong body"));
        }
    }
    Ok(reader)
}

/// Starts the built-in clients on threads of their own (they block); their reports come on
/// the channel returned.
fn start_clients(addr: SocketAddr) -> async_channel::Receiver<Report> {
    let (report, reports) = async_channel::unbounded();
    for id in 0..CLIENTS {
        let report = report.clone();
        thread::spawn(move || client(addr, id, REQUESTS_PER_CLIENT, report));
    }
    reports
}

/// Waits, without blocking the runtime, for `CLIENTS` reports of the kind `pick` takes.
async fn reports(
    reports: &async_channel::Receiver<Report>,
    pick: fn(Report) -> io::Result<()>,
) -> io::Result<()> {
    for _ in 0..CLIENTS {
        pick(reports.recv().await.map_err(io::Error::other)?)?;
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().map_or(Ok(0), |p| p.parse())?;
    let serve_for: Option<u64> = args.next().map(|s| s.parse()).transpose()?;

    let listener = AsyncTcpListener::bind(("127.0.0.1", port))?;
    let addr = listener.local_addr()?;
    println!("serving http://{addr}/ with hyper on nbio");
    let served = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = async_channel::bounded::<()>(1);

    let connections = nbio::block_on(async {
        let server = nbio::spawn(serve(listener, stopped, Arc::clone(&served)));
        let clients = match serve_for {
            Some(seconds) => {
                nbio::time::sleep(Duration::from_secs(seconds)).await;
                None
            }
            None => {
                let clients = start_clients(addr);
                let done = reports(&clients, |r| match r {
                    Report::Done(result) => result,
                    Report::Closed(_) => Err(io::Error::other("closed before it was done")),
                });
                nbio::time::timeout(Duration::from_secs(60), done).await??;
                println!("{CLIENTS} clients sent {REQUESTS_PER_CLIENT} requests each on one connection each, and keep it open");
                Some(clients)
            }
        };
        println!("stopping: no new connections; open ones finish their request and close");
        stop.close();
        let connections = server.await??;
        if let Some(clients) = clients {
            let closed = reports(&clients, |r| match r {
                Report::Closed(result) => result,
                Report::Done(_) => Err(io::Error::other("a second report of the requests")),
            });
            nbio::time::timeout(Duration::from_secs(60), closed).await??;
            println!("every client saw its idle connection closed by the server");
        }
        Ok::<_, Error>(connections)
    })?;
    println!(
        "stopped gracefully after serving {} requests on {connections} connections",
        served.load(Relaxed)
    );
    Ok(())
}
