//! The accept loop under pressure: out of file descriptors it waits without spinning and
//! recovers when descriptors free up; a client that resets before it was accepted does not end
//! it.
//!
//! A listener whose process is out of descriptors stays readable (the connection waits in the
//! backlog), so an accept loop that retries at once spins at 100% CPU, and one that returns
//! the error invites its caller to do the same, or to give up serving. nbio's `accept` backs
//! off instead (`net/mod.rs`, `accept_patiently`). To run out of descriptors without starving
//! the other tests, the server runs in a child process (this test binary, run again for one
//! test) with its descriptor limit lowered; the clients are in this process.

use std::cell::RefCell;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::time::sleep;
use nbio_tests::{
    lower_fd_limit, oneshot, open_fds, process_cpu_time, set_linger_zero, set_listen_backlog,
    watchdog, watched,
};

/// Set in the child's environment: run the server side.
const CHILD: &str = "NBIO_ACCEPT_PRESSURE_CHILD";
/// Clients that connect, send a byte and expect one back.
const CLIENTS: usize = 200;
/// Clients that connect and reset while they wait in the backlog.
const RESETTERS: usize = 20;
/// Descriptors the child may open beyond those it has when it starts: the runtime's few, the
/// listener, and some accepted connections. Far fewer than `CLIENTS`.
const HEADROOM: usize = 40;
/// How long the child measures its CPU time while it is out of descriptors.
const STALL: Duration = Duration::from_secs(1);
/// The CPU time the child may use in that window. An accept loop that spins uses all of it
/// (a whole core); one that backs off uses well under 1%. Loose, so a busy machine cannot
/// make it fail.
const CPU_BOUND: Duration = Duration::from_millis(250);

/// What the child reports on its last line.
#[derive(Debug)]
struct Report {
    served: usize,
    stalled_at: usize,
    cpu_while_stalled: Duration,
}

#[test]
fn an_accept_loop_out_of_descriptors_does_not_spin_and_recovers_when_they_free_up() {
    if std::env::var_os(CHILD).is_some() {
        // The child's own watchdog ends it even if the parent is gone.
        return watchdog(
            "accept pressure child",
            Duration::from_secs(60),
            child_server,
        );
    }
    let report = watchdog("accept pressure parent", Duration::from_secs(90), parent);
    eprintln!(
        "child out of descriptors after {} connections; {:?} CPU in {STALL:?} while stalled; \
         then served all {} clients",
        report.stalled_at, report.cpu_while_stalled, report.served
    );
    assert!(
        report.stalled_at < CLIENTS,
        "the child never ran out of descriptors: {report:?}"
    );
    assert!(
        report.cpu_while_stalled < CPU_BOUND,
        "the accept loop used {:?} of CPU in {STALL:?} while out of descriptors: it spins",
        report.cpu_while_stalled
    );
    assert_eq!(report.served, CLIENTS, "{report:?}");
}

/// Kills the child if the parent gives up on it (a failed assertion, the watchdog).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The clients' side: start the child, connect every client while the child is out of
/// descriptors, tell it so, and check that every client was answered.
fn parent() -> Report {
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "an_accept_loop_out_of_descriptors_does_not_spin_and_recovers_when_they_free_up",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the child server"),
    );
    let mut to_child: ChildStdin = child.0.stdin.take().unwrap();
    let mut from_child = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let mut next_value = |key: &str| loop {
        let line = from_child
            .next()
            .unwrap_or_else(|| panic!("the child ended before it said {key}"))
            .unwrap();
        // Not at the start of the line: libtest may have begun one ("test name ... ").
        if let Some((_, value)) = line.split_once(key) {
            return value.trim().to_string();
        }
    };
    let addr: SocketAddr = next_value("listening on").parse().unwrap();
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|i| {
            let mut client = TcpStream::connect(addr).unwrap();
            client.write_all(&[i as u8]).unwrap();
            if i % (CLIENTS / RESETTERS) == 0 {
                let resetter = TcpStream::connect(addr).unwrap();
                set_linger_zero(&resetter).unwrap();
                drop(resetter);
            }
            client
        })
        .collect();
    writeln!(to_child, "connected").unwrap();
    let number = |value: String| value.parse::<u64>().unwrap();
    let report = Report {
        stalled_at: number(next_value("stalled at")) as usize,
        cpu_while_stalled: Duration::from_micros(number(next_value("cpu us"))),
        served: number(next_value("served")) as usize,
    };
    let status = child.0.wait().unwrap();
    assert!(status.success(), "the child server failed: {status}");
    for (i, mut client) in clients.into_iter().enumerate() {
        let mut answer = [0u8; 1];
        client.read_exact(&mut answer).unwrap();
        assert_eq!(answer, [i as u8], "client {i} got another client's answer");
    }
    report
}

/// The server's side, in the child: lower the descriptor limit, accept until every client was
/// served, holding each connection open so that the descriptors run out, and report.
fn child_server() {
    // New descriptors get the lowest free numbers below the limit; those already open above
    // it (one inherited from cargo, say) stay valid and take no room below it.
    lower_fd_limit((open_fds() + HEADROOM) as u64).unwrap();
    let (connected, all_connected) = oneshot();
    // The parent says when every client is waiting. Reading stdin needs no new descriptor.
    std::thread::spawn(move || {
        let mut line = String::new();
        io::stdin().read_line(&mut line).unwrap();
        connected.send(());
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    set_listen_backlog(&listener, 1024).unwrap();
    println!("listening on {}", listener.local_addr().unwrap());
    let listener = AsyncTcpListener::from_std(listener).unwrap();
    let runtime = nbio::Runtime::new().unwrap();
    runtime.block_on(async {
        let held: Held = Rc::new(RefCell::new(Some(Vec::new())));
        let accepting = nbio::spawn_local(accept_loop(listener, Rc::clone(&held)));
        all_connected.await.expect("the parent went away");
        // Wait until the process is out of descriptors: opening a file fails with EMFILE.
        // (Then nothing can be accepted, and nothing closes until we let go below.)
        while !out_of_descriptors() {
            sleep(Duration::from_millis(20)).await;
        }
        let holding = || held.borrow().as_ref().map_or(0, Vec::len);
        let stalled_at = holding();
        let cpu_before = process_cpu_time();
        sleep(STALL).await;
        let cpu_while_stalled = process_cpu_time() - cpu_before;
        assert_eq!(holding(), stalled_at, "accepted while out of descriptors");
        // Free the descriptors, and hold no more: the loop must pick up the clients still
        // waiting.
        let freed = held.borrow_mut().take();
        drop(freed);
        let served = accepting
            .await
            .unwrap()
            .expect("the accept loop ended with an error");
        println!("stalled at {stalled_at}");
        println!("cpu us {}", cpu_while_stalled.as_micros());
        println!("served {served}");
    });
}

/// Whether this process has no descriptor left: a file cannot be opened for lack of one.
fn out_of_descriptors() -> bool {
    match std::fs::File::open("/dev/null") {
        Ok(_) => false, // closed again at once
        Err(err) => err.raw_os_error() == Some(libc::EMFILE),
    }
}

/// The connections the child holds open to use up its descriptors; `None` once it let go.
type Held = Rc<RefCell<Option<Vec<AsyncTcpStream>>>>;

/// Accepts until `CLIENTS` clients were served; a connection that was reset is skipped. Each
/// served connection is answered and then held, while the controller still holds them.
async fn accept_loop(listener: AsyncTcpListener, held: Held) -> io::Result<usize> {
    let mut served = 0;
    while served < CLIENTS {
        let (conn, _) = listener.accept().await?;
        let mut byte = [0u8; 1];
        // A client that reset while it waited in the backlog fails to read: nothing to serve.
        if conn.read_exact(&mut byte).await.is_ok() {
            conn.write_all(&byte).await?;
            if let Some(held) = held.borrow_mut().as_mut() {
                held.push(conn);
            }
            served += 1;
        }
    }
    Ok(served)
}

#[test]
fn clients_that_reset_before_they_were_accepted_do_not_end_the_accept_loop() {
    const EACH: usize = 50;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    set_listen_backlog(&listener, 1024).unwrap();
    let addr = listener.local_addr().unwrap();
    // Every client is queued before the loop starts: resets and good clients alternate in the
    // backlog, and every reset lands before its connection is accepted.
    let good: Vec<TcpStream> = (0..EACH)
        .map(|i| {
            let resetter = TcpStream::connect(addr).unwrap();
            set_linger_zero(&resetter).unwrap();
            drop(resetter);
            let mut client = TcpStream::connect(addr).unwrap();
            client.write_all(&[i as u8]).unwrap();
            client
        })
        .collect();
    let started = Instant::now();
    let (served, accepted) = watched(move || {
        nbio::block_on(async move {
            let listener = AsyncTcpListener::from_std(listener).unwrap();
            let (mut served, mut accepted) = (0, 0);
            while served < EACH {
                // Any error here ends the loop, and the test with it.
                let (conn, _) = listener.accept().await.expect("accept failed");
                accepted += 1;
                let mut byte = [0u8; 1];
                if conn.read_exact(&mut byte).await.is_ok() {
                    conn.write_all(&byte).await.unwrap();
                    served += 1;
                }
            }
            (served, accepted)
        })
    });
    eprintln!(
        "served {served} clients among {EACH} resets ({accepted} connections accepted) in {:?}",
        started.elapsed()
    );
    for (i, mut client) in good.into_iter().enumerate() {
        let mut answer = [0u8; 1];
        client.read_exact(&mut answer).unwrap();
        assert_eq!(answer, [i as u8]);
    }
    assert_eq!(served, EACH);
}
