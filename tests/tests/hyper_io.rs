//! `nbio::hyper::Io`: what it tells hyper about vectored writes, and that both of its read
//! paths (straight into hyper's buffer for nbio's streams, zeroed first for any other stream)
//! deliver every byte.

use std::convert::Infallible;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::rt::Write as _;
use hyper::service::service_fn;
use hyper::{Request, Response};
use nbio::hyper::Io;
use nbio::net::AsyncUnixStream;
use nbio_tests::watched;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A stream that is not nbio's: a Unix stream behind a wrapper that counts the writes hyper
/// makes, plain and vectored.
struct Counted {
    inner: AsyncUnixStream,
    writes: Arc<AtomicUsize>,
    vectored_writes: Arc<AtomicUsize>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.writes.fetch_add(1, SeqCst);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.vectored_writes.fetch_add(1, SeqCst);
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// A body of `len` bytes that say where they are.
fn body_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 253) as u8).collect()
}

/// Serves 10 requests for a 3,000-byte body on `server_io` (wrapped by `wrap`), fetching them
/// with a client on a plain nbio stream; returns (plain writes, vectored writes) the server
/// made.
fn serve_ten(wrap: fn(Counted) -> Io<Counted>) -> (usize, usize) {
    watched(move || {
        nbio::block_on(async move {
            let (client, server) = AsyncUnixStream::pair()?;
            let (writes, vectored_writes) = (Arc::default(), Arc::default());
            let counted = Counted {
                inner: server,
                writes: Arc::clone(&writes),
                vectored_writes: Arc::clone(&vectored_writes),
            };
            let service = service_fn(|_: Request<Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body_of(3000)))))
            });
            let io = wrap(counted);
            nbio::spawn(async move {
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await
            });
            let (mut sender, conn) = hyper::client::conn::http1::handshake(Io::new(client)).await?;
            nbio::spawn(conn);
            for _ in 0..10 {
                let request = Request::get("/")
                    .header("host", "x")
                    .body(Empty::<Bytes>::new())?;
                let body = sender
                    .send_request(request)
                    .await?
                    .into_body()
                    .collect()
                    .await?;
                assert!(body.to_bytes() == body_of(3000));
            }
            Ok::<_, Error>((writes.load(SeqCst), vectored_writes.load(SeqCst)))
        })
    })
    .unwrap()
}

#[test]
fn io_new_says_vectored_for_nbio_streams_and_not_for_others() {
    let (a, b) = AsyncUnixStream::pair().unwrap();
    assert!(Io::new(a).is_write_vectored());
    let counted = Counted {
        inner: b,
        writes: Arc::default(),
        vectored_writes: Arc::default(),
    };
    assert!(
        !Io::new(counted).is_write_vectored(),
        "a stream nbio cannot vouch for"
    );
    let (c, _d) = AsyncUnixStream::pair().unwrap();
    assert!(!Io::with_vectored(&c, false).is_write_vectored());
    assert!(Io::with_vectored(&c, true).is_write_vectored());
}

#[test]
fn a_vectored_io_sends_each_response_in_one_vectored_write() {
    let (writes, vectored) = serve_ten(|counted| Io::with_vectored(counted, true));
    assert_eq!(writes, 0, "hyper never fell back to plain writes");
    assert_eq!(
        vectored, 10,
        "head and body left together, once per response"
    );
}

#[test]
fn a_stream_not_known_to_write_vectored_gets_one_flattened_write_per_response() {
    let (writes, vectored) = serve_ten(Io::new);
    assert_eq!(
        vectored, 0,
        "hyper does not ask a non-vectored stream to gather"
    );
    assert_eq!(
        writes, 10,
        "hyper copied head and body together: one write each"
    );
}

#[test]
fn both_read_paths_deliver_a_1_mib_request_body_byte_exact() {
    for wrapped in [false, true] {
        watched(move || {
            nbio::block_on(async move {
                let (client, server) = AsyncUnixStream::pair()?;
                let service = service_fn(|req: Request<Incoming>| async {
                    let got = req.into_body().collect().await?.to_bytes();
                    let verdict = if got == body_of(1 << 20) {
                        "intact"
                    } else {
                        "damaged"
                    };
                    Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(verdict))))
                });
                nbio::spawn(async move {
                    let builder = hyper::server::conn::http1::Builder::new();
                    if wrapped {
                        let counted = Counted {
                            inner: server,
                            writes: Arc::default(),
                            vectored_writes: Arc::default(),
                        };
                        builder.serve_connection(Io::new(counted), service).await
                    } else {
                        builder.serve_connection(Io::new(server), service).await
                    }
                });
                let (mut sender, conn) =
                    hyper::client::conn::http1::handshake(Io::new(client)).await?;
                nbio::spawn(conn);
                let request = Request::post("/")
                    .header("host", "x")
                    .body(Full::new(Bytes::from(body_of(1 << 20))))?;
                let verdict = sender
                    .send_request(request)
                    .await?
                    .into_body()
                    .collect()
                    .await?;
                assert_eq!(verdict.to_bytes(), "intact", "wrapped: {wrapped}");
                Ok::<_, Error>(())
            })
        })
        .unwrap();
    }
}
