//! The JSON side: the one line each child prints, and the file the conductor writes.
//!
//! # The file (`target/nbio-bench/compare.json`), schema `nbio-compare/2`
//!
//! ```text
//! {
//!   "schema": "nbio-compare/2",
//!   "command": "cargo bench -p nbio --bench compare",
//!   "machine": { "nproc": 2, "cpu": "…", "kernel": "6.1.0",
//!                "loadavg_before": "0.52 0.61 0.70 …", "loadavg_after": "…" },
//!   "config": { "runs": 5, "quick": false, "timeout_s": 180,
//!               "workloads": ["W1", …], "runtimes": ["nbio", …],
//!               "sizes": { "spawn_tasks": 100000, … } },
//!   "peers": { "tokio": "1.54.1", "async-executor": "…", "async-io": "…", "futures-lite": "…" },
//!   "wall_seconds": 312.4,
//!   "columns": [ { "key": "nbio", "label": "nbio", "tables": ["one_thread"] }, … ],
//!   "ratios": [ { "key": "nbio_vs_best_peer", "label": "nbio ÷ best one-thread peer",
//!                 "table": "one_thread", "of": "nbio", "over": ["tokio_ct", "smol"] }, … ],
//!   "rows": [
//!     { "workload": "W3", "metric": "ns_per_task", "label": "W3 spawn + join", "unit": "ns/task",
//!       "better": "lower",                        // "lower", "higher" or "info" (no ratio)
//!       "median": { "nbio": 118.2, "tokio_ct": 160.4, "smol": null, … },  // null: not run/failed
//!       "runs":   { "nbio": [117.9, 118.2, …], … },                       // one value per process
//!       "ratios": { "nbio_vs_best_peer": { "value": 0.977, "against": "smol" },
//!                   "nbio_vs_std": null, … } }   // one per entry of "ratios" above; null: no figure
//!   ],
//!   "failures": [ "W2 smol run 3: timed out after 180 s" ]
//! }
//! ```
//!
//! A ratio is always the `of` column's figure divided by the `against` column's (the best of
//! `over`); whether below or above 1 is good is in `better`. Schema 1 (before the two-worker
//! columns) had `best_peer`, `nbio_vs_best_peer` and `nbio_vs_std` at the top of each row,
//! ranked over every async column.

use std::fmt::Write as _;

use crate::columns::{self, RATIOS};
use crate::report::{peer_versions, ChildFigures, Machine, Row};

/// Everything the JSON file needs beyond the rows.
pub struct RunInfo<'a> {
    pub machine: &'a Machine,
    pub runs: usize,
    pub quick: bool,
    pub timeout_s: u64,
    pub workloads: &'a [&'a str],
    pub runtimes: &'a [&'static str],
    pub sizes: &'a [(&'static str, usize)],
    pub wall_seconds: f64,
    pub failures: &'a [String],
}

/// The report as JSON; see the module documentation for the schema.
pub fn document(info: &RunInfo<'_>, rows: &[Row]) -> String {
    let m = info.machine;
    let strings = |items: &[&str]| {
        let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
        format!("[{}]", quoted.join(", "))
    };
    let mut out = String::from("{\n  \"schema\": \"nbio-compare/2\",\n");
    out += "  \"command\": \"cargo bench -p nbio --bench compare\",\n";
    let _ = writeln!(
        out,
        "  \"machine\": {{\"nproc\": {}, \"cpu\": {}, \"kernel\": {}, \"loadavg_before\": {}, \"loadavg_after\": {}}},",
        m.nproc,
        quote(&m.cpu),
        quote(&m.kernel),
        quote(&m.loadavg_before),
        quote(&m.loadavg_after)
    );
    let sizes: Vec<String> = info
        .sizes
        .iter()
        .map(|(k, v)| format!("{}: {v}", quote(k)))
        .collect();
    let _ = writeln!(
        out,
        "  \"config\": {{\"runs\": {}, \"quick\": {}, \"timeout_s\": {}, \"workloads\": {}, \"runtimes\": {}, \"sizes\": {{{}}}}},",
        info.runs,
        info.quick,
        info.timeout_s,
        strings(info.workloads),
        strings(info.runtimes),
        sizes.join(", ")
    );
    let peers: Vec<String> = peer_versions()
        .iter()
        .map(|(name, version)| format!("{}: {}", quote(name), quote(version)))
        .collect();
    let _ = writeln!(out, "  \"peers\": {{{}}},", peers.join(", "));
    let _ = writeln!(out, "  \"wall_seconds\": {:.1},", info.wall_seconds);
    let columns: Vec<String> = info
        .runtimes
        .iter()
        .map(|r| {
            let tables: Vec<&str> = columns::Table::ALL
                .into_iter()
                .filter(|&t| columns::in_table(r, t))
                .map(columns::Table::key)
                .collect();
            format!(
                "{{\"key\": {}, \"label\": {}, \"tables\": {}}}",
                quote(r),
                quote(columns::label(r)),
                strings(&tables)
            )
        })
        .collect();
    let _ = writeln!(out, "  \"columns\": [{}],", columns.join(", "));
    let ratios: Vec<String> = RATIOS
        .iter()
        .map(|ratio| {
            format!(
                "{{\"key\": {}, \"label\": {}, \"table\": {}, \"of\": {}, \"over\": {}}}",
                quote(ratio.key),
                quote(ratio.label),
                quote(ratio.table.key()),
                quote(ratio.of),
                strings(ratio.over)
            )
        })
        .collect();
    let _ = writeln!(out, "  \"ratios\": [{}],", ratios.join(", "));
    out += "  \"rows\": [\n";
    let rows: Vec<String> = rows
        .iter()
        .map(|row| json_row(row, info.runtimes))
        .collect();
    out += &rows.join(",\n");
    out += "\n  ],\n";
    let failures: Vec<&str> = info.failures.iter().map(String::as_str).collect();
    let _ = writeln!(out, "  \"failures\": {}", strings(&failures));
    out += "}\n";
    out
}

fn json_row(row: &Row, runtimes: &[&'static str]) -> String {
    let metric = row.metric;
    let medians: Vec<String> = runtimes
        .iter()
        .map(|r| format!("{}: {}", quote(r), number(row.median.get(r).copied())))
        .collect();
    let runs: Vec<String> = row
        .runs
        .iter()
        .map(|(r, values)| {
            let values: Vec<String> = values.iter().map(|&v| number(Some(v))).collect();
            format!("{}: [{}]", quote(r), values.join(", "))
        })
        .collect();
    let ratios: Vec<String> = RATIOS
        .iter()
        .zip(&row.ratios)
        .map(|(ratio, value)| {
            let value = match value {
                Some((value, against)) if value.is_finite() => format!(
                    "{{\"value\": {}, \"against\": {}}}",
                    number(Some(*value)),
                    quote(against)
                ),
                _ => "null".into(),
            };
            format!("{}: {value}", quote(ratio.key))
        })
        .collect();
    format!(
        "    {{\"workload\": {}, \"metric\": {}, \"label\": {}, \"unit\": {}, \"better\": {}, \
         \"median\": {{{}}}, \"runs\": {{{}}}, \"ratios\": {{{}}}}}",
        quote(metric.workload),
        quote(metric.key),
        quote(metric.label),
        quote(metric.unit),
        quote(metric.better.word()),
        medians.join(", "),
        runs.join(", "),
        ratios.join(", "),
    )
}

/// A JSON number, or `null` for a missing or non-finite one.
fn number(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => {
            let text = format!("{v:.4}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            text.to_string()
        }
        _ => "null".into(),
    }
}

/// A JSON string literal.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The one line a child prints: `{"runtime": "…", "workload": "…", "<metric>": <number>, …}`.
pub fn child_line(runtime: &str, workload: &str, figures: &[(&str, f64)]) -> String {
    let mut fields = vec![
        format!("\"runtime\": {}", quote(runtime)),
        format!("\"workload\": {}", quote(workload)),
    ];
    fields.extend(
        figures
            .iter()
            .map(|(k, v)| format!("{}: {}", quote(k), number(Some(*v)))),
    );
    format!("{{{}}}", fields.join(", "))
}

/// Reads the numeric fields of a child's line (the format `child_line` writes: a flat object
/// whose strings hold no commas or quotes).
pub fn parse_child_line(line: &str) -> Result<ChildFigures, String> {
    let body = line
        .trim()
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .ok_or_else(|| format!("not a JSON object: {line:?}"))?;
    let mut figures = Vec::new();
    for field in body.split(',') {
        let (key, value) = field
            .split_once(':')
            .ok_or_else(|| format!("no ':' in field {field:?}"))?;
        let key = key.trim().trim_matches('"').to_string();
        let value = value.trim();
        if value.starts_with('"') {
            continue; // runtime, workload
        }
        let value = if value == "null" {
            f64::NAN
        } else {
            value
                .parse()
                .map_err(|_| format!("field {key:?} is not a number: {value:?}"))?
        };
        figures.push((key, value));
    }
    Ok(figures)
}
