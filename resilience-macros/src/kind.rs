//! The attributes, and recognising them among a function's other attributes.

use syn::Path;

/// One of the attributes this crate provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Retry,
    Timeout,
    CircuitBreaker,
    Fallback,
    Bulkhead,
    RateLimit,
    Cache,
    Coalesce,
    Hedge,
}

impl Kind {
    const ALL: [Kind; 9] = [
        Kind::Retry,
        Kind::Timeout,
        Kind::CircuitBreaker,
        Kind::Fallback,
        Kind::Bulkhead,
        Kind::RateLimit,
        Kind::Cache,
        Kind::Coalesce,
        Kind::Hedge,
    ];

    /// Every attribute's name, as written, in the order of [`Kind`]'s variants.
    pub(crate) const NAMES: [&'static str; 9] = [
        "retry",
        "timeout",
        "circuit_breaker",
        "fallback",
        "bulkhead",
        "rate_limit",
        "cache",
        "coalesce",
        "hedge",
    ];

    pub(crate) fn name(self) -> &'static str {
        Kind::NAMES[self as usize]
    }

    /// The attribute a path names: `retry`, or `resilience_runtime::retry` (any path
    /// through `resilience_runtime` or `resilience_macros`). A renamed import is not
    /// recognised: it would expand on its own, inside the stack.
    pub(crate) fn from_path(path: &Path) -> Option<Kind> {
        let last = path.segments.last()?.ident.to_string();
        let kind = Kind::ALL.into_iter().find(|k| k.name() == last)?;
        let through_crate = path.segments.len() == 1
            || path
                .segments
                .iter()
                .any(|s| s.ident == "resilience_runtime" || s.ident == "resilience_macros");
        through_crate.then_some(kind)
    }
}
