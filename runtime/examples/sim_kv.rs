//! A replicated key-value store tested in one process: a leader and two followers over TCP,
//! a client that writes and then reads from every follower, and a nemesis that now and then
//! partitions the leader from one follower. The store has one deliberate bug that only a
//! partition during a write exposes; 1,000 seeds find it, print the seed that replays it, and
//! pass once it is fixed.
//!
//! The bug: the leader waits at most 100 ms for each follower to acknowledge a write, and when
//! one does not, it tells the client "OK" anyway. On a calm network every acknowledgement
//! comes within a few milliseconds, so no test on a real network or a real laptop sees it; the
//! write that overlaps a partition is acknowledged while a follower never got it, and the
//! client's next read from that follower is stale. The fix: answer "ERR" (the write did not
//! commit everywhere) instead.
//!
//! ```text
//! cargo run -p nbio --release --example sim_kv
//! NBIO_SEED=9 cargo run -p nbio --example sim_kv         # replay one seed, buggy and fixed
//! NBIO_TRACE=kv.json NBIO_SEED=9 cargo run -p nbio --example sim_kv -- buggy
//!                                                       # one version, its trace in kv.json
//! ```
//!
//! Nothing here knows it is simulated: the servers bind, connect by host name, time out and
//! spawn with the ordinary nbio calls. `tests/tests/sim_kv.rs` runs it as a test.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::sim::{Sim, SimError, SimReport};
use nbio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

/// Which leader to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// Acknowledges a write that a follower may not have.
    Buggy,
    /// Acknowledges a write only once every follower has it.
    Fixed,
}

// Every message is four little-endian u64 words: a kind and three arguments.
const PUT: u64 = 1; // client -> leader: PUT key value
const OK: u64 = 2; // leader -> client: the write is everywhere
const ERR: u64 = 3; // leader -> client: it is not
const SET: u64 = 4; // leader -> follower: SET seq key value
const ACK: u64 = 5; // follower -> leader: ACK seq
const GET: u64 = 6; // client -> follower: GET key
const VAL: u64 = 7; // follower -> client: VAL key value
const NONE: u64 = u64::MAX;

type Message = [u64; 4];

async fn send(conn: &AsyncTcpStream, message: Message) -> io::Result<()> {
    let mut bytes = [0u8; 32];
    for (chunk, word) in bytes.chunks_mut(8).zip(message) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    conn.write_all(&bytes).await
}

async fn recv(conn: &AsyncTcpStream) -> io::Result<Message> {
    let mut bytes = [0u8; 32];
    conn.read_exact(&mut bytes).await?;
    let mut message = [0u64; 4];
    for (word, chunk) in message.iter_mut().zip(bytes.chunks(8)) {
        *word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    }
    Ok(message)
}

/// Connects to `addr`, retrying while nothing listens there yet (every host starts at once).
async fn connect(addr: &str) -> io::Result<AsyncTcpStream> {
    loop {
        match AsyncTcpStream::connect(addr).await {
            Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
                nbio::time::sleep(Duration::from_millis(10)).await;
            }
            result => return result,
        }
    }
}

/// A follower: applies SETs from the leader, answers GETs from anyone.
async fn follower() -> io::Result<()> {
    let store = Arc::new(Mutex::new(HashMap::new()));
    let listener = AsyncTcpListener::bind("0.0.0.0:7001")?;
    loop {
        let (conn, _) = listener.accept().await?;
        nbio::spawn(serve_follower(conn, Arc::clone(&store)));
    }
}

async fn serve_follower(
    conn: AsyncTcpStream,
    store: Arc<Mutex<HashMap<u64, u64>>>,
) -> io::Result<()> {
    loop {
        match recv(&conn).await? {
            [SET, seq, key, value] => {
                store.lock().unwrap().insert(key, value);
                send(&conn, [ACK, seq, 0, 0]).await?;
            }
            [GET, key, ..] => {
                let value = store.lock().unwrap().get(&key).copied().unwrap_or(NONE);
                send(&conn, [VAL, key, value, 0]).await?;
            }
            other => return Err(io::Error::other(format!("follower got {other:?}"))),
        }
    }
}

/// The leader's link to one follower: the connection, and the acknowledgements its reader
/// task has seen.
struct Replica {
    conn: Arc<AsyncTcpStream>,
    acks: UnboundedReceiver<u64>,
}

/// The leader: replicates each PUT to both followers, then answers the client.
async fn leader(version: Version) -> io::Result<()> {
    let mut replicas = Vec::new();
    for addr in ["f1:7001", "f2:7001"] {
        let conn = Arc::new(connect(addr).await?);
        let (acks_in, acks) = unbounded_channel();
        let reader = Arc::clone(&conn);
        nbio::spawn(async move {
            while let Ok([ACK, seq, ..]) = recv(&reader).await {
                if acks_in.send(seq).is_err() {
                    break;
                }
            }
        });
        replicas.push(Replica { conn, acks });
    }
    let listener = AsyncTcpListener::bind("0.0.0.0:7000")?;
    let mut seq = 0;
    loop {
        let (conn, _) = listener.accept().await?;
        // One client at a time keeps the example short.
        while let Ok([PUT, key, value, _]) = recv(&conn).await {
            seq += 1;
            let everywhere = replicate(&mut replicas, seq, key, value).await?;
            let answer = match (everywhere, version) {
                (true, _) => OK,
                // THE BUG: a follower that did not answer in time is taken to have the write.
                (false, Version::Buggy) => OK,
                (false, Version::Fixed) => ERR,
            };
            send(&conn, [answer, key, value, 0]).await?;
        }
    }
}

/// Sends SET to every follower; true if each acknowledged within 100 ms.
async fn replicate(replicas: &mut [Replica], seq: u64, key: u64, value: u64) -> io::Result<bool> {
    for replica in replicas.iter() {
        send(&replica.conn, [SET, seq, key, value]).await?;
    }
    let mut everywhere = true;
    for replica in replicas.iter_mut() {
        let acked = nbio::time::timeout(Duration::from_millis(100), async {
            while let Some(acked) = replica.acks.recv().await {
                if acked >= seq {
                    return true;
                }
            }
            false
        });
        everywhere &= acked.await == Ok(true);
    }
    Ok(everywhere)
}

/// The client: 20 writes; after each one the leader acknowledged, reads it back from both
/// followers.
async fn client() -> io::Result<()> {
    let leader = connect("leader:7000").await?;
    let followers = [
        ("f1", connect("f1:7001").await?),
        ("f2", connect("f2:7001").await?),
    ];
    for value in 0..20 {
        let key = value % 3;
        send(&leader, [PUT, key, value, 0]).await?;
        if recv(&leader).await?[0] != OK {
            continue; // not committed: nothing to check
        }
        for (name, follower) in &followers {
            send(follower, [GET, key, 0, 0]).await?;
            let [VAL, _, got, _] = recv(follower).await? else {
                return Err(io::Error::other(
                    "a follower answered a GET with something else",
                ));
            };
            if got != value {
                return Err(io::Error::other(format!(
                    "stale read: {name} has key {key} = {got} after PUT {key} = {value} was \
                     acknowledged"
                )));
            }
        }
        nbio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The nemesis: every 50 ms, at buggify!'s rate, cuts the leader off from f2 for 300 ms.
async fn nemesis() {
    loop {
        nbio::time::sleep(Duration::from_millis(50)).await;
        if nbio::sim::buggify!() {
            nbio::sim::partition("leader", "f2");
            nbio::time::sleep(Duration::from_millis(300)).await;
            nbio::sim::repair("leader", "f2");
        }
    }
}

/// One run of the store under `seed`.
pub fn run(seed: u64, version: Version) -> Result<SimReport, SimError> {
    let mut sim = Sim::builder()
        .seed(seed)
        .latency(Duration::from_micros(500)..=Duration::from_millis(5))
        .buggify(0.02)
        .build();
    sim.host("f1", follower);
    sim.host("f2", follower);
    sim.host("leader", move || leader(version));
    sim.host("nemesis", nemesis);
    sim.client("client", client());
    sim.run()
}

/// CPU time this process has used so far.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the struct it is given, which is ours and zeroed.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

#[allow(dead_code)] // the test includes this file for `run`
fn main() {
    let versions = match std::env::args().nth(1).as_deref() {
        None => vec![Version::Buggy, Version::Fixed],
        Some("buggy") => vec![Version::Buggy],
        Some("fixed") => vec![Version::Fixed],
        Some(other) => {
            eprintln!("sim_kv: unknown version {other:?}: say buggy, fixed, or nothing for both");
            std::process::exit(2);
        }
    };
    if let Ok(text) = std::env::var("NBIO_SEED") {
        let Ok(seed) = text.trim().parse() else {
            eprintln!("sim_kv: NBIO_SEED={text:?} is not a number: set it to the seed to replay");
            std::process::exit(2);
        };
        for version in versions {
            match run(seed, version) {
                Ok(report) => println!(
                    "{version:?}: passed in {:?} of virtual time, {} messages delivered, faults: \
                     {}",
                    report.elapsed,
                    report.delivered,
                    report.faults.join(", ")
                ),
                Err(err) => println!("{version:?}: {err}"),
            }
        }
        return;
    }
    let seeds = 1000;
    let failing: Vec<u64> = (0..seeds)
        .filter(|seed| run(*seed, Version::Buggy).is_err())
        .collect();
    match failing.first() {
        Some(seed) => println!(
            "buggy: {} of {seeds} seeds fail; the first: {}",
            failing.len(),
            run(*seed, Version::Buggy).unwrap_err()
        ),
        None => println!("buggy: no seed of {seeds} fails"),
    }
    let before = cpu_time();
    let mut delivered = 0;
    for seed in 0..seeds {
        match run(seed, Version::Fixed) {
            Ok(report) => delivered += report.delivered,
            Err(err) => {
                eprintln!("sim_kv: the fixed store failed: {err}");
                std::process::exit(1);
            }
        }
    }
    let spent = cpu_time() - before;
    println!(
        "fixed: all {seeds} seeds pass; {delivered} messages delivered in {spent:?} of CPU: \
         {:.0} simulated messages per CPU-second, {:.2} us of CPU per message",
        delivered as f64 / spent.as_secs_f64(),
        spent.as_secs_f64() * 1e6 / delivered as f64
    );
}
