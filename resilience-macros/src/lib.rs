//! Attribute macros for [`resilience-runtime`](https://docs.rs/resilience-runtime).
//!
//! Depend on `resilience-runtime` and use the macros it re-exports; their documentation,
//! with every argument and its default, is there. This crate only rewrites the
//! annotated function into calls to `resilience_runtime::__private`: it holds no policy
//! logic.
//!
//! Attributes stack: the first one written expands the whole stack at once (the ones
//! below it are read and removed), outermost first. See `expand.rs`.

mod args;
mod expand;
mod func;
mod kind;
mod lit;
mod policy;
mod valid;

use proc_macro::TokenStream;

use crate::kind::Kind;

/// Runs the function again when it fails. See `resilience_runtime`'s crate docs.
#[proc_macro_attribute]
pub fn retry(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Retry, args.into(), item.into()).into()
}

/// Gives up on an async call that takes too long. See `resilience_runtime`'s crate docs.
#[proc_macro_attribute]
pub fn timeout(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Timeout, args.into(), item.into()).into()
}

/// Stops calling a failing dependency for a while. See `resilience_runtime`'s crate docs.
#[proc_macro_attribute]
pub fn circuit_breaker(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::CircuitBreaker, args.into(), item.into()).into()
}

/// Serves a backup answer when the call fails. See `resilience_runtime`'s crate docs.
#[proc_macro_attribute]
pub fn fallback(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Fallback, args.into(), item.into()).into()
}

/// Limits how many calls run at once. See `resilience_runtime`'s crate docs.
#[proc_macro_attribute]
pub fn bulkhead(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::Bulkhead, args.into(), item.into()).into()
}

/// Limits how often the function runs. See `resilience_runtime`'s crate docs.
#[proc_macro_attribute]
pub fn rate_limit(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::attribute(Kind::RateLimit, args.into(), item.into()).into()
}
