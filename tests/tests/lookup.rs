//! Host names: `lookup_host` and `connect("name:port")` resolve on the blocking pool; an IP
//! literal needs no job and no thread; identical lookups in flight share one job.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::mpsc;
use std::time::Duration;

use nbio::net::{lookup_host, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket};
use nbio::task::JoinSet;
use nbio_tests::watched;

async fn addrs(addr: impl nbio::net::ToSocketAddrs) -> std::io::Result<Vec<SocketAddr>> {
    Ok(lookup_host(addr).await?.into_iter().collect())
}

/// Waits until the pool counted `n` jobs run. A lookup's answer wakes its waiters from inside
/// the job, a moment before the job's end is counted.
async fn until_jobs_run(n: u64) {
    while nbio::stats().blocking_jobs_run < n {
        nbio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(nbio::stats().blocking_jobs_run, n);
}

#[test]
fn ip_literals_are_parsed_on_the_spot_with_no_job_and_no_thread() {
    watched(|| {
        nbio::block_on(async {
            let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
            assert_eq!(addrs("127.0.0.1:80").await?, [v4]);
            assert_eq!(addrs(("127.0.0.1", 80)).await?, [v4]);
            assert_eq!(addrs((Ipv4Addr::LOCALHOST, 80)).await?, [v4]);
            assert_eq!(addrs(v4).await?, [v4]);
            assert_eq!(addrs(&[v4, v4][..]).await?, [v4, v4]);
            assert_eq!(addrs(String::from("[::1]:8080")).await?[0].port(), 8080);
            assert_eq!(
                addrs(("::1".to_string(), 9)).await?[0].ip(),
                IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])
            );
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let port = listener.local_addr()?.port();
            let _stream = AsyncTcpStream::connect(format!("127.0.0.1:{port}")).await?;
            let stats = nbio::stats();
            assert_eq!(stats.blocking_jobs_run, 0, "{stats}");
            assert_eq!(stats.blocking_threads, 0, "{stats}");
            std::io::Result::Ok(())
        })
        .unwrap()
    });
}

#[test]
fn a_host_name_is_resolved_on_the_pool_and_connect_uses_it() {
    watched(|| {
        nbio::block_on(async {
            let listener = AsyncTcpListener::bind("127.0.0.1:0")?;
            let port = listener.local_addr()?.port();
            let found = addrs(format!("localhost:{port}")).await?;
            assert!(
                !found.is_empty() && found.iter().all(|a| a.port() == port),
                "{found:?}"
            );
            until_jobs_run(1).await;
            // localhost may resolve to ::1 first, where nothing listens: connect tries each.
            let stream = AsyncTcpStream::connect(("localhost", port)).await?;
            assert_eq!(stream.peer_addr()?.port(), port);
            until_jobs_run(2).await;
            let socket = AsyncUdpSocket::bind("127.0.0.1:0")?;
            let peer = AsyncUdpSocket::bind("127.0.0.1:0")?;
            let peer_port = peer.local_addr()?.port();
            socket
                .send_to(b"ping", format!("localhost:{peer_port}"))
                .await
                .or_else(|err| {
                    // localhost's first address may be ::1, which a v4 socket cannot reach.
                    if err.kind() == ErrorKind::InvalidInput || err.raw_os_error() == Some(97) {
                        Ok(0)
                    } else {
                        Err(err)
                    }
                })?;
            until_jobs_run(3).await;
            std::io::Result::Ok(())
        })
        .unwrap()
    });
}

#[test]
fn identical_lookups_in_flight_share_one_job() {
    watched(|| {
        // One pool thread, kept busy, so that every lookup below is asked for while the first
        // one's job waits in the queue.
        let rt = nbio::Runtime::builder()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let (release, wait) = mpsc::channel::<()>();
        let busy = rt.spawn_blocking(move || wait.recv().unwrap());
        nbio_tests::eventually(Duration::from_secs(10), || {
            rt.stats().blocking_jobs_running == 1
        })
        .expect("the busy job starts");
        rt.block_on(async {
            let mut set = JoinSet::new();
            for _ in 0..10 {
                set.spawn(async { addrs("localhost:7").await });
            }
            nbio::yield_now().await; // all ten have asked
            assert_eq!(nbio::stats().blocking_jobs_queued, 1, "{}", nbio::stats());
            release.send(()).unwrap();
            busy.await.unwrap();
            let mut answers = Vec::new();
            while let Some(answer) = set.join_next().await {
                answers.push(answer.unwrap().unwrap());
            }
            assert!(answers.windows(2).all(|w| w[0] == w[1]));
            until_jobs_run(2).await; // the busy job and one lookup
                                     // Once answered, the next lookup of the same name starts afresh.
            addrs("localhost:7").await.unwrap();
            until_jobs_run(3).await;
        });
    });
}

#[test]
fn a_failed_lookup_names_the_host_and_bad_addresses_are_invalid_input() {
    watched(|| {
        nbio::block_on(async {
            // .invalid never resolves (RFC 6761), and needs no network to say so.
            let err = addrs("nbio-test.invalid:80").await.unwrap_err();
            assert!(
                err.to_string()
                    .contains("could not resolve nbio-test.invalid:80"),
                "{err}"
            );
            let err = AsyncTcpStream::connect("nbio-test.invalid:80")
                .await
                .unwrap_err();
            assert!(err.to_string().contains("nbio-test.invalid"), "{err}");
            for bad in ["no-port", "host:port", "host:99999"] {
                let err = addrs(bad).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}: {err}");
                assert!(err.to_string().contains(bad), "{err}");
            }
        })
    });
}

#[test]
fn timers_keep_ticking_while_a_lookup_is_in_flight() {
    watched(|| {
        let rt = nbio::Runtime::builder()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        // A slow resolver, stood in for by a job that holds the only pool thread.
        let (release, wait) = mpsc::channel::<()>();
        let _busy = rt.spawn_blocking(move || wait.recv().unwrap());
        rt.block_on(async {
            let lookup = nbio::spawn(async { addrs("localhost:1").await });
            for _ in 0..5 {
                nbio::time::sleep(Duration::from_millis(2)).await;
            }
            assert!(!lookup.is_finished());
            release.send(()).unwrap();
            lookup.await.unwrap().unwrap();
        });
    });
}

#[test]
fn a_lookup_outside_a_runtime_is_an_error_but_a_literal_is_fine() {
    let literal = futures_lite::future::block_on(addrs("10.0.0.1:5")).unwrap();
    assert_eq!(literal, ["10.0.0.1:5".parse::<SocketAddr>().unwrap()]);
    let err = futures_lite::future::block_on(addrs("localhost:5")).unwrap_err();
    assert!(err.to_string().contains("needs an nbio runtime"), "{err}");
}
