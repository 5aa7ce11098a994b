//! W9 and W9b: CPU work spread over the workers, where a runtime with two threads should use
//! both cores, and where stealing must work.
//!
//! Every task's work is a busy-wait on the monotonic clock (`spin`), never a sleep, for a
//! duration drawn from a fixed seed, so every runtime gets the same work. The floor is the sum
//! of that work divided by the machine's two cores: no scheduler can finish sooner. A
//! one-thread runtime gets about twice the floor: its figures show what one core does.
//!
//! Because the work waits on the wall clock, a worker that the kernel takes away from us in the
//! middle of a task (the machine is shared) still finishes that task on time; what such a theft
//! costs shows in "cores busy" (process CPU time ÷ wall), not in the wall time.
//!
//! - W9: one task spawns 40,000 tasks of 1–200 µs each and awaits them all.
//! - W9b, a tree: a task spawns its children, then works, then awaits them; how many children
//!   each task has is drawn from the seed (half have none, a few have sixteen), so work appears
//!   unevenly, on whichever worker runs the parent, and the other worker must take it from
//!   there. Then, ten times, a task spawns 50 children (100 µs of work each) and blocks its
//!   worker in `std::thread::sleep(20 ms)`: a runtime that steals finishes the 50 children on
//!   its other worker while the sleep lasts; one that does not finishes them after it.

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::measure::{median, ms, process_cpu_time, XorShift};
use crate::peers::Peer;
use crate::workloads::{in_task, Figures, Sizes};

/// The fixed seed of W9's work.
const SPREAD_SEED: u64 = 0x2545_F491_4F6C_DD1D;
/// The fixed seed of W9b's tree: its shape and its work.
const TREE_SEED: u64 = 0xD1B5_4A32_D192_ED03;
/// The cores the floor is computed for: the machine the goals are set on has two.
pub const CORES: f64 = 2.0;
/// The range of one task's work, in microseconds.
const WORK_US: (u64, u64) = (1, 200);
/// How many children the root of W9b's tree has.
const ROOT_CHILDREN: usize = 8;
/// W9b's blocked task: its children, their work, and how long it blocks its worker.
pub const BLOCKED_CHILDREN: usize = 50;
pub const BLOCKED_CHILD_WORK: Duration = Duration::from_micros(100);
pub const BLOCK_FOR: Duration = Duration::from_millis(20);

/// Busy-waits for `work` on the monotonic clock.
pub fn spin(work: Duration) {
    let start = Instant::now();
    while start.elapsed() < work {
        std::hint::spin_loop();
    }
}

fn draw_work(rng: &mut XorShift) -> Duration {
    Duration::from_micros(rng.in_range(WORK_US.0, WORK_US.1))
}

/// W9's work: `tasks` durations from the fixed seed.
pub fn spread_work(tasks: usize) -> Vec<Duration> {
    let mut rng = XorShift::new(SPREAD_SEED);
    (0..tasks).map(|_| draw_work(&mut rng)).collect()
}

/// One run's figures under `keys`: wall time, floor (ms), wall ÷ floor, and cores busy.
fn cpu_figures(keys: [&'static str; 4], work: Duration, wall: Duration, cpu: Duration) -> Figures {
    let floor = ms(work) / CORES;
    let [wall_key, floor_key, ratio_key, busy_key] = keys;
    vec![
        (wall_key, ms(wall)),
        (floor_key, floor),
        (ratio_key, ms(wall) / floor),
        (busy_key, cpu.as_secs_f64() / wall.as_secs_f64()),
    ]
}

const SPREAD_KEYS: [&str; 4] = [
    "spread_wall_ms",
    "spread_floor_ms",
    "spread_wall_over_floor",
    "spread_cores_busy",
];

/// W9 on a runtime: one task spawns every piece of work as a task, then awaits them in order.
pub fn spread<P: Peer>(sizes: &Sizes) -> Figures {
    let work = spread_work(sizes.spread_tasks);
    let total: Duration = work.iter().sum();
    let (wall, cpu) = in_task::<P, _>(async move {
        let cpu_before = process_cpu_time();
        let start = Instant::now();
        let handles: Vec<_> = work
            .into_iter()
            .map(|d| {
                P::spawn(async move {
                    spin(d);
                    d
                })
            })
            .collect();
        let mut done = Duration::ZERO;
        for handle in handles {
            done += handle.await;
        }
        let wall = start.elapsed();
        assert_eq!(done, total, "W9: the tasks' work does not add up");
        (wall, process_cpu_time() - cpu_before)
    });
    cpu_figures(SPREAD_KEYS, total, wall, cpu)
}

/// W9 on two std threads: each takes the next piece of work from a shared counter until none
/// is left. No tasks, no queues: the limit a scheduler is measured against.
pub fn spread_on_threads(sizes: &Sizes) -> Figures {
    let work = spread_work(sizes.spread_tasks);
    let total: Duration = work.iter().sum();
    let next = AtomicUsize::new(0);
    let cpu_before = process_cpu_time();
    let start = Instant::now();
    thread::scope(|scope| {
        for _ in 0..CORES as usize {
            scope.spawn(|| {
                while let Some(&d) = work.get(next.fetch_add(1, Ordering::Relaxed)) {
                    spin(d);
                }
            });
        }
    });
    let wall = start.elapsed();
    cpu_figures(SPREAD_KEYS, total, wall, process_cpu_time() - cpu_before)
}

// ---------------------------------------------------------------------------------------------
// W9b

/// W9b's tree, drawn before any clock starts: node `i` works `work[i]` and has the children
/// `children[i]` (nodes are numbered breadth first, so a node's children are consecutive).
struct Tree {
    work: Vec<Duration>,
    children: Vec<Range<usize>>,
}

impl Tree {
    /// A tree of exactly `nodes` nodes, from the fixed seed.
    fn new(nodes: usize) -> Tree {
        assert!(nodes > 0, "W9b: a tree needs a root");
        let mut rng = XorShift::new(TREE_SEED);
        let mut tree = Tree {
            work: vec![draw_work(&mut rng)],
            children: Vec::with_capacity(nodes),
        };
        let mut node = 0;
        while node < tree.work.len() {
            let wanted = if node == 0 {
                ROOT_CHILDREN
            } else {
                fan_out(&mut rng)
            };
            // The last node still to be expanded never ends the tree before it is complete.
            let last_hope = node + 1 == tree.work.len();
            let wanted = if last_hope { wanted.max(2) } else { wanted };
            let first = tree.work.len();
            let count = wanted.min(nodes - first);
            tree.work.extend((0..count).map(|_| draw_work(&mut rng)));
            tree.children.push(first..first + count);
            node += 1;
        }
        assert_eq!(tree.work.len(), nodes, "W9b: the tree has the wrong size");
        tree
    }
}

/// How many children a node has: none for half of them, two, four, or, rarely, sixteen.
fn fan_out(rng: &mut XorShift) -> usize {
    match rng.in_range(0, 99) {
        0..=49 => 0,
        50..=79 => 2,
        80..=94 => 4,
        _ => 16,
    }
}

type NodeFuture = Pin<Box<dyn Future<Output = Duration> + Send>>;

/// Node `index`: spawns its children, works, then awaits them; the work of its whole subtree.
fn node<P: Peer>(tree: Arc<Tree>, index: usize) -> NodeFuture {
    Box::pin(async move {
        let children: Vec<_> = tree.children[index]
            .clone()
            .map(|child| P::spawn(node::<P>(Arc::clone(&tree), child)))
            .collect();
        spin(tree.work[index]);
        let mut work = tree.work[index];
        for child in children {
            work += child.await;
        }
        work
    })
}

/// What W9b's blocked task's children report.
struct Blocked {
    started: Instant,
    /// Nanoseconds from `started` until the last child finished.
    last_done_ns: AtomicU64,
    /// Cleared when the sleep is over.
    blocking: AtomicBool,
    done_while_blocking: AtomicUsize,
}

/// One round of the blocked task: milliseconds until its last child finished, and how many
/// finished while it slept.
async fn blocked_round<P: Peer>() -> (f64, f64) {
    let blocked = Arc::new(Blocked {
        started: Instant::now(),
        last_done_ns: AtomicU64::new(0),
        blocking: AtomicBool::new(true),
        done_while_blocking: AtomicUsize::new(0),
    });
    let shared = Arc::clone(&blocked);
    P::spawn(async move {
        let children: Vec<_> = (0..BLOCKED_CHILDREN)
            .map(|_| {
                let blocked = Arc::clone(&shared);
                P::spawn(async move {
                    spin(BLOCKED_CHILD_WORK);
                    let at = blocked.started.elapsed().as_nanos() as u64;
                    blocked.last_done_ns.fetch_max(at, Ordering::Relaxed);
                    if blocked.blocking.load(Ordering::Acquire) {
                        blocked.done_while_blocking.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // Blocks the worker, as a long computation or a blocking call would.
        thread::sleep(BLOCK_FOR);
        shared.blocking.store(false, Ordering::Release);
        for child in children {
            child.await;
        }
    })
    .await;
    let last_done = blocked.last_done_ns.load(Ordering::Relaxed) as f64 / 1e6;
    let during = blocked.done_while_blocking.load(Ordering::Relaxed) as f64;
    (last_done, during)
}

/// W9b on a runtime: the tree, then the blocked task's rounds.
pub fn tree_and_block<P: Peer>(sizes: &Sizes) -> Figures {
    let tree = Arc::new(Tree::new(sizes.tree_nodes));
    let total: Duration = tree.work.iter().sum();
    let rounds = sizes.blocked_rounds;
    let ((wall, cpu), (children_ms, during)) = in_task::<P, _>(async move {
        let cpu_before = process_cpu_time();
        let start = Instant::now();
        let work = P::spawn(node::<P>(tree, 0)).await;
        let wall = start.elapsed();
        assert_eq!(work, total, "W9b: the tree's work does not add up");
        let cpu = process_cpu_time() - cpu_before;
        let (mut children_ms, mut during) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (ms, count) = blocked_round::<P>().await;
            children_ms.push(ms);
            during.push(count);
        }
        ((wall, cpu), (median(&children_ms), median(&during)))
    });
    let mut figures = cpu_figures(
        [
            "tree_wall_ms",
            "tree_floor_ms",
            "tree_wall_over_floor",
            "tree_cores_busy",
        ],
        total,
        wall,
        cpu,
    );
    figures.push(("blocked_children_ms", children_ms));
    figures.push(("blocked_children_in_block", during));
    figures
}
