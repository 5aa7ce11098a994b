//! The two calls a loop makes besides the poll step: one when it spawns, one each time it has
//! looked at its reactor. Each bundles what the observer needs at that point, so that a loop
//! names the observer once where the article's loop would print.

use std::panic::Location;
use std::sync::Arc;

use super::Observer;
use crate::task::TaskId;

impl Observer {
    /// Task `id` was spawned on this thread from `location`: records it (its name, the journal's
    /// spawn event) and returns the index of its spawn site, the tag its header keeps.
    #[inline]
    pub(crate) fn spawned_at(
        &self,
        id: TaskId,
        name: Option<Arc<str>>,
        location: &'static Location<'static>,
    ) -> u32 {
        let site = self.site_of(location);
        self.spawned(id, name, location);
        site
    }

    /// The loop looked at its reactor: after `blocked` in it, the watchdog watches this thread
    /// again (`resume`); after a look that did not block, a new turn begins (`begin_turn`).
    #[inline]
    pub(crate) fn looked(&self, blocked: bool) {
        if blocked {
            self.resume();
        } else {
            self.begin_turn();
        }
    }
}
