//! Spawn sites: the places in the program's source that tasks were spawned from.
//!
//! A program has a fixed set of them (every `spawn` call in its source), so each task stores a
//! small index into this table instead of an 8-byte pointer, which keeps the task allocation one
//! malloc size class smaller. The table belongs to a runtime and is shared by its threads; each
//! thread remembers the last site it looked up, because loops spawn from one place.

use std::collections::HashMap;
use std::panic::Location;

/// The distinct spawn sites of one runtime.
pub(crate) struct Sites {
    by_index: Vec<&'static Location<'static>>,
    /// Keyed by the location's address: a `Location` is a static, one per call site.
    index: HashMap<usize, u32>,
    /// The index handed out once the table is full ("not recorded").
    full: u32,
}

impl Sites {
    /// A table that records at most `full` sites; past that every site gets the index `full`.
    pub(crate) fn new(full: u32) -> Sites {
        Sites {
            by_index: Vec::new(),
            index: HashMap::new(),
            full,
        }
    }

    /// The key a thread's cache remembers a site by.
    pub(crate) fn key(location: &'static Location<'static>) -> usize {
        location as *const Location<'static> as usize
    }

    /// The index of `location`, recording it if it is new.
    pub(crate) fn intern(&mut self, location: &'static Location<'static>) -> u32 {
        let next = self.by_index.len() as u32;
        let site = *self.index.entry(Sites::key(location)).or_insert(next);
        if site == next {
            if next >= self.full {
                self.index.remove(&Sites::key(location));
                return self.full; // A million sites: stop recording new ones.
            }
            self.by_index.push(location);
        }
        site
    }

    /// The site with index `site`, if it was recorded.
    pub(crate) fn get(&self, site: u32) -> Option<&'static Location<'static>> {
        self.by_index.get(site as usize).copied()
    }
}
