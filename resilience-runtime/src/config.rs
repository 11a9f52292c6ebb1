//! The error a builder returns for a configuration it cannot run.

use std::borrow::Cow;

/// A policy's configuration was refused by its builder's `build()`.
///
/// The attribute macros check literal arguments at compile time; this error is what
/// the same checks say at run time when a policy is built by hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {policy} configuration: `{field}` {reason}")]
pub struct ConfigError {
    /// The policy being configured, e.g. `"retry"`.
    pub policy: &'static str,
    /// The offending setting, e.g. `"max_attempts"`.
    pub field: &'static str,
    /// What is wrong and what to write instead.
    pub reason: Cow<'static, str>,
}

impl ConfigError {
    pub(crate) fn new(
        policy: &'static str,
        field: &'static str,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        ConfigError {
            policy,
            field,
            reason: reason.into(),
        }
    }
}
