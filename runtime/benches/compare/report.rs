//! From the children's figures to the report: the rows, their ratios, the machine it ran on,
//! and the markdown tables (one per `columns::Table`). The JSON file is written by `json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::columns::{self, Ratio, Table, RATIOS};
use crate::measure::median;

/// Which way a metric is better.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
    /// Reported for information (W1's counter ticks, W9's floor): more is not simply better.
    Info,
}

impl Better {
    pub fn word(self) -> &'static str {
        match self {
            Better::Lower => "lower",
            Better::Higher => "higher",
            Better::Info => "info",
        }
    }
}

/// One row of the table.
pub struct Metric {
    pub workload: &'static str,
    pub key: &'static str,
    pub label: &'static str,
    pub unit: &'static str,
    pub better: Better,
}

/// Every row, in table order; the keys are what the workloads report.
pub const METRICS: &[Metric] = &[
    metric(
        "W1",
        "round_ms",
        "W1 demo: 2 × 7 MiB round",
        "ms",
        Better::Lower,
    ),
    metric(
        "W1",
        "counter_ticks",
        "W1 demo: counter ticks per round",
        "ticks",
        Better::Info,
    ),
    metric(
        "W1",
        "counter_ticks_min",
        "W1 demo: fewest ticks in a round",
        "ticks",
        Better::Info,
    ),
    metric(
        "W2",
        "round_trips_per_s",
        "W2 echo, 64 B round trips",
        "round trips/s",
        Better::Higher,
    ),
    metric(
        "W3",
        "ns_per_task",
        "W3 spawn + join",
        "ns/task",
        Better::Lower,
    ),
    metric(
        "W4",
        "ns_per_handoff_arc",
        "W4 ping-pong, Arc + Mutex",
        "ns/hand-off",
        Better::Lower,
    ),
    metric(
        "W4",
        "ns_per_handoff_rc",
        "W4 ping-pong, Rc + Cell (local tasks)",
        "ns/hand-off",
        Better::Lower,
    ),
    metric(
        "W5",
        "ns_per_yield",
        "W5 yield_now",
        "ns/yield",
        Better::Lower,
    ),
    metric(
        "W6",
        "timers_wall_ms",
        "W6 timers, 1..=50 ms each: wall",
        "ms",
        Better::Lower,
    ),
    metric(
        "W6",
        "timers_cpu_ms",
        "W6 timers, 1..=50 ms each: CPU",
        "ms",
        Better::Lower,
    ),
    metric(
        "W6",
        "sleep_overshoot_us",
        "W6 sleep(1 ms): mean overshoot",
        "µs",
        Better::Lower,
    ),
    metric(
        "W7",
        "bytes_per_task",
        "W7 idle tasks: resident memory",
        "B/task",
        Better::Lower,
    ),
    metric(
        "W9",
        "spread_wall_ms",
        "W9 40,000 tasks of 1–200 µs CPU: wall",
        "ms",
        Better::Lower,
    ),
    metric(
        "W9",
        "spread_floor_ms",
        "W9 floor: the work ÷ 2 cores",
        "ms",
        Better::Info,
    ),
    metric(
        "W9",
        "spread_wall_over_floor",
        "W9 wall ÷ floor",
        "×",
        Better::Lower,
    ),
    metric(
        "W9",
        "spread_cores_busy",
        "W9 cores busy (CPU ÷ wall)",
        "cores",
        Better::Higher,
    ),
    metric(
        "W9b",
        "tree_wall_ms",
        "W9b uneven spawn tree: wall",
        "ms",
        Better::Lower,
    ),
    metric(
        "W9b",
        "tree_floor_ms",
        "W9b tree floor: the work ÷ 2 cores",
        "ms",
        Better::Info,
    ),
    metric(
        "W9b",
        "tree_wall_over_floor",
        "W9b tree wall ÷ floor",
        "×",
        Better::Lower,
    ),
    metric(
        "W9b",
        "tree_cores_busy",
        "W9b tree cores busy (CPU ÷ wall)",
        "cores",
        Better::Higher,
    ),
    metric(
        "W9b",
        "blocked_children_ms",
        "W9b blocked 20 ms: its 50 children done after",
        "ms",
        Better::Lower,
    ),
    metric(
        "W9b",
        "blocked_children_in_block",
        "W9b blocked 20 ms: children done meanwhile",
        "of 50",
        Better::Higher,
    ),
];

const fn metric(
    workload: &'static str,
    key: &'static str,
    label: &'static str,
    unit: &'static str,
    better: Better,
) -> Metric {
    Metric {
        workload,
        key,
        label,
        unit,
        better,
    }
}

/// The figures one child process reported: metric key and value.
pub type ChildFigures = Vec<(String, f64)>;

/// What every child reported: figures per run, by (workload, runtime).
#[derive(Default)]
pub struct Collected {
    pub runs: BTreeMap<(String, String), Vec<ChildFigures>>,
    pub failures: Vec<String>,
}

/// One computed row.
pub struct Row {
    pub metric: &'static Metric,
    /// Per-process values, by runtime.
    pub runs: BTreeMap<&'static str, Vec<f64>>,
    /// Median of `runs`, by runtime (absent: not run, not applicable, or failed).
    pub median: BTreeMap<&'static str, f64>,
    /// One entry per `columns::RATIOS`, in that order: the quotient and the column it divided
    /// by (absent: a side has no figure, the divisor is 0, or the metric is for information).
    pub ratios: Vec<Option<(f64, &'static str)>>,
}

/// Medians and ratios for every metric of the selected workloads.
pub fn rows(collected: &Collected, workloads: &[&str], runtimes: &[&'static str]) -> Vec<Row> {
    METRICS
        .iter()
        .filter(|m| workloads.contains(&m.workload))
        .map(|metric| {
            let mut row = Row {
                metric,
                runs: BTreeMap::new(),
                median: BTreeMap::new(),
                ratios: Vec::new(),
            };
            for &runtime in runtimes {
                let key = (metric.workload.to_string(), runtime.to_string());
                let values: Vec<f64> = collected
                    .runs
                    .get(&key)
                    .into_iter()
                    .flatten()
                    .filter_map(|figures| {
                        figures
                            .iter()
                            .find(|(k, _)| k == metric.key)
                            .map(|&(_, v)| v)
                    })
                    .collect();
                if !values.is_empty() {
                    row.median.insert(runtime, median(&values));
                    row.runs.insert(runtime, values);
                }
            }
            row.ratios = RATIOS.iter().map(|ratio| row.ratio(ratio)).collect();
            row
        })
        .collect()
}

impl Row {
    /// The best median among `ratio.over` (by the metric's direction), and `ratio.of`'s
    /// median divided by it.
    fn ratio(&self, ratio: &Ratio) -> Option<(f64, &'static str)> {
        let lower = match self.metric.better {
            Better::Lower => true,
            Better::Higher => false,
            Better::Info => return None,
        };
        let best = ratio
            .over
            .iter()
            .filter_map(|&peer| self.median.get(peer).map(|&v| (peer, v)))
            .reduce(|best, next| {
                let next_wins = if lower {
                    next.1 < best.1
                } else {
                    next.1 > best.1
                };
                if next_wins {
                    next
                } else {
                    best
                }
            })?;
        let quotient = self.median.get(ratio.of)? / best.1;
        // 0 ÷ 0 (W9b's children done meanwhile, on one thread) and x ÷ 0 have no ratio.
        quotient.is_finite().then_some((quotient, best.0))
    }
}

/// The machine the figures come from.
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub kernel: String,
    pub loadavg_before: String,
    pub loadavg_after: String,
}

impl Machine {
    /// Reads everything but `loadavg_after`.
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|line| line.starts_with("model name"))
            .and_then(|line| line.split_once(':'))
            .map_or_else(
                || "unknown".to_string(),
                |(_, name)| name.trim().to_string(),
            );
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            loadavg_before: loadavg(),
            loadavg_after: String::new(),
        }
    }
}

/// `/proc/loadavg`: the 1, 5 and 15 minute load averages, running/total threads, last pid.
pub fn loadavg() -> String {
    read_trimmed("/proc/loadavg")
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".into(), |s| s.trim().to_string())
}

/// The versions of the peers this benchmark was built against, read from the workspace's
/// Cargo.lock at compile time.
pub fn peer_versions() -> Vec<(&'static str, String)> {
    const LOCK: &str = include_str!("../../../Cargo.lock");
    ["tokio", "async-executor", "async-io", "futures-lite"]
        .into_iter()
        .map(|name| {
            let header = format!("name = \"{name}\"\nversion = \"");
            let version = LOCK
                .find(&header)
                .map(|at| &LOCK[at + header.len()..])
                .and_then(|rest| rest.split('"').next())
                .unwrap_or("unknown");
            (name, version.to_string())
        })
        .collect()
}

/// A figure for a table cell: three significant digits or so, thousands grouped.
fn format_value(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1000.0 {
        group_thousands(value.round() as i64)
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// The ratios `table` shows, given the selected runtimes: those whose numerator and at least
/// one denominator were selected.
pub fn ratios_of(table: Table, runtimes: &[&str]) -> Vec<(usize, &'static Ratio)> {
    RATIOS
        .iter()
        .enumerate()
        .filter(|(_, ratio)| {
            ratio.table == table
                && runtimes.contains(&ratio.of)
                && ratio.over.iter().any(|peer| runtimes.contains(peer))
        })
        .collect()
}

/// The markdown table of `table`: one row per metric, one column per selected runtime the
/// table shows, then the table's ratios. Empty if the table has no selected column.
///
/// A cell with no figure shows "failed" if `failed(runtime, workload)` (every process of the
/// cell failed), else "—" (not applicable: std threads outside W1/W2/W9, a `!Send` variant on
/// a runtime without local tasks, the counter where there is none).
pub fn markdown(
    rows: &[Row],
    table: Table,
    runtimes: &[&'static str],
    failed: impl Fn(&str, &str) -> bool,
) -> String {
    let shown: Vec<&str> = runtimes
        .iter()
        .copied()
        .filter(|r| columns::in_table(r, table))
        .collect();
    if shown.is_empty() {
        return String::new();
    }
    let ratios = ratios_of(table, runtimes);
    let mut out = String::from("| workload | unit | better |");
    for runtime in &shown {
        let _ = write!(out, " {} |", columns::label(runtime));
    }
    for (_, ratio) in &ratios {
        let _ = write!(out, " {} |", ratio.label);
    }
    out.push_str("\n|---|---|---|");
    out.push_str(&"---:|".repeat(shown.len() + ratios.len()));
    out.push('\n');
    for row in rows {
        let metric = row.metric;
        let _ = write!(
            out,
            "| {} | {} | {} |",
            metric.label,
            metric.unit,
            metric.better.word()
        );
        for &runtime in &shown {
            let cell = match row.median.get(runtime) {
                Some(&value) => format_value(value),
                None if failed(runtime, metric.workload) => "failed".into(),
                None => "—".into(),
            };
            let _ = write!(out, " {cell} |");
        }
        for &(at, ratio) in &ratios {
            let cell = match row.ratios[at] {
                Some((value, peer)) if ratio.names_peer() => {
                    format!("{value:.2}× ({})", columns::label(peer))
                }
                Some((value, _)) => format!("{value:.2}×"),
                None => "—".into(),
            };
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out
}
