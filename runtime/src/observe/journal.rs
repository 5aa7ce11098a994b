//! The journal: recent events in a bounded ring, printed as they happen when explaining.

use std::collections::VecDeque;

use super::event::Record;
use super::explain::{self, Names};

/// Where events go when tracing or explaining is on.
pub(crate) struct Journal {
    records: VecDeque<Record>,
    /// The most records kept; older ones are dropped (and counted) to bound memory.
    capacity: usize,
    dropped: u64,
    /// Keep records for export (tracing on).
    keep: bool,
    /// Print each record as it comes (explaining on).
    explain: bool,
}

impl Journal {
    pub(crate) fn new(keep: bool, explain: bool, capacity: usize) -> Journal {
        Journal {
            records: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
            keep,
            explain,
        }
    }

    /// Keeps `record` (and prints it, when explaining). `thread` names the thread it came
    /// from in the printed line, on a runtime with several.
    pub(crate) fn record(&mut self, record: Record, names: Names<'_>, thread: Option<&str>) {
        if self.explain {
            if let Some(line) = explain::line(&record, names) {
                match thread {
                    Some(thread) => eprintln!("{thread}: {line}"),
                    None => eprintln!("{line}"),
                }
            }
        }
        if self.keep {
            if self.records.len() == self.capacity {
                self.records.pop_front();
                self.dropped += 1;
            }
            self.records.push_back(record);
        }
    }

    /// Whether records are kept (so that a trace can be written).
    pub(crate) fn keeps_records(&self) -> bool {
        self.keep
    }

    pub(crate) fn records(&self) -> &VecDeque<Record> {
        &self.records
    }

    /// How many records were dropped because the ring was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}
