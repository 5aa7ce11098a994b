//! How a stuck runtime is reported: the panic of a proven deadlock and the report of a cycle of
//! tasks waiting on each other. `diagnose` decides which it is; this file only words it.

use super::Dump;

/// The panic message of a deadlock, before the dump; `where_` says where the check looked
/// ("every worker is idle, ", or nothing).
pub(crate) fn deadlock_message(where_: &str) -> String {
    format!(
        "nbio: deadlock: the future passed to block_on is waiting, and nothing can ever wake \
         it: {where_}no task is ready, no timer is pending, no socket is awaited, and no waker \
         is held outside the runtime."
    )
}

/// The report of a cycle of waits: printed once to stderr while `block_on` goes on waiting
/// (`keeps_waiting`), or the message of its panic. `replay` (a line, or nothing) comes between
/// the report and the dump.
pub(crate) fn cycle_report(dump: &Dump, keeps_waiting: bool, replay: &str) -> String {
    let then = if keeps_waiting {
        "block_on keeps waiting, in case something it cannot see does"
    } else {
        "this runtime fails on a cycle (OnCycle::Panic) rather than wait for something it cannot \
         see"
    };
    format!(
        "nbio: deadlock? the future passed to block_on is waiting, no timer is pending, no \
         socket is awaited, no blocking job is running, and the tasks wait on each other in a \
         cycle: {}. Nothing nbio can see will wake them; {then} (a MutexGuard sent to another \
         thread, a lock handed on to a task of another runtime, a JoinHandle held by another \
         thread).\n{replay}{dump}",
        dump.cycles().join("; and in another: ")
    )
}
