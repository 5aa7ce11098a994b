//! HTTP/2 on nbio: hyper's HTTP/2 server and client run their streams as tasks through
//! `nbio::hyper::Executor` and their pings on `nbio::hyper::Timer`.
//!
//! DESIGN.md, "The ecosystem": "nbio::hyper::Executor  Executor::new(): hyper::rt::Executor on
//! nbio::spawn (HTTP/2 too)".

use std::convert::Infallible;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use nbio::hyper::{Executor, Io, Timer};
use nbio::net::{AsyncTcpListener, AsyncTcpStream, AsyncUnixStream};
use nbio_tests::watched;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Echoes the request's path, after a pause that keeps several streams open at once.
async fn echo_path(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    nbio::time::sleep(Duration::from_millis(2)).await;
    let body = format!("h2 {}", req.uri().path());
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Serves one HTTP/2 connection on `io` until the client goes away.
async fn serve_h2<T>(io: Io<T>) -> Result<(), Error>
where
    T: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send + 'static,
{
    hyper::server::conn::http2::Builder::new(Executor::new())
        .timer(Timer::new())
        .serve_connection(io, service_fn(echo_path))
        .await?;
    Ok(())
}

/// Sends 20 requests at once on one HTTP/2 connection over `io` and checks every answer.
async fn fetch_20_at_once<T>(io: Io<T>) -> Result<(), Error>
where
    T: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http2::Builder::new(Executor::new())
        .timer(Timer::new())
        .handshake(io)
        .await?;
    nbio::spawn(conn);
    let requests: Vec<_> = (0..20)
        .map(|i| {
            let mut sender = sender.clone();
            nbio::spawn(async move {
                let request =
                    Request::get(format!("http://localhost/{i}")).body(Empty::<Bytes>::new())?;
                let response = sender.send_request(request).await?;
                assert_eq!(response.version(), hyper::Version::HTTP_2);
                let body = response.into_body().collect().await?.to_bytes();
                assert_eq!(body, format!("h2 /{i}"));
                Ok::<_, Error>(())
            })
        })
        .collect();
    for request in requests {
        request.await.unwrap()?;
    }
    Ok(())
}

#[test]
fn http2_serves_and_fetches_20_concurrent_streams_over_tcp() {
    watched(|| {
        nbio::block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let addr = listener.local_addr()?;
            let server = nbio::spawn(async move {
                let (stream, _) = listener.accept().await?;
                serve_h2(Io::new(stream)).await
            });
            let spawned_before = nbio::stats().tasks_spawned;
            fetch_20_at_once(Io::new(AsyncTcpStream::connect(addr).await?)).await?;
            // Our 20 request tasks and the connection task, plus what hyper spawned itself:
            // at least one task per stream on the server's side.
            let spawned = nbio::stats().tasks_spawned - spawned_before;
            assert!(
                spawned >= 21 + 20,
                "hyper ran its streams as nbio tasks: {spawned}"
            );
            drop(server);
            Ok::<_, Error>(())
        })
    })
    .unwrap();
}

#[test]
fn http2_runs_over_a_unix_stream_pair_too() {
    watched(|| {
        nbio::block_on(async {
            let (client, server) = AsyncUnixStream::pair()?;
            let server = nbio::spawn(serve_h2(Io::new(server)));
            fetch_20_at_once(Io::new(client)).await?;
            drop(server);
            Ok::<_, Error>(())
        })
    })
    .unwrap();
}

#[test]
fn http2_keep_alive_pings_on_the_nbio_timer_keep_an_idle_connection_usable() {
    watched(|| {
        nbio::block_on(async {
            let (client, server) = AsyncUnixStream::pair()?;
            let server = nbio::spawn(serve_h2(Io::new(server)));
            let (mut sender, conn) = hyper::client::conn::http2::Builder::new(Executor::new())
                .timer(Timer::new())
                .keep_alive_interval(Duration::from_millis(5))
                .keep_alive_timeout(Duration::from_secs(5))
                .keep_alive_while_idle(true)
                .handshake(Io::new(client))
                .await?;
            nbio::spawn(conn);
            let fired_before = nbio::stats().timers_fired;
            // Idle for a while: the pings (5 ms apart) go out on nbio's timer.
            nbio::time::sleep(Duration::from_millis(60)).await;
            assert!(
                nbio::stats().timers_fired - fired_before >= 5,
                "the keep-alive pings ran on nbio's timer"
            );
            let request = Request::get("http://localhost/after-idle").body(Empty::<Bytes>::new())?;
            let body = sender
                .send_request(request)
                .await?
                .into_body()
                .collect()
                .await?
                .to_bytes();
            assert_eq!(body, "h2 /after-idle");
            drop(server);
            Ok::<_, Error>(())
        })
    })
    .unwrap();
}
