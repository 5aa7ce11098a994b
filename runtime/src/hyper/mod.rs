//! hyper 1.x on nbio (cargo feature `hyper`): [`Io`], [`Executor`] and [`Timer`].
//!
//! hyper is runtime-agnostic: it parses and writes HTTP, and asks the runtime for three
//! things through the traits of `hyper::rt`: a stream it can read and write (`Read`,
//! `Write`), a way to start background tasks (`Executor`: HTTP/2 runs each stream and the
//! connection's pings as tasks), and timers (`Timer`: header read timeouts, keep-alive
//! pings). This module is those three adapters over nbio's futures-io streams, `spawn` and
//! `time`, so that a server or a client is one line each:
//!
//! ```
//! use std::convert::Infallible;
//! use http_body_util::{BodyExt, Empty, Full};
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{Request, Response};
//! use nbio::hyper::{Executor, Io, Timer};
//! use nbio::net::{AsyncTcpListener, AsyncTcpStream};
//!
//! type Error = Box<dyn std::error::Error + Send + Sync>;
//!
//! async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     Ok(Response::new(Full::new(Bytes::from("hello from nbio"))))
//! }
//!
//! nbio::block_on(async {
//!     let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
//!     let addr = listener.local_addr()?;
//!     nbio::spawn(async move {
//!         let (stream, _) = listener.accept().await?;
//!         // The server: one line per connection (HTTP/1.1 here; http2 takes Executor::new()).
//!         hyper::server::conn::http1::Builder::new()
//!             .timer(Timer::new())
//!             .serve_connection(Io::new(stream), hyper::service::service_fn(hello))
//!             .await?;
//!         Ok::<_, Error>(())
//!     });
//!     // The client: one line for the handshake, then the connection runs as a task.
//!     let stream = AsyncTcpStream::connect(addr).await?;
//!     let (mut sender, conn) = hyper::client::conn::http1::handshake(Io::new(stream)).await?;
//!     nbio::spawn(conn);
//!     let request = Request::get("/").header("host", "localhost").body(Empty::<Bytes>::new())?;
//!     let response = sender.send_request(request).await?;
//!     assert_eq!(response.status(), 200);
//!     let body = response.into_body().collect().await?.to_bytes();
//!     assert_eq!(body, "hello from nbio");
//!     # let _ = Executor::new();
//!     Ok::<_, Error>(())
//! })?;
//! # Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! ```
//!
//! Nothing here is needed for runtime-agnostic crates on futures-io (futures-rustls,
//! async-tungstenite, async-channel): they run on nbio's streams as they are. See the guide,
//! docs/13-ecosystem.md.

mod io;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

pub use io::Io;

/// hyper's [`Executor`](::hyper::rt::Executor) on [`nbio::spawn`](crate::spawn): every
/// future hyper hands it (an HTTP/2 stream, a connection's background work) becomes an nbio
/// task, detached. It meets the bounds of hyper's HTTP/2 builders (`Clone`, and `Executor`
/// for every `Send + 'static` future), so `http2::Builder::new(Executor::new())` works for a
/// server and a client.
///
/// hyper calls it from inside the futures it drives, so those must run inside an nbio
/// runtime (as they do when served from a task); outside one, `spawn` panics, naming itself.
///
/// ```
/// use hyper::rt::Executor as _;
/// nbio::block_on(async {
///     let (tx, rx) = std::sync::mpsc::channel();
///     nbio::hyper::Executor::new().execute(async move { tx.send(5).unwrap() });
///     nbio::yield_now().await; // the spawned task runs
///     assert_eq!(rx.recv().unwrap(), 5);
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Executor {
    _private: (),
}

impl Executor {
    /// The executor of whichever nbio runtime polls hyper's futures.
    pub fn new() -> Executor {
        Executor { _private: () }
    }
}

impl<F> ::hyper::rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // Detached: hyper watches its own futures (their output is `()`).
        drop(crate::executor::spawn(future));
    }
}

/// hyper's [`Timer`](::hyper::rt::Timer) on [`nbio::time`](crate::time): its sleeps are
/// [`nbio::time::Sleep`](crate::time::Sleep)s, and `reset` moves one in place instead of
/// making a new one (hyper resets a connection's timer at every request).
///
/// ```
/// use hyper::rt::Timer as _;
/// use std::time::{Duration, Instant};
/// nbio::block_on(async {
///     let timer = nbio::hyper::Timer::new();
///     let start = Instant::now();
///     let mut sleep = timer.sleep(Duration::from_secs(60));
///     timer.reset(&mut sleep, start + Duration::from_millis(2)); // sooner
///     sleep.await;
///     assert!(start.elapsed() >= Duration::from_millis(2));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Timer {
    _private: (),
}

impl Timer {
    /// The timer of whichever nbio runtime polls hyper's futures.
    pub fn new() -> Timer {
        Timer { _private: () }
    }
}

/// hyper's sleeps are nbio's own (`Send + Sync`, as hyper requires).
impl ::hyper::rt::Sleep for crate::time::Sleep {}

impl ::hyper::rt::Timer for Timer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(crate::time::sleep(duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn ::hyper::rt::Sleep>> {
        Box::pin(crate::time::sleep_until(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn ::hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<crate::time::Sleep>() {
            // nbio's `Sleep` is `Unpin`: it can be reached through the pin and moved in place.
            Some(ours) => ours.get_mut().reset(new_deadline),
            // A sleep of another timer: replace it.
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}
