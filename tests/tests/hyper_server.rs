//! A hyper 1.x server on nbio (feature `hyper`) serves plain std clients: 1,000 requests on
//! one keep-alive connection, pipelined requests, many connections at once, and a graceful
//! stop that lets the request in flight finish.
//!
//! DESIGN.md, "The ecosystem": "so that hyper 1.x servers and clients run on nbio with one
//! line each".

use std::convert::Infallible;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use nbio::hyper::{Io, Timer};
use nbio::net::AsyncTcpListener;
use nbio_tests::watchdog;

/// Answers `/n` with "hello n" and counts the requests it served.
async fn hello(
    req: Request<Incoming>,
    served: Arc<AtomicUsize>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    served.fetch_add(1, SeqCst);
    let body = format!("hello {}", req.uri().path().trim_start_matches('/'));
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Starts an nbio runtime on its own thread serving `connections` connections with hyper,
/// each on its own task; returns the address, the count of requests served, and the thread.
fn serve(
    connections: usize,
) -> (
    SocketAddr,
    Arc<AtomicUsize>,
    thread::JoinHandle<io::Result<usize>>,
) {
    let listener = AsyncTcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&served);
    let server = thread::spawn(move || {
        nbio::block_on(async move {
            let mut tasks = Vec::new();
            for _ in 0..connections {
                let (stream, _) = listener.accept().await?;
                let served = Arc::clone(&counter);
                tasks.push(nbio::spawn(async move {
                    let service = service_fn(move |req| hello(req, Arc::clone(&served)));
                    http1::Builder::new()
                        .timer(Timer::new())
                        .serve_connection(Io::new(stream), service)
                        .await
                }));
            }
            for task in tasks {
                task.await
                    .unwrap()
                    .map_err(|err| io::Error::other(format!("the connection failed: {err}")))?;
            }
            Ok(connections)
        })
    });
    (addr, served, server)
}

/// Waits for the server thread to end, under the watchdog: a server that never notices its
/// clients left fails the test instead of hanging it.
fn finished<T: Send + 'static>(server: thread::JoinHandle<T>) -> T {
    watchdog("the nbio server", Duration::from_secs(60), move || {
        server.join().expect("the server thread panicked")
    })
}

/// Reads one HTTP/1.1 response with a `content-length` from `reader`: its status line and
/// its body.
fn read_response(reader: &mut impl BufRead) -> io::Result<(String, String)> {
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let mut length = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        if line == "\r\n" {
            break;
        }
        if line.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "headers cut short",
            ));
        }
        let lower = line.to_ascii_lowercase();
        if let Some(value) = lower.strip_prefix("content-length:") {
            length = Some(value.trim().parse::<usize>().unwrap());
        }
    }
    let mut body = vec![0u8; length.expect("a content-length")];
    reader.read_exact(&mut body)?;
    Ok((
        status.trim_end().to_string(),
        String::from_utf8(body).unwrap(),
    ))
}

#[test]
fn a_hyper_server_on_nbio_serves_1000_keep_alive_requests_to_a_std_client() {
    let (addr, served, server) = serve(1);
    let client = watchdog("the std client", Duration::from_secs(60), move || {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let mut writer = stream.try_clone()?;
        let mut reader = BufReader::new(stream);
        for i in 0..1000 {
            write!(writer, "GET /{i} HTTP/1.1\r\nhost: localhost\r\n\r\n")?;
            let (status, body) = read_response(&mut reader)?;
            assert_eq!(status, "HTTP/1.1 200 OK");
            assert_eq!(body, format!("hello {i}"));
        }
        // Closing the connection ends hyper's serve_connection, and so the server.
        io::Result::Ok(())
    });
    client.unwrap();
    assert_eq!(
        finished(server).unwrap(),
        1,
        "one connection for all of them"
    );
    assert_eq!(served.load(SeqCst), 1000);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let (addr, served, server) = serve(1);
    watchdog(
        "the pipelining client",
        Duration::from_secs(60),
        move || {
            let mut stream = TcpStream::connect(addr)?;
            let requests: String = (0..100)
                .map(|i| format!("GET /p{i} HTTP/1.1\r\nhost: localhost\r\n\r\n"))
                .collect();
            stream.write_all(requests.as_bytes())?;
            let mut reader = BufReader::new(stream);
            for i in 0..100 {
                let (_, body) = read_response(&mut reader)?;
                assert_eq!(body, format!("hello p{i}"));
            }
            io::Result::Ok(())
        },
    )
    .unwrap();
    finished(server).unwrap();
    assert_eq!(served.load(SeqCst), 100);
}

#[test]
fn twenty_std_clients_at_once_each_get_their_answers() {
    let (addr, served, server) = serve(20);
    let clients: Vec<_> = (0..20)
        .map(|c| {
            thread::spawn(move || {
                let stream = TcpStream::connect(addr)?;
                let mut writer = stream.try_clone()?;
                let mut reader = BufReader::new(stream);
                for i in 0..50 {
                    write!(writer, "GET /{c}-{i} HTTP/1.1\r\nhost: localhost\r\n\r\n")?;
                    let (_, body) = read_response(&mut reader)?;
                    assert_eq!(body, format!("hello {c}-{i}"));
                }
                io::Result::Ok(())
            })
        })
        .collect();
    watchdog("twenty clients", Duration::from_secs(60), move || {
        for client in clients {
            client.join().unwrap().unwrap();
        }
    });
    assert_eq!(finished(server).unwrap(), 20);
    assert_eq!(served.load(SeqCst), 1000);
}

#[test]
fn graceful_shutdown_finishes_the_request_in_flight_then_closes() {
    let listener = AsyncTcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        nbio::block_on(async move {
            let (stream, _) = listener.accept().await?;
            // A slow handler: the stop comes while it runs.
            let service = service_fn(|_req: Request<Incoming>| async {
                nbio::time::sleep(Duration::from_millis(50)).await;
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("finished"))))
            });
            let conn = http1::Builder::new()
                .timer(Timer::new())
                .serve_connection(Io::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let stop = nbio::time::sleep(Duration::from_millis(10));
            // Serve until the stop, then ask hyper to finish what it has and close.
            let served = futures_lite::future::or(async { Some(conn.as_mut().await) }, async {
                stop.await;
                None
            })
            .await;
            assert!(
                served.is_none(),
                "the request is still in flight at the stop"
            );
            conn.as_mut().graceful_shutdown();
            conn.await
                .map_err(|err| io::Error::other(format!("the connection failed: {err}")))
        })
    });
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let (_, body) = read_response(&mut reader).unwrap();
    assert_eq!(body, "finished");
    // Then the server closes the connection instead of waiting for the next request.
    let mut rest = Vec::new();
    assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0);
    finished(server).unwrap();
}
