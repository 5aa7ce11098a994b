//! W8's tables: the medians of the runs with their spread and the ratios to tokio
//! current_thread, and the syscalls per request from `strace -c`.

use crate::measure::median;

/// What one run of one runtime measured.
pub struct Run {
    pub requests_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub cpu_us_per_request: f64,
}

/// The runs of every runtime, by column.
pub struct Table {
    names: Vec<&'static str>,
    runs: Vec<Vec<Run>>,
}

/// The runtime the ratios divide by: the goals compare nbio with it.
const REFERENCE: &str = "tokio current_thread";

impl Table {
    pub fn new(names: Vec<&'static str>) -> Table {
        let runs = names.iter().map(|_| Vec::new()).collect();
        Table { names, runs }
    }

    pub fn add(&mut self, column: usize, run: Run) {
        self.runs[column].push(run);
    }

    /// Median, min and max of one figure over a column's runs.
    fn spread(&self, column: usize, figure: fn(&Run) -> f64) -> (f64, f64, f64) {
        let values: Vec<f64> = self.runs[column].iter().map(figure).collect();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (median(&values), min, max)
    }

    pub fn markdown(&self) -> String {
        let reference = self.names.iter().position(|name| *name == REFERENCE);
        let mut out = String::from(
            "| runtime | requests/s | p50 latency µs | p99 latency µs | CPU µs/request | \
             requests/s ÷ tokio ct | CPU ÷ tokio ct | p99 ÷ tokio ct |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let figures: [fn(&Run) -> f64; 4] = [
            |r| r.requests_per_sec,
            |r| r.p50_us,
            |r| r.p99_us,
            |r| r.cpu_us_per_request,
        ];
        for (column, name) in self.names.iter().enumerate() {
            let cells: Vec<String> = figures
                .iter()
                .map(|&figure| {
                    let (mid, min, max) = self.spread(column, figure);
                    format!("{} ({}–{})", number(mid), number(min), number(max))
                })
                .collect();
            let ratio = |figure: fn(&Run) -> f64| match reference {
                Some(reference) => {
                    let ours = self.spread(column, figure).0;
                    let theirs = self.spread(reference, figure).0;
                    format!("{:.2}×", ours / theirs)
                }
                None => "—".to_string(),
            };
            out += &format!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} |\n",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                ratio(figures[0]),
                ratio(figures[3]),
                ratio(figures[2]),
            );
        }
        out
    }
}

/// A figure with three significant digits and thousands separators.
fn number(value: f64) -> String {
    if !value.is_finite() {
        return "—".to_string();
    }
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{value:.digits$}");
    let (int, frac) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(frac) => format!("{grouped}.{frac}"),
        None => grouped,
    }
}

/// One syscall's line of `strace -c`: its name, calls, and calls that failed.
pub struct Calls {
    pub name: String,
    pub calls: u64,
    pub errors: u64,
}

/// Reads strace's summary table (`% time  seconds  usecs/call  calls  errors  syscall`).
pub fn strace_calls(summary: &str) -> Vec<Calls> {
    summary
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = fields.last()?.to_string();
            if fields.len() < 5 || name == "syscall" || name == "total" {
                return None;
            }
            fields[0].parse::<f64>().ok()?;
            let calls = fields[3].parse().ok()?;
            let errors = if fields.len() == 6 {
                fields[4].parse().ok()?
            } else {
                0
            };
            Some(Calls {
                name,
                calls,
                errors,
            })
        })
        .collect()
}

/// The syscalls `perf stat` counts (tracepoint, and a filter): every syscall, then the ones
/// the servers of W8 make per request or per reactor wait; the reads twice, the second time
/// only the calls that failed with `EAGAIN` (-11).
pub fn perf_events() -> Vec<(String, Option<String>)> {
    let mut events = vec![("raw_syscalls:sys_enter".to_string(), None)];
    for name in [
        "recvfrom",
        "recvmsg",
        "readv",
        "sendto",
        "sendmsg",
        "writev",
        "epoll_wait",
        "epoll_pwait",
        "epoll_pwait2",
        "epoll_ctl",
        "timerfd_settime",
        "read",
        "write",
        "futex",
    ] {
        events.push((format!("syscalls:sys_enter_{name}"), None));
    }
    for read in ["recvfrom", "recvmsg"] {
        events.push((
            format!("syscalls:sys_exit_{read}"),
            Some("ret == -11".to_string()),
        ));
    }
    events
}

/// Reads `perf stat -x,` output: `count,,event,…` lines.
pub fn perf_calls(text: &str) -> Vec<Calls> {
    let mut calls: Vec<Calls> = Vec::new();
    let mut total = 0;
    for line in text.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        let (Some(count), Some(event)) = (fields.first(), fields.get(2)) else {
            continue;
        };
        let Ok(count) = count.parse::<u64>() else {
            continue;
        };
        if *event == "raw_syscalls:sys_enter" {
            total = count;
        } else if let Some(name) = event.strip_prefix("syscalls:sys_exit_") {
            if let Some(read) = calls.iter_mut().find(|c| c.name == name) {
                read.errors = count;
            }
        } else if let Some(name) = event.strip_prefix("syscalls:sys_enter_") {
            calls.push(Calls {
                name: name.to_string(),
                calls: count,
                errors: 0,
            });
        }
    }
    let named: u64 = calls.iter().map(|c| c.calls).sum();
    calls.push(Calls {
        name: "(others)".to_string(),
        calls: total.saturating_sub(named),
        errors: 0,
    });
    calls
}

/// Syscalls per request, a row per runtime, a column for each syscall that any runtime makes
/// at least once per 20 requests; failed calls (`EAGAIN`, mostly) in parentheses.
pub fn syscall_table(rows: &[(&str, u64, Vec<Calls>)]) -> String {
    let mut names: Vec<String> = Vec::new();
    for (_, requests, calls) in rows {
        for call in calls {
            if call.calls as f64 / *requests as f64 >= 0.05 && !names.contains(&call.name) {
                names.push(call.name.clone());
            }
        }
    }
    names.sort();
    let mut out = format!("| runtime | requests | total | {} |\n", names.join(" | "));
    out += &format!("|---|---:|---:|{}\n", "---:|".repeat(names.len()));
    for (runtime, requests, calls) in rows {
        let per = |n: u64| n as f64 / *requests as f64;
        let total: u64 = calls.iter().map(|c| c.calls).sum();
        out += &format!(
            "| {runtime} | {} | {:.2} |",
            number(*requests as f64),
            per(total)
        );
        for name in &names {
            match calls.iter().find(|c| &c.name == name) {
                Some(c) if c.errors > 0 => {
                    out += &format!(" {:.2} ({:.2}) |", per(c.calls), per(c.errors))
                }
                Some(c) => out += &format!(" {:.2} |", per(c.calls)),
                None => out += " 0 |",
            }
        }
        out.push('\n');
    }
    out
}
