//! With the journal on (`NBIO_TRACE`), a simulation's Perfetto trace has a track per host, on
//! which the polls of the host's tasks are drawn, and each message (a TCP write, a datagram)
//! is a flow from the poll that sent it, on the sender's track, to the poll that read it, on
//! the receiver's.

use std::io;

use nbio::net::{AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket};
use nbio::sim::Sim;
use serde_json::Value;

fn run_traced() -> Vec<Value> {
    let path = std::env::temp_dir().join(format!("nbio-sim-trace-{}.json", std::process::id()));
    std::env::set_var("NBIO_TRACE", &path);
    let mut sim = Sim::builder().seed(51).build();
    sim.host("db3", || async {
        let udp = AsyncUdpSocket::bind("0.0.0.0:9000")?;
        let listener = AsyncTcpListener::bind("0.0.0.0:7000")?;
        let (conn, _) = listener.accept().await?;
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await?;
        conn.write_all(&buf).await?;
        let (n, from) = udp.recv_from(&mut buf).await?;
        udp.send_to(&buf[..n], from).await?;
        io::Result::Ok(())
    });
    sim.client("db2", async {
        let conn = AsyncTcpStream::connect("db3:7000").await?;
        conn.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await?;
        let udp = AsyncUdpSocket::bind("0.0.0.0:9001")?;
        udp.send_to(b"hi", "db3:9000").await?;
        udp.recv_from(&mut buf).await?;
        io::Result::Ok(())
    });
    let run = sim.run();
    std::env::remove_var("NBIO_TRACE");
    run.unwrap_or_else(|err| panic!("{err}"));
    let text = std::fs::read_to_string(&path).expect("the trace was written");
    let _ = std::fs::remove_file(&path);
    let trace: Value = serde_json::from_str(&text).expect("the trace is JSON");
    trace["traceEvents"]
        .as_array()
        .expect("traceEvents")
        .clone()
}

/// The track id named `name`.
fn track(events: &[Value], name: &str) -> u64 {
    let named = events
        .iter()
        .find(|event| event["name"] == "thread_name" && event["args"]["name"] == name);
    named.unwrap_or_else(|| panic!("no track {name:?}"))["tid"]
        .as_u64()
        .unwrap()
}

/// Whether a poll slice on track `tid` encloses time `ts`.
fn in_a_poll(events: &[Value], tid: u64, ts: f64) -> bool {
    events.iter().any(|event| {
        let start = event["ts"].as_f64().unwrap_or(f64::NAN);
        let took = event["dur"].as_f64().unwrap_or(f64::NAN);
        event["ph"] == "X"
            && event["cat"] == "poll"
            && event["tid"] == tid
            && start <= ts
            && ts <= start + took
    })
}

#[test]
fn the_trace_has_a_track_per_host_and_a_flow_per_message() {
    let events = run_traced();
    let (db2, db3) = (track(&events, "host db2"), track(&events, "host db3"));
    let messages: Vec<&Value> = (events.iter())
        .filter(|event| event["cat"] == "message")
        .collect();
    let flow = |name: &str| {
        // Named "db2→db3 4 B, sent at 1.234 ms": the simulation's time of the send.
        let ends: Vec<&&Value> = (messages.iter())
            .filter(|event| {
                (event["name"].as_str())
                    .and_then(|full| full.strip_prefix(name)?.strip_prefix(", sent at "))
                    .and_then(|at| at.strip_suffix(" ms")?.parse::<f64>().ok())
                    .is_some()
            })
            .collect();
        assert_eq!(
            ends.len(),
            2,
            "one start and one end of {name:?}: {messages:?}"
        );
        assert_eq!(ends[0]["id"], ends[1]["id"]);
        let at = |end: &Value| (end["tid"].as_u64().unwrap(), end["ts"].as_f64().unwrap());
        let (start, end) = match (ends[0]["ph"].as_str(), ends[1]["ph"].as_str()) {
            (Some("s"), Some("f")) => (at(ends[0]), at(ends[1])),
            (Some("f"), Some("s")) => (at(ends[1]), at(ends[0])),
            other => panic!("not a flow: {other:?}"),
        };
        // Each end inside a poll on its host's track, so that Perfetto binds the arrow to it.
        assert!(in_a_poll(&events, start.0, start.1), "{name}: {start:?}");
        assert!(in_a_poll(&events, end.0, end.1), "{name}: {end:?}");
        (start.0, end.0)
    };
    assert_eq!(flow("db2→db3 4 B"), (db2, db3));
    assert_eq!(flow("db3→db2 4 B"), (db3, db2));
    assert_eq!(flow("db2→db3 2 B"), (db2, db3));
    assert_eq!(flow("db3→db2 2 B"), (db3, db2));
}
