//! The shape of the report, in one place: which runtimes are measured (the columns), which
//! workloads each one runs, which of the two tables each appears in, and the ratios each table
//! shows. To add a column, move one, or rank against other peers, change the lists below; the
//! conductor, the tables, the JSON and the chart all follow them.

/// The two tables of the report.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Table {
    /// Runtimes that run every task on one thread (and std threads, the limit for bulk TCP).
    OneThread,
    /// Runtimes with two worker threads (and std threads again).
    MultiThread,
}

impl Table {
    pub const ALL: [Table; 2] = [Table::OneThread, Table::MultiThread];

    /// The key in the JSON file.
    pub fn key(self) -> &'static str {
        match self {
            Table::OneThread => "one_thread",
            Table::MultiThread => "multi_thread",
        }
    }

    /// The heading over the table.
    pub fn heading(self) -> &'static str {
        match self {
            Table::OneThread => "One thread: nbio beside tokio current_thread, smol and std",
            Table::MultiThread => {
                "Two worker threads: nbio worker_threads(2) beside tokio multi_thread, smol and std"
            }
        }
    }
}

/// One runtime of the report.
pub struct Column {
    /// The key used on the command line (`NBIO_BENCH_RUNTIMES`, `--cell`) and in the JSON.
    pub key: &'static str,
    pub label: &'static str,
    /// The tables that show this column.
    pub tables: &'static [Table],
    /// The workloads this column runs; the other cells show "—".
    pub workloads: &'static [&'static str],
}

/// Every workload, in table order.
pub const WORKLOADS: [&str; 9] = ["W1", "W2", "W3", "W4", "W5", "W6", "W7", "W9", "W9b"];

const ONE: &[Table] = &[Table::OneThread];
const MULTI: &[Table] = &[Table::MultiThread];

/// Every column, in the order the cells run and the tables show them.
///
/// Plain std threads run only where blocking threads are the natural alternative: bulk TCP
/// (W1, W2) and CPU work split over two threads (W9). A hundred thousand threads is not an
/// answer to W3, W6 or W7, and W9b's blocked task is a scheduler's problem that a fixed pair
/// of threads does not have. The std column appears in both tables: it is the limit for both.
pub const COLUMNS: &[Column] = &[
    column("nbio", "nbio", ONE, &WORKLOADS),
    column("tokio_ct", "tokio current_thread", ONE, &WORKLOADS),
    column("smol", "smol", ONE, &WORKLOADS),
    column("nbio_mt", "nbio worker_threads(2)", MULTI, &WORKLOADS),
    column("tokio_mt", "tokio multi_thread (2)", MULTI, &WORKLOADS),
    column("smol_mt", "smol Executor × 2 threads", MULTI, &WORKLOADS),
    column(
        "std",
        "std threads",
        &[Table::OneThread, Table::MultiThread],
        &["W1", "W2", "W9"],
    ),
];

const fn column(
    key: &'static str,
    label: &'static str,
    tables: &'static [Table],
    workloads: &'static [&'static str],
) -> Column {
    Column {
        key,
        label,
        tables,
        workloads,
    }
}

/// Every column key, in table order (what `NBIO_BENCH_RUNTIMES` chooses from).
pub fn runtime_keys() -> Vec<&'static str> {
    COLUMNS.iter().map(|c| c.key).collect()
}

fn find(runtime: &str) -> Option<&'static Column> {
    COLUMNS.iter().find(|c| c.key == runtime)
}

/// Whether `runtime` takes part in `workload`.
pub fn runs_in(runtime: &str, workload: &str) -> bool {
    find(runtime).is_some_and(|c| c.workloads.contains(&workload))
}

/// Whether `table` shows the column `runtime`.
pub fn in_table(runtime: &str, table: Table) -> bool {
    find(runtime).is_some_and(|c| c.tables.contains(&table))
}

/// A column's label, by key.
pub fn label(runtime: &str) -> &'static str {
    find(runtime).map_or("?", |c| c.label)
}

/// One ratio column: the median of `of` divided by the median of the best of `over` (the
/// lowest where lower is better, the highest where higher is better). With one name in `over`
/// it is a plain quotient.
pub struct Ratio {
    /// The key in the JSON file.
    pub key: &'static str,
    pub label: &'static str,
    pub table: Table,
    pub of: &'static str,
    pub over: &'static [&'static str],
}

impl Ratio {
    /// Whether the cell names the column it divided by (it picked the best of several).
    pub fn names_peer(&self) -> bool {
        self.over.len() > 1
    }
}

/// Every ratio, in column order.
///
/// The one-thread table ranks nbio against the one-thread peers only: against a two-worker
/// runtime a one-thread runtime loses W9 by construction. The two-worker table ranks
/// `nbio_mt` against the two-worker peers, against nbio's own one-thread figures (the goal
/// "no collapse" of W3, W4 and W5) and against std (W1).
pub const RATIOS: &[Ratio] = &[
    Ratio {
        key: "nbio_vs_best_peer",
        label: "nbio ÷ best one-thread peer",
        table: Table::OneThread,
        of: "nbio",
        over: &["tokio_ct", "smol"],
    },
    Ratio {
        key: "nbio_vs_std",
        label: "nbio ÷ std",
        table: Table::OneThread,
        of: "nbio",
        over: &["std"],
    },
    Ratio {
        key: "nbio_mt_vs_best_mt_peer",
        label: "nbio_mt ÷ best multi-thread peer",
        table: Table::MultiThread,
        of: "nbio_mt",
        over: &["tokio_mt", "smol_mt"],
    },
    Ratio {
        key: "nbio_mt_vs_nbio",
        label: "nbio_mt ÷ nbio",
        table: Table::MultiThread,
        of: "nbio_mt",
        over: &["nbio"],
    },
    Ratio {
        key: "nbio_mt_vs_std",
        label: "nbio_mt ÷ std",
        table: Table::MultiThread,
        of: "nbio_mt",
        over: &["std"],
    },
];
