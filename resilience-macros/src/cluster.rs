//! `scope = "cluster"` and the arguments that only make sense with it
//! (`#[rate_limit]`: `batch`, `on_store_error`, `store_timeout`;
//! `#[circuit_breaker]`: `quorum`): checked here, written as builder calls.

use proc_macro2::TokenStream;
use syn::{Expr, Ident, Lit};

use crate::args::{Args, Errors};
use crate::lit;
use crate::policy::Value;

/// The most slots one batch may take (`resilience_runtime::cluster::MAX_BATCH`).
const MAX_BATCH: u64 = 1_000;

/// The largest quorum accepted (a fleet of more processes is unusual; u32 below).
const MAX_QUORUM: u64 = 1_000_000;

fn string_value(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.value()),
        _ => None,
    }
}

/// `scope = "cluster"` (the key's span) or `"local"` (`None`, the default).
fn scope(args: &mut Args, errors: &mut Errors) -> Option<proc_macro2::Span> {
    let (key, value) = args.take("scope")?;
    match string_value(&value).as_deref() {
        Some("cluster") => Some(key.span()),
        Some("local") => None,
        _ => {
            errors.spanned(
                &value,
                "`scope` is `\"local\"` (the default: this process alone) or `\"cluster\"` (every process connected to the same Redis, feature `redis`)",
            );
            None
        }
    }
}

/// Reports a cluster-only argument given without `scope = "cluster"`.
fn needs_scope(key: &Ident, errors: &mut Errors) {
    errors.at(
        key.span(),
        format_args!(
            "`{key}` applies only to a cluster policy: add `scope = \"cluster\"`, or remove `{key}`"
        ),
    );
}

/// `#[rate_limit]`'s cluster arguments, as builder calls, and where `scope =
/// "cluster"` was written (a plain function cannot take it: checked in `valid`).
pub(crate) fn rate_limit(
    args: &mut Args,
    errors: &mut Errors,
) -> (Option<proc_macro2::Span>, Vec<(&'static str, Value)>) {
    let scope_key = scope(args, errors);
    let cluster = scope_key.is_some();
    let mut settings = Vec::new();
    if cluster {
        settings.push(("process_cluster", Value::Tokens(TokenStream::new())));
    }
    if let Some((key, value)) = args.take("batch") {
        if !cluster {
            needs_scope(&key, errors);
        }
        if let Some(n) = lit::integer_in(
            &value,
            "batch",
            (1, MAX_BATCH),
            " (`cluster::MAX_BATCH`)",
            errors,
        ) {
            settings.push(("batch", Value::Tokens(n)));
        }
    }
    if let Some((key, value)) = args.take("on_store_error") {
        if !cluster {
            needs_scope(&key, errors);
        }
        match string_value(&value).as_deref() {
            Some(mode @ ("local" | "allow" | "deny")) => {
                let mode = syn::LitStr::new(mode, proc_macro2::Span::call_site());
                settings.push((
                    "on_store_error_named",
                    Value::Tokens(quote::quote!(#mode)),
                ));
            }
            _ => errors.spanned(
                &value,
                "`on_store_error` is `\"local\"` (the default: decide by this process's own limiter), `\"allow\"` or `\"deny\"`",
            ),
        }
    }
    if let Some((key, value)) = args.take("store_timeout") {
        if !cluster {
            needs_scope(&key, errors);
        }
        if let Some(d) = lit::duration(&value, errors) {
            if d.literal_nanos() == Some(0) {
                errors.spanned(
                    &value,
                    "`store_timeout` must be longer than 0s: it is how long a call may wait on Redis, e.g. `store_timeout = \"50ms\"`",
                );
            }
            settings.push(("store_timeout", Value::Duration(d)));
        }
    }
    (scope_key, settings)
}

/// `#[circuit_breaker]`'s cluster arguments, as builder calls.
pub(crate) fn breaker(
    args: &mut Args,
    errors: &mut Errors,
    keyed: bool,
) -> Vec<(&'static str, Value)> {
    let scope_key = scope(args, errors);
    let cluster = scope_key.is_some();
    let mut settings = Vec::new();
    if let Some(span) = scope_key {
        if keyed {
            errors.at(
                span,
                "`scope = \"cluster\"` shares one breaker per name; it cannot be combined with `key`: remove `key`, or `scope`",
            );
        }
        settings.push(("process_cluster", Value::Tokens(TokenStream::new())));
    }
    if let Some((key, value)) = args.take("quorum") {
        if !cluster {
            needs_scope(&key, errors);
        }
        if let Some(n) = lit::integer_in(&value, "quorum", (1, MAX_QUORUM), "", errors) {
            settings.push(("quorum", Value::Tokens(n)));
        }
    }
    settings
}
