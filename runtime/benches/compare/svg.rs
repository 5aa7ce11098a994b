//! The ratios as a bar chart: for each table, one bar per metric, the advantage of its runtime
//! (nbio, nbio_mt) over the best peer of that table in the same run (best ÷ ours where lower
//! is better, ours ÷ best where higher is better), so that every bar reads the same way: past
//! the 1.0 line, nbio is ahead. The bars are the ratios of `columns::RATIOS` that rank against
//! several peers. Written next to the JSON as `compare.svg`; docs/performance.md shows a copy.
//! Plain SVG, no dependencies.

use std::fmt::Write as _;

use crate::columns::{self, Ratio, RATIOS};
use crate::report::{Better, Row};

const WIDTH: f64 = 900.0;
const LABEL_WIDTH: f64 = 370.0;
const BAR_HEIGHT: f64 = 22.0;
const GAP: f64 = 10.0;
const TOP: f64 = 56.0;
const SECTION: f64 = 30.0;

/// The advantage that row `row` shows for ratio number `at`, and the peer it is against.
fn advantage(row: &Row, at: usize) -> Option<(f64, &'static str)> {
    let (ratio, peer) = row.ratios[at]?;
    let advantage = match row.metric.better {
        Better::Lower => 1.0 / ratio,
        Better::Higher => ratio,
        Better::Info => return None,
    };
    advantage.is_finite().then_some((advantage, peer))
}

/// One group of bars: a ranking ratio and its bars.
struct Group<'a> {
    ratio: &'static Ratio,
    bars: Vec<(&'a Row, f64, &'static str)>,
}

/// The chart for `rows` (rows without a ratio are left out, and groups without a bar).
pub fn chart(rows: &[Row]) -> String {
    let groups: Vec<Group> = RATIOS
        .iter()
        .enumerate()
        .filter(|(_, ratio)| ratio.names_peer())
        .map(|(at, ratio)| Group {
            ratio,
            bars: rows
                .iter()
                .filter_map(|row| advantage(row, at).map(|(a, peer)| (row, a, peer)))
                .collect(),
        })
        .filter(|group| !group.bars.is_empty())
        .collect();
    let max = groups
        .iter()
        .flat_map(|g| g.bars.iter().map(|b| b.1))
        .fold(2.0_f64, f64::max)
        .min(8.0);
    let plot = WIDTH - LABEL_WIDTH - 230.0; // room for the longest bar's label
    let x = |ratio: f64| LABEL_WIDTH + plot * ratio.min(max) / max;
    let bar_count: usize = groups.iter().map(|g| g.bars.len()).sum();
    let height = TOP + groups.len() as f64 * SECTION + bar_count as f64 * (BAR_HEIGHT + GAP) + 40.0;

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
    let one = x(1.0);
    let mut y = TOP;
    for group in &groups {
        let peers: Vec<&str> = group.ratio.over.iter().map(|p| columns::label(p)).collect();
        let _ = writeln!(
            svg,
            r##"<text x="16" y="{:.1}" font-weight="bold">{} (vs {})</text>"##,
            y + SECTION * 0.6,
            escape(columns::label(group.ratio.of)),
            escape(&peers.join(", "))
        );
        y += SECTION;
        let top = y;
        for (row, ratio, peer) in &group.bars {
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
                escape(columns::label(peer))
            );
            y += BAR_HEIGHT + GAP;
        }
        let _ = writeln!(
            svg,
            r##"<line x1="{one:.1}" y1="{:.1}" x2="{one:.1}" y2="{y:.1}" stroke="black" stroke-dasharray="4 3"/>"##,
            top - 6.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="{one:.1}" y="{:.1}" text-anchor="middle">1.0 = level</text>"##,
        y + 18.0
    );
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
