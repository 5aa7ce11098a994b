//! The ratios as a bar chart: one bar per metric, nbio's advantage over the best peer in the
//! same run (best ÷ nbio where lower is better, nbio ÷ best where higher is better), so that
//! every bar reads the same way: past the 1.0 line, nbio is ahead. Written next to the JSON as
//! `compare.svg`; docs/performance.md shows a copy. Plain SVG, no dependencies.

use std::fmt::Write as _;

use crate::report::{column_label, Better, Row};

const WIDTH: f64 = 860.0;
const LABEL_WIDTH: f64 = 330.0;
const BAR_HEIGHT: f64 = 22.0;
const GAP: f64 = 10.0;
const TOP: f64 = 56.0;

/// nbio's advantage for one row, and the peer it is measured against.
fn advantage(row: &Row) -> Option<(f64, &'static str)> {
    let (peer, best) = row.best_peer?;
    let nbio = *row.median.get("nbio")?;
    let ratio = match row.metric.better {
        Better::Lower => best / nbio,
        Better::Higher => nbio / best,
        Better::Info => return None,
    };
    ratio.is_finite().then_some((ratio, peer))
}

/// The chart for `rows` (rows without a ratio are left out).
pub fn chart(rows: &[Row]) -> String {
    let bars: Vec<(&Row, f64, &str)> = rows
        .iter()
        .filter_map(|row| advantage(row).map(|(ratio, peer)| (row, ratio, peer)))
        .collect();
    let max = bars.iter().map(|b| b.1).fold(2.0_f64, f64::max).min(8.0);
    let plot = WIDTH - LABEL_WIDTH - 200.0; // room for the longest bar's label
    let x = |ratio: f64| LABEL_WIDTH + plot * ratio.min(max) / max;
    let height = TOP + bars.len() as f64 * (BAR_HEIGHT + GAP) + 40.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="13">"##
    );
    let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        svg,
        r##"<text x="16" y="24" font-size="16" font-weight="bold">nbio against the best peer in the same run</text>"##
    );
    let _ = writeln!(
        svg,
        r##"<text x="16" y="43" fill="#555">bar = advantage (best peer ÷ nbio for time, nbio ÷ best peer for throughput); past 1.0, nbio is ahead</text>"##
    );
    for (i, (row, ratio, peer)) in bars.iter().enumerate() {
        let y = TOP + i as f64 * (BAR_HEIGHT + GAP);
        let colour = if *ratio >= 1.0 { "#2e8b57" } else { "#d2691e" };
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LABEL_WIDTH - 8.0,
            y + BAR_HEIGHT * 0.7,
            escape(row.metric.label)
        );
        let _ = writeln!(
            svg,
            r##"<rect x="{LABEL_WIDTH}" y="{y:.1}" width="{:.1}" height="{BAR_HEIGHT}" fill="{colour}"/>"##,
            x(*ratio) - LABEL_WIDTH
        );
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}">{ratio:.2}× vs {}</text>"##,
            x(*ratio) + 6.0,
            y + BAR_HEIGHT * 0.7,
            escape(column_label(peer))
        );
    }
    let one = x(1.0);
    let bottom = TOP + bars.len() as f64 * (BAR_HEIGHT + GAP);
    let _ = writeln!(
        svg,
        r##"<line x1="{one:.1}" y1="{:.1}" x2="{one:.1}" y2="{bottom:.1}" stroke="black" stroke-dasharray="4 3"/>"##,
        TOP - 6.0
    );
    let _ = writeln!(
        svg,
        r##"<text x="{one:.1}" y="{:.1}" text-anchor="middle">1.0 = level</text>"##,
        bottom + 18.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
