//! Work stealing, watched: a task spawns eight children and then blocks its worker; the other
//! worker takes the children from its queue and runs them meanwhile.
//!
//! ```text
//! cargo run --release -p nbio --example stealing                 # what ran where
//! cargo run --release -p nbio --example stealing -- trace.json   # and the trace
//! cargo run --release -p demo --bin timeline -- --by-thread trace.json timeline.svg
//! ```
//!
//! The guide's chapter 8 shows the timeline this draws. A task should not block its worker
//! (the slow-poll warning says so, on stderr); the point is what happens when one does.

use std::thread;
use std::time::{Duration, Instant};

/// Holds the thread for `duration` without sleeping: CPU work.
fn compute(duration: Duration) {
    let start = Instant::now();
    while start.elapsed() < duration {
        std::hint::spin_loop();
    }
}

fn main() -> std::io::Result<()> {
    let trace = std::env::args().nth(1);
    let runtime = nbio::Runtime::builder()
        .worker_threads(2)
        .trace(trace.is_some())
        .build()?;
    let started = Instant::now();
    let children = runtime.block_on(async {
        let parent = nbio::task::Builder::new().name("parent").spawn(async {
            let children: Vec<_> = (0..8)
                .map(|i| {
                    nbio::task::Builder::new()
                        .name(&format!("child {i}"))
                        .spawn(async move {
                            compute(Duration::from_millis(1));
                            (i, thread::current().name().unwrap_or("?").to_string())
                        })
                })
                .collect();
            // The mistake: a blocking call inside a task. Its worker is stuck for 10 ms.
            thread::sleep(Duration::from_millis(10));
            (
                thread::current().name().unwrap_or("?").to_string(),
                children,
            )
        });
        let (blocked, children) = parent.await.expect("the parent task");
        let mut ran = Vec::new();
        for child in children {
            ran.push(child.await.expect("a child task"));
        }
        (blocked, ran)
    });
    let (blocked, children) = children;
    println!("in {:.1} ms:", started.elapsed().as_secs_f64() * 1e3);
    println!("  the parent blocked {blocked}");
    for (child, thread) in children {
        println!("  child {child} ran on {thread}");
    }
    let stats = runtime.stats();
    for (i, worker) in stats.workers.iter().enumerate() {
        println!(
            "  worker {}: {} polls, {} tasks stolen from the other",
            i + 1,
            worker.polls,
            worker.steals
        );
    }
    if let Some(path) = trace {
        runtime.write_trace(std::fs::File::create(&path)?)?;
        println!("trace written to {path}");
    }
    Ok(())
}
