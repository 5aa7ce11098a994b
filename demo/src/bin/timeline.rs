//! Draws a trace written by `demo --trace` (or any nbio program with `NBIO_TRACE`) as an SVG
//! timeline: one row per task, each poll a bar, each wait for readiness a red mark, and a row
//! for the reactor's waits. The guide's executor chapter shows one, made with:
//!
//! ```text
//! cargo run --release -p demo -- --trace target/demo.json
//! cargo run --release -p demo --bin timeline -- target/demo.json docs/demo-timeline.svg
//! ```
//!
//! With `--by-thread`, one row per thread instead (a multi-thread runtime's workers, its
//! `block_on` thread), each poll a bar in its task's colour and labelled with its task, and each
//! steal a green mark: the many-threads chapter shows one.

use std::fmt::Write as _;
use std::process::ExitCode;

use serde_json::Value;

const WIDTH: f64 = 960.0;
const LABEL: f64 = 250.0;
const ROW: f64 = 26.0;
const TOP: f64 = 64.0;

/// One row: a task, a thread or the reactor; its poll bars (start, duration, task) and its
/// marks (time, red for a wait or green for a steal), in microseconds.
struct Row {
    label: String,
    bars: Vec<(f64, f64, String)>,
    marks: Vec<(f64, &'static str)>,
}

const WAIT: &str = "#c0392b";
const STEAL: &str = "#27ae60";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let by_thread = args.iter().any(|arg| arg == "--by-thread");
    args.retain(|arg| arg != "--by-thread");
    let [input, output] = args.as_slice() else {
        eprintln!("timeline: usage: timeline [--by-thread] TRACE.json OUT.svg");
        return ExitCode::from(2);
    };
    let trace = match std::fs::read_to_string(input)
        .map_err(|err| err.to_string())
        .and_then(|text| serde_json::from_str::<Value>(&text).map_err(|err| err.to_string()))
    {
        Ok(trace) => trace,
        Err(err) => {
            eprintln!("timeline: cannot read the trace {input}: {err}");
            return ExitCode::FAILURE;
        }
    };
    let Some(events) = trace["traceEvents"].as_array() else {
        eprintln!("timeline: {input} has no traceEvents array; is it an nbio trace?");
        return ExitCode::FAILURE;
    };
    let svg = if by_thread {
        draw(&thread_rows(events), true)
    } else {
        draw(&rows(events), false)
    };
    match std::fs::write(output, svg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("timeline: cannot write {output}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The rows, in the order their first event appears, the reactor last.
fn rows(events: &[Value]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    let mut reactor = Row {
        label: "reactor (waits)".to_string(),
        bars: Vec::new(),
        marks: Vec::new(),
    };
    let row_of = |rows: &mut Vec<Row>, label: &str| -> usize {
        match rows.iter().position(|row| row.label == label) {
            Some(i) => i,
            None => {
                rows.push(Row {
                    label: label.to_string(),
                    bars: Vec::new(),
                    marks: Vec::new(),
                });
                rows.len() - 1
            }
        }
    };
    for event in events {
        let ts = event["ts"].as_f64().unwrap_or(0.0);
        match (event["ph"].as_str(), event["cat"].as_str()) {
            (Some("X"), Some("poll")) => {
                let label = event["name"].as_str().unwrap_or("?");
                let i = row_of(&mut rows, label);
                let dur = event["dur"].as_f64().unwrap_or(0.0);
                rows[i].bars.push((ts, dur, label.to_string()));
            }
            (Some("X"), Some("reactor")) => {
                let dur = event["dur"].as_f64().unwrap_or(0.0);
                reactor.bars.push((ts, dur, String::new()));
            }
            (Some("i"), Some("io")) => {
                let label = event["args"]["task"].as_str().unwrap_or("?");
                let i = row_of(&mut rows, label);
                rows[i].marks.push((ts, WAIT));
            }
            _ => {}
        }
    }
    rows.push(reactor);
    rows
}

/// One row per thread, in the order of the trace's thread names.
fn thread_rows(events: &[Value]) -> Vec<Row> {
    let mut rows: Vec<(u64, Row)> = events
        .iter()
        .filter(|event| event["ph"] == "M" && event["name"] == "thread_name")
        .map(|event| {
            let label = event["args"]["name"].as_str().unwrap_or("?").to_string();
            (
                event["tid"].as_u64().unwrap_or(0),
                Row {
                    label,
                    bars: Vec::new(),
                    marks: Vec::new(),
                },
            )
        })
        .collect();
    for event in events {
        let tid = event["tid"].as_u64().unwrap_or(0);
        let Some((_, row)) = rows.iter_mut().find(|(t, _)| *t == tid) else {
            continue;
        };
        let ts = event["ts"].as_f64().unwrap_or(0.0);
        match (event["ph"].as_str(), event["cat"].as_str()) {
            (Some("X"), Some("poll")) => {
                let task = event["name"].as_str().unwrap_or("?").to_string();
                row.bars
                    .push((ts, event["dur"].as_f64().unwrap_or(0.0), task));
            }
            (Some("i"), Some("io")) => row.marks.push((ts, WAIT)),
            (Some("i"), Some("steal")) => row.marks.push((ts, STEAL)),
            _ => {}
        }
    }
    rows.into_iter()
        .map(|(_, row)| row)
        .filter(|row| !row.bars.is_empty())
        .collect()
}

/// A colour per task, the same for the same name.
fn task_colour(task: &str) -> String {
    const PALETTE: [&str; 8] = [
        "#3a6ea5", "#e67e22", "#8e44ad", "#16a085", "#c0392b", "#2c3e50", "#d35400", "#7f8c8d",
    ];
    let hash = task
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    PALETTE[hash as usize % PALETTE.len()].to_string()
}

fn draw(rows: &[Row], by_thread: bool) -> String {
    let spans = rows.iter().flat_map(|row| {
        row.bars
            .iter()
            .map(|&(start, dur, _)| (start, start + dur))
            .chain(row.marks.iter().map(|&(t, _)| (t, t)))
    });
    let (start, end) = spans.fold((f64::MAX, f64::MIN), |(lo, hi), (a, b)| {
        (lo.min(a), hi.max(b))
    });
    let span = (end - start).max(1.0);
    let plot = WIDTH - LABEL - 20.0;
    let x = |t: f64| LABEL + plot * (t - start) / span;
    let height = TOP + rows.len() as f64 * ROW + 44.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let (title, legend) = if by_thread {
        (
            "nbio's threads: each bar is one poll, coloured by its task",
            "green mark: a worker stole tasks from another's queue; red mark: a wait for readiness",
        )
    } else {
        (
            "The demo on nbio's one thread: each bar is one poll",
            "red mark: a read or write must wait and its task waits for the reactor; grey: the reactor waiting for events",
        )
    };
    let _ = writeln!(
        svg,
        r#"<text x="12" y="22" font-size="15" font-weight="bold">{title}</text>"#
    );
    let _ = writeln!(svg, r##"<text x="12" y="42" fill="#444">{legend}</text>"##);
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + i as f64 * ROW;
        let is_reactor = !by_thread && i + 1 == rows.len();
        let _ = writeln!(
            svg,
            r##"<line x1="{LABEL}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#e4e4e4"/>"##,
            y + ROW / 2.0,
            WIDTH - 20.0,
            y + ROW / 2.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LABEL - 8.0,
            y + ROW * 0.62,
            escape(&row.label)
        );
        for (begin, dur, task) in &row.bars {
            let (begin, dur) = (*begin, *dur);
            let width = (x(begin + dur) - x(begin)).max(1.0);
            let colour = match (is_reactor, by_thread) {
                (true, _) => "#9a9a9a".to_string(),
                (false, true) => task_colour(task),
                (false, false) => "#3a6ea5".to_string(),
            };
            let _ = writeln!(
                svg,
                r#"<rect x="{:.2}" y="{:.1}" width="{width:.2}" height="{:.1}" fill="{colour}"><title>{}</title></rect>"#,
                x(begin),
                y + 5.0,
                ROW - 10.0,
                escape(task)
            );
            if by_thread && width > 60.0 {
                let _ = writeln!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}" fill="white" font-size="10">{}</text>"#,
                    x(begin) + 3.0,
                    y + ROW * 0.62,
                    escape(task)
                );
            }
        }
        for &(t, colour) in &row.marks {
            let (cx, top) = (x(t), y + 3.0);
            let _ = writeln!(
                svg,
                r##"<path d="M{:.1} {top:.1} L{:.1} {top:.1} L{cx:.1} {:.1} Z" fill="{colour}"/>"##,
                cx - 5.0,
                cx + 5.0,
                top + 8.0
            );
        }
    }
    let bottom = TOP + rows.len() as f64 * ROW;
    let _ = writeln!(
        svg,
        r#"<line x1="{LABEL}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="black"/>"#,
        WIDTH - 20.0
    );
    for step in 0..=4 {
        let t = start + span * step as f64 / 4.0;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{:.2} ms</text>"#,
            x(t),
            bottom + 18.0,
            (t - start) / 1000.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
