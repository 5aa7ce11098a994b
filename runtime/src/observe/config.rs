//! What to observe: the choices a runtime is built with (`Builder::trace`, `trace_capacity`,
//! `explain`, `slow_poll_threshold`) over defaults that the environment (`NBIO_TRACE`,
//! `NBIO_EXPLAIN`) may change. The runtime-wide recorder reads it once, when it is made.

use std::path::PathBuf;
use std::time::Duration;

/// The default slow-poll threshold.
const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(10);
/// The default number of journal records kept.
const DEFAULT_TRACE_CAPACITY: usize = 1 << 18;

/// What to observe, as chosen on the runtime `Builder` (or by the environment).
#[derive(Clone, Debug)]
pub(crate) struct ObserveConfig {
    pub(crate) slow_poll_threshold: Option<Duration>,
    pub(crate) trace: bool,
    pub(crate) trace_capacity: usize,
    pub(crate) trace_path: Option<PathBuf>,
    pub(crate) explain: bool,
}

impl ObserveConfig {
    /// The defaults, with `NBIO_TRACE` and `NBIO_EXPLAIN` applied.
    pub(crate) fn from_env() -> ObserveConfig {
        let trace_path = std::env::var_os("NBIO_TRACE")
            .filter(|path| !path.is_empty())
            .map(PathBuf::from);
        let explain = std::env::var_os("NBIO_EXPLAIN").is_some_and(|v| !v.is_empty() && v != "0");
        ObserveConfig {
            slow_poll_threshold: Some(DEFAULT_SLOW_POLL),
            trace: trace_path.is_some(),
            trace_capacity: DEFAULT_TRACE_CAPACITY,
            trace_path,
            explain,
        }
    }
}
