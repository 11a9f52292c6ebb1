//! Placeholder: the circuit breaker lands with its own issue.

/// Why the breaker `name` last opened, if it is registered and open.
pub(crate) fn open_reason(_name: &str) -> Option<String> {
    None
}
