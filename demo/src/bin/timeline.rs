//! Draws a trace written by `demo --trace` (or any nbio program with `NBIO_TRACE`) as an SVG
//! timeline: one row per task, each poll a bar, each WouldBlock a red mark, and a row for the
//! reactor's waits. The guide's executor chapter shows one, made with:
//!
//! ```text
//! cargo run --release -p demo -- --trace target/demo.json
//! cargo run --release -p demo --bin timeline -- target/demo.json docs/demo-timeline.svg
//! ```

use std::fmt::Write as _;
use std::process::ExitCode;

use serde_json::Value;

const WIDTH: f64 = 960.0;
const LABEL: f64 = 250.0;
const ROW: f64 = 26.0;
const TOP: f64 = 64.0;

/// One row: a task (or the reactor), its poll bars and its WouldBlock marks, in microseconds.
struct Row {
    label: String,
    bars: Vec<(f64, f64)>,
    marks: Vec<f64>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("timeline: usage: timeline TRACE.json OUT.svg");
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
    let svg = draw(&rows(events));
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
                rows[i]
                    .bars
                    .push((ts, event["dur"].as_f64().unwrap_or(0.0)));
            }
            (Some("X"), Some("reactor")) => {
                reactor
                    .bars
                    .push((ts, event["dur"].as_f64().unwrap_or(0.0)));
            }
            (Some("i"), Some("io")) => {
                let label = event["args"]["task"].as_str().unwrap_or("?");
                let i = row_of(&mut rows, label);
                rows[i].marks.push(ts);
            }
            _ => {}
        }
    }
    rows.push(reactor);
    rows
}

fn draw(rows: &[Row]) -> String {
    let spans = rows.iter().flat_map(|row| {
        row.bars
            .iter()
            .map(|&(start, dur)| (start, start + dur))
            .chain(row.marks.iter().map(|&t| (t, t)))
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
    let _ = writeln!(
        svg,
        r#"<text x="12" y="22" font-size="15" font-weight="bold">The demo on nbio's one thread: each bar is one poll</text>"#
    );
    let _ = writeln!(
        svg,
        r##"<text x="12" y="42" fill="#444">red mark: a read or write got WouldBlock and its task waits for the reactor; grey: the reactor waiting for events</text>"##
    );
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + i as f64 * ROW;
        let is_reactor = i + 1 == rows.len();
        let colour = if is_reactor { "#9a9a9a" } else { "#3a6ea5" };
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
        for &(begin, dur) in &row.bars {
            let width = (x(begin + dur) - x(begin)).max(1.0);
            let _ = writeln!(
                svg,
                r#"<rect x="{:.2}" y="{:.1}" width="{width:.2}" height="{:.1}" fill="{colour}"/>"#,
                x(begin),
                y + 5.0,
                ROW - 10.0
            );
        }
        for &t in &row.marks {
            let (cx, top) = (x(t), y + 3.0);
            let _ = writeln!(
                svg,
                r##"<path d="M{:.1} {top:.1} L{:.1} {top:.1} L{cx:.1} {:.1} Z" fill="#c0392b"/>"##,
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
