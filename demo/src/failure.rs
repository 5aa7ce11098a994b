//! `Failure`: what went wrong, said in one line a person can act on.

use std::fmt;

/// A failure the demo reports on one line of stderr before it exits non-zero: which server,
/// which step, and what the system said. Never a panic, never a backtrace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(String);

impl Failure {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure(message.into())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}
