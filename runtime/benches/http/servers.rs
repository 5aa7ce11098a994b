//! The W8 server: the same hyper 1.x hello-world HTTP/1.1 server (keep-alive, the
//! runtime's own timer for hyper's header-read timeout, `TCP_NODELAY`) on each runtime,
//! through the adapter that runtime's users take: `nbio::hyper`, hyper-util's `TokioIo` and
//! `TokioTimer`, smol-hyper's `FuturesIo` and `SmolTimer`.
//!
//! Each server takes a bound std listener and serves until the process exits.

use std::convert::Infallible;
use std::net::TcpListener;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};

/// The response: the classic hello world, 13 bytes of body.
const BODY: &[u8] = b"Hello, World!";

async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
}

/// A runtime column of W8: its name as the table prints it, and its server.
pub struct Server {
    pub name: &'static str,
    pub serve: fn(TcpListener),
    /// Part of a run with no `NBIO_HTTP_RUNTIMES`: the comparison the goals are about.
    pub by_default: bool,
}

/// Every runtime W8 knows. A new column is one more entry here.
pub const SERVERS: &[Server] = &[
    Server {
        name: "nbio",
        serve: nbio_current_thread,
        by_default: true,
    },
    Server {
        name: "nbio worker_threads(2)",
        serve: nbio_two_workers,
        by_default: true,
    },
    Server {
        name: "tokio current_thread",
        serve: tokio_current_thread,
        by_default: true,
    },
    Server {
        name: "tokio multi_thread (2)",
        serve: tokio_multi_thread,
        by_default: true,
    },
    Server {
        name: "smol",
        serve: smol,
        by_default: true,
    },
    // nbio before its streams wrote vectored: the generic futures-io adapter a user had to
    // take then (smol-hyper's, which zeroes the read buffer and flattens every response).
    Server {
        name: "nbio (generic futures-io adapter)",
        serve: nbio_generic_adapter,
        by_default: false,
    },
];

fn nbio_current_thread(listener: TcpListener) {
    nbio_accept_loop(&nbio::Runtime::new().unwrap(), listener);
}

fn nbio_two_workers(listener: TcpListener) {
    let runtime = nbio::Runtime::builder().worker_threads(2).build().unwrap();
    nbio_accept_loop(&runtime, listener);
}

/// The accept loop in `block_on`; each connection a task (on the workers, on `worker_threads`).
fn nbio_accept_loop(runtime: &nbio::Runtime, listener: TcpListener) {
    let listener = nbio::net::AsyncTcpListener::from_std(listener).unwrap();
    runtime.block_on(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            nbio::spawn(async move {
                let _ = http1::Builder::new()
                    .timer(nbio::hyper::Timer::new())
                    .serve_connection(nbio::hyper::Io::new(stream), service_fn(hello))
                    .await;
            });
        }
    })
}

fn nbio_generic_adapter(listener: TcpListener) {
    let listener = nbio::net::AsyncTcpListener::from_std(listener).unwrap();
    nbio::block_on(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            nbio::spawn(async move {
                let _ = http1::Builder::new()
                    .timer(nbio::hyper::Timer::new())
                    .serve_connection(smol_hyper::rt::FuturesIo::new(stream), service_fn(hello))
                    .await;
            });
        }
    })
}

async fn tokio_accept_loop(listener: TcpListener) {
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service_fn(hello))
                .await;
        });
    }
}

fn tokio_current_thread(listener: TcpListener) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(tokio_accept_loop(listener))
}

fn tokio_multi_thread(listener: TcpListener) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(tokio_accept_loop(listener))
}

/// smol as its users run it on one thread: an async-executor `LocalExecutor` driven by
/// async-io's `block_on`.
fn smol(listener: TcpListener) {
    let executor = async_executor::LocalExecutor::new();
    let listener = async_io::Async::new(listener).unwrap();
    async_io::block_on(executor.run(async {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.get_ref().set_nodelay(true).unwrap();
            executor
                .spawn(async move {
                    let _ = http1::Builder::new()
                        .timer(smol_hyper::rt::SmolTimer::new())
                        .serve_connection(smol_hyper::rt::FuturesIo::new(stream), service_fn(hello))
                        .await;
                })
                .detach();
        }
    }))
}
