//! Placeholder: the rate limiter lands with its own issue.

/// The rate limiter `name`'s quota, for a rejection's message.
pub(crate) fn limit_detail(_name: &str) -> Option<String> {
    None
}
