//! The dump names hosts inside `nbio::sim`: each task of a host is "task#N on db2", and a task
//! waiting on the simulated network says on what: "recv from db3:7000, partitioned since
//! 4.20 s". Both the runtime's dump and a deadlock's report say so.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nbio::net::{AsyncTcpListener, AsyncTcpStream};
use nbio::sim::{Sim, SimFailure};

#[test]
fn a_task_cut_off_by_a_partition_says_whom_it_waits_on_and_since_when() {
    let seen = Arc::new(Mutex::new(String::new()));
    let mut sim = Sim::builder().seed(41).build();
    sim.host("db3", || async {
        let listener = AsyncTcpListener::bind("0.0.0.0:7000")?;
        let (conn, _) = listener.accept().await?;
        let mut request = [0u8; 3];
        conn.read_exact(&mut request).await?;
        conn.write_all(b"ok").await?;
        io::Result::Ok(())
    });
    sim.client("db2", async {
        let conn = AsyncTcpStream::connect("db3:7000").await?;
        nbio::time::sleep_until(nbio::time::now() + Duration::from_millis(4200)).await;
        nbio::sim::partition("db2", "db3");
        conn.write_all(b"get").await?;
        let mut reply = [0u8; 2];
        conn.read_exact(&mut reply).await?;
        io::Result::Ok(())
    });
    let noted = Arc::clone(&seen);
    sim.host("watcher", move || {
        let noted = Arc::clone(&noted);
        async move {
            nbio::time::sleep(Duration::from_secs(5)).await;
            *noted.lock().unwrap() = nbio::dump().to_string();
        }
    });
    let err = sim.run().unwrap_err();
    let text = err.to_string();
    let SimFailure::Deadlock { tasks, .. } = &err.failure else {
        panic!("not a deadlock: {text}");
    };
    let waiting = |tasks: &[&str], host: &str, wait: &str| {
        tasks
            .iter()
            .any(|task| task.contains(&format!(" on {host} ")) && task.contains(wait))
    };
    let reported: Vec<&str> = tasks.iter().map(String::as_str).collect();
    // The partition came 4.2 s after the connect, which took a few ms.
    let since = ", partitioned since 4.2";
    assert!(
        waiting(
            &reported,
            "db2",
            &format!("waits on recv from db3:7000{since}")
        ),
        "{text}"
    );
    assert!(
        waiting(&reported, "db3", "waits on recv from db2:"),
        "{text}"
    );
    let dump = seen.lock().unwrap().clone();
    let lines: Vec<&str> = dump.lines().collect();
    assert!(
        waiting(
            &lines,
            "db2",
            &format!("waits on recv from db3:7000{since}")
        ),
        "{dump}"
    );
    assert!(waiting(&lines, "watcher", "running"), "{dump}");
}

#[test]
fn a_task_waiting_to_accept_says_where() {
    let mut sim = Sim::builder().seed(42).build();
    sim.host("db1", || async {
        let listener = AsyncTcpListener::bind("0.0.0.0:9000")?;
        listener.accept().await?;
        io::Result::Ok(())
    });
    sim.client("c", async {
        nbio::time::sleep(Duration::from_millis(1)).await;
        std::future::pending::<()>().await;
    });
    let err = sim.run().unwrap_err();
    assert!(
        err.to_string().contains(" on db1 ")
            && err.to_string().contains("waits on accept on 10.0.0.1:9000"),
        "{err}"
    );
}
