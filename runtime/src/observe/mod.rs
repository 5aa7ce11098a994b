//! Watching the runtime work.
//!
//! The article prints as it goes ("Sending data", "Blocking with 5242880 remaining") so that a
//! reader can see the loop take turns. nbio keeps exact counters of what its scheduler and
//! reactor do; everything records into them, nothing depends on them for its logic.

mod stats;

pub use stats::Stats;
