//! Placeholder: the bulkhead lands with its own issue.

/// How full the bulkhead `name` is, for a rejection's message.
pub(crate) fn full_detail(_name: &str) -> Option<String> {
    None
}
