//! Checks across the whole stack: what each attribute needs of the function, and
//! orders that almost always mean a mistake (reported as warnings).

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote_spanned};

use crate::args::Errors;
use crate::func::Function;
use crate::kind::Kind;
use crate::policy::Layer;

/// Errors: what the function cannot support.
pub(crate) fn check(layers: &[Layer], function: &Function, errors: &mut Errors) {
    if !function.is_async {
        for layer in layers {
            if layer.kind == Kind::Timeout {
                errors.at(
                    layer.span,
                    "`#[timeout]` needs an `async fn`: a plain function cannot be interrupted\n  help: make the function `async`, or bound the blocking work inside it",
                );
            }
            if layer.kind == Kind::Hedge {
                errors.at(
                    layer.span,
                    "`#[hedge]` needs an `async fn`: its copies run side by side and the losers are dropped, which a plain function cannot do\n  help: make the function `async`",
                );
            }
            if layer.kind == Kind::Coalesce {
                errors.at(
                    layer.span,
                    "`#[coalesce]` needs an `async fn`: waiting callers share a running future, and a plain function has none to share\n  help: make the function `async`, or use `#[cache(key = ...)]`, which also runs one body per key at a time for plain functions",
                );
            }
            if let crate::policy::Policy::CircuitBreaker(args) = &layer.policy {
                if let Some(probe) = &args.probe {
                    errors.spanned(
                        &probe.path,
                        "`probe` needs an `async fn`: the probe task runs on the tokio runtime of the call that opened the breaker, which a plain function has none of\n  help: make the function `async`, or probe by hand with `CircuitBreakerBuilder::probe` from async code",
                    );
                }
            }
            if let crate::policy::Policy::RateLimit(args) = &layer.policy {
                if let Some(span) = args.cluster_scope {
                    errors.at(
                        span,
                        "`scope = \"cluster\"` needs an `async fn`: each decision is a round trip to Redis, which a plain function cannot await\n  help: make the function `async`, or leave `scope` out for a limit of this process alone",
                    );
                }
            }
        }
    }
}

/// One risky order: `upper` written above `lower`.
struct Risk {
    upper: Kind,
    lower: Kind,
    /// Which of the two the warning points at.
    blame_upper: bool,
    message: &'static str,
}

const RISKS: [Risk; 5] = [
    Risk {
        upper: Kind::Retry,
        lower: Kind::Fallback,
        blame_upper: false,
        message: "#[fallback] below #[retry]: the fallback turns every error into a success, so the retry never sees an error and never retries. Write #[fallback] above #[retry] (the first attribute is the outermost), or add `order = \"intended\"` to either attribute if this is what you mean.",
    },
    Risk {
        upper: Kind::CircuitBreaker,
        lower: Kind::Fallback,
        blame_upper: false,
        message: "#[fallback] below #[circuit_breaker]: the fallback turns every error into a success, so the breaker never sees a failure and never opens. Write #[fallback] above #[circuit_breaker], or add `order = \"intended\"` to either attribute if this is what you mean.",
    },
    Risk {
        upper: Kind::Bulkhead,
        lower: Kind::Retry,
        blame_upper: true,
        message: "#[bulkhead] above #[retry]: a slot is held through every backoff sleep, so sleeping retries keep other calls out. Write #[bulkhead] below #[retry] (innermost, around the body), or add `order = \"intended\"` to either attribute if this is what you mean.",
    },
    Risk {
        upper: Kind::RateLimit,
        lower: Kind::Retry,
        blame_upper: true,
        message: "#[rate_limit] above #[retry]: only the first attempt is counted, so retries bypass the limit. Write #[rate_limit] below #[retry] so that every attempt is paced, or add `order = \"intended\"` to either attribute if this is what you mean.",
    },
    // `#[coalesce]` below `#[retry]` is no mistake: each attempt joins the attempts of
    // other calls, and a shared error is retried by each of them. No warning.
    Risk {
        upper: Kind::Retry,
        lower: Kind::Cache,
        blame_upper: false,
        message: "#[cache] below #[retry]: a failed attempt is answered with the stale entry, which is an `Ok`, so the retry stops at the first failure and never retries. Write #[cache] above #[retry] (a stale answer only once every attempt failed), or add `order = \"intended\"` to either attribute if this is what you mean.",
    },
];

/// Warnings (on stable Rust, through a deprecated item) for risky orders.
pub(crate) fn order_warnings(layers: &[Layer]) -> TokenStream {
    let mut out = TokenStream::new();
    for (i, upper) in layers.iter().enumerate() {
        for lower in &layers[i + 1..] {
            for risk in &RISKS {
                if risk.upper != upper.kind || risk.lower != lower.kind {
                    continue;
                }
                if upper.order_intended || lower.order_intended {
                    continue;
                }
                let span = if risk.blame_upper {
                    upper.span
                } else {
                    lower.span
                };
                out.extend([warning(span, risk.message)]);
            }
        }
    }
    out
}

fn warning(span: Span, message: &str) -> TokenStream {
    let name = format_ident!("RiskyAttributeOrder", span = span);
    quote_spanned! {span=>
        const _: () = {
            #[deprecated(note = #message)]
            struct #name;
            #[allow(clippy::no_effect_underscore_binding)]
            let _ = #name;
        };
    }
}
