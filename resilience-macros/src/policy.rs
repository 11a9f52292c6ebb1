//! Each attribute's typed settings, read from its arguments.

use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;
use syn::{Expr, Path};

use crate::args::{Args, Errors, expr_ident};
use crate::kind::Kind;
use crate::limits::{
    MAX_CONCURRENT, MAX_COUNT, MAX_HALF_OPEN_CALLS, MAX_WAITING, MAX_WINDOW_CALLS,
};
use crate::lit::{self, DurationArg, RateArg};

/// One attribute of the stack, with its settings.
pub(crate) struct Layer {
    pub(crate) kind: Kind,
    /// The attribute's name as written, for messages and spans.
    pub(crate) span: Span,
    pub(crate) policy: Policy,
    /// `order = "intended"`: the writer meant this position in the stack.
    pub(crate) order_intended: bool,
}

// A handful per function, built once at compile time: their size does not matter.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Policy {
    Retry(RetryArgs),
    Timeout(TimeoutArgs),
    CircuitBreaker(BreakerArgs),
    Fallback(FallbackArgs),
    Bulkhead(BulkheadArgs),
    RateLimit(RateLimitArgs),
    Cache(CacheArgs),
    Coalesce(CoalesceArgs),
    Hedge(HedgeArgs),
}

pub(crate) struct RetryArgs {
    pub(crate) max_attempts: Option<TokenStream>,
    pub(crate) backoff: BackoffArg,
    pub(crate) jitter: Option<Jitter>,
    pub(crate) max_elapsed: Option<DurationArg>,
    pub(crate) retry_if: Option<Path>,
    pub(crate) on_retry: Option<Path>,
    pub(crate) name: Option<TokenStream>,
    /// `budget` / `budget(ratio = .., min_per_sec = .., window = "..")`.
    pub(crate) budget: Option<BudgetArg>,
    /// `retry_after = path`: a server's hint of the wait.
    pub(crate) retry_after: Option<Path>,
}

/// A retry budget's settings; `None` takes the default.
#[derive(Default)]
pub(crate) struct BudgetArg {
    pub(crate) ratio: Option<TokenStream>,
    pub(crate) min_per_sec: Option<TokenStream>,
    pub(crate) window: Option<DurationArg>,
}

pub(crate) enum BackoffArg {
    Default,
    None,
    Fixed(DurationArg),
    Linear {
        initial: Option<DurationArg>,
        step: Option<DurationArg>,
        max: Option<DurationArg>,
    },
    Exponential {
        initial: Option<DurationArg>,
        factor: Option<TokenStream>,
        max: Option<DurationArg>,
    },
    Custom(Expr),
}

#[derive(Clone, Copy)]
pub(crate) enum Jitter {
    None,
    Full,
    Equal,
    Decorrelated,
}

pub(crate) struct TimeoutArgs {
    pub(crate) after: Option<DurationArg>,
    pub(crate) name: Option<TokenStream>,
}

pub(crate) struct BreakerArgs {
    pub(crate) name: Option<TokenStream>,
    /// Builder settings in order: `(method, argument)`.
    pub(crate) settings: Vec<(&'static str, Value)>,
    pub(crate) window: Option<WindowArg>,
    pub(crate) record_if: Option<Path>,
    pub(crate) key: Option<Expr>,
    pub(crate) max_keys: Option<TokenStream>,
    /// `probe = path`, `probe_every`, `probe_timeout`.
    pub(crate) probe: Option<ProbeArg>,
}

/// A breaker's health probe.
pub(crate) struct ProbeArg {
    pub(crate) path: Path,
    pub(crate) every: Option<DurationArg>,
    pub(crate) timeout: Option<DurationArg>,
}

/// A builder argument: tokens as they are, or a duration still to be written out.
pub(crate) enum Value {
    Tokens(TokenStream),
    Duration(DurationArg),
}

impl Value {
    pub(crate) fn tokens(&self, krate: &impl quote::ToTokens) -> TokenStream {
        match self {
            Value::Tokens(t) => t.clone(),
            Value::Duration(d) => d.tokens(krate),
        }
    }
}

pub(crate) enum WindowArg {
    Count(TokenStream),
    Time(DurationArg),
}

pub(crate) struct FallbackArgs {
    pub(crate) form: FallbackForm,
    pub(crate) fallback_if: Option<Path>,
    pub(crate) name: Option<TokenStream>,
}

pub(crate) enum FallbackForm {
    Path(Path),
    Default(Span),
    Value(Expr),
}

pub(crate) struct BulkheadArgs {
    pub(crate) name: Option<TokenStream>,
    pub(crate) max_concurrent: Option<ConcurrencyArg>,
    pub(crate) max_wait: Option<DurationArg>,
    pub(crate) max_waiting: Option<TokenStream>,
}

pub(crate) enum ConcurrencyArg {
    Fixed(TokenStream),
    Adaptive {
        initial: Option<TokenStream>,
        min: Option<TokenStream>,
        max: Option<TokenStream>,
    },
}

pub(crate) struct RateLimitArgs {
    pub(crate) name: Option<TokenStream>,
    pub(crate) rate: Option<RateArg>,
    pub(crate) burst: Option<TokenStream>,
    /// `cost = expr`: the slots each call takes.
    pub(crate) cost: Option<TokenStream>,
    pub(crate) max_wait: Option<DurationArg>,
    pub(crate) key: Option<Expr>,
    pub(crate) max_keys: Option<TokenStream>,
    /// `scope = "cluster"` and its arguments, as builder calls.
    pub(crate) cluster: Vec<(&'static str, Value)>,
    /// Where `scope = "cluster"` was written.
    pub(crate) cluster_scope: Option<proc_macro2::Span>,
}

pub(crate) struct CacheArgs {
    pub(crate) name: Option<TokenStream>,
    pub(crate) key: Option<Expr>,
    pub(crate) max_keys: Option<TokenStream>,
    pub(crate) ttl: Option<DurationArg>,
    pub(crate) stale_if_error: Option<DurationArg>,
}

pub(crate) struct CoalesceArgs {
    pub(crate) name: Option<TokenStream>,
    pub(crate) key: Option<Expr>,
}

pub(crate) struct HedgeArgs {
    pub(crate) name: Option<TokenStream>,
    pub(crate) delay: Option<HedgeDelayArg>,
    pub(crate) max_hedges: Option<TokenStream>,
}

pub(crate) enum HedgeDelayArg {
    Fixed(DurationArg),
    Percentile(TokenStream),
}

/// Arguments every attribute takes besides its own.
const COMMON: [&str; 2] = ["crate", "order"];

/// Reads one attribute's arguments. Errors go into `errors`; the layer is returned
/// even when some settings were bad, so that every mistake is reported at once.
pub(crate) fn parse_layer(
    kind: Kind,
    span: Span,
    mut args: Args,
    krate: &mut Option<Path>,
    errors: &mut Errors,
) -> Layer {
    let mut local = Errors::default();
    if let Some((key, value)) = args.take("crate") {
        match value {
            Expr::Path(p) if p.qself.is_none() => {
                krate.get_or_insert(p.path);
            }
            other => local.spanned(
                &other,
                format_args!("`{key}` takes a path to the runtime crate, e.g. `crate = ::my_reexport::resilience`"),
            ),
        }
    }
    let order_intended = match args.take("order") {
        Some((
            _,
            Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }),
        )) if s.value() == "intended" => true,
        Some((_, other)) => {
            local.spanned(
                &other,
                "`order` takes only `\"intended\"`: it silences the warning about this attribute's place in the stack",
            );
            false
        }
        None => false,
    };
    let (policy, valid): (Policy, &[&str]) = match kind {
        Kind::Retry => (
            Policy::Retry(retry(&mut args, &mut local)),
            &[
                "max_attempts",
                "backoff",
                "jitter",
                "max_elapsed",
                "retry_if",
                "on_retry",
                "retry_after",
                "budget",
                "name",
            ],
        ),
        Kind::Timeout => (
            Policy::Timeout(timeout(&mut args, &mut local)),
            &["after", "name"],
        ),
        Kind::CircuitBreaker => (
            Policy::CircuitBreaker(breaker(&mut args, &mut local)),
            &[
                "name",
                "failure_rate",
                "window",
                "min_calls",
                "consecutive_failures",
                "slow_call",
                "slow_call_rate",
                "open_for",
                "open_for_max",
                "open_for_factor",
                "half_open_calls",
                "max_wait_in_half_open",
                "record_if",
                "key",
                "max_keys",
                "scope",
                "quorum",
                "probe",
                "probe_every",
                "probe_timeout",
            ],
        ),
        Kind::Fallback => (
            Policy::Fallback(fallback(&mut args, &mut local)),
            &["value", "default", "fallback_if", "name"],
        ),
        Kind::Bulkhead => (
            Policy::Bulkhead(bulkhead(&mut args, &mut local)),
            &["max_concurrent", "max_wait", "max_waiting", "name"],
        ),
        Kind::RateLimit => (
            Policy::RateLimit(rate_limit(&mut args, &mut local)),
            &[
                "rate",
                "burst",
                "max_wait",
                "cost",
                "key",
                "max_keys",
                "name",
                "scope",
                "batch",
                "on_store_error",
                "store_timeout",
            ],
        ),
        Kind::Cache => (
            Policy::Cache(cache(&mut args, &mut local)),
            &["key", "ttl", "stale_if_error", "max_keys", "name"],
        ),
        Kind::Coalesce => (
            Policy::Coalesce(CoalesceArgs {
                key: args.take("key").map(|(_, v)| v),
                name: take_name(&mut args, &mut local),
            }),
            &["key", "name"],
        ),
        Kind::Hedge => (
            Policy::Hedge(hedge(&mut args, &mut local)),
            &["delay", "max_hedges", "name"],
        ),
    };
    let valid: Vec<&str> = valid.iter().chain(COMMON.iter()).copied().collect();
    local.extend(args.finish(&valid));
    errors.extend(local);
    Layer {
        kind,
        span,
        policy,
        order_intended,
    }
}

fn retry(args: &mut Args, errors: &mut Errors) -> RetryArgs {
    let max_attempts = args
        .take("max_attempts")
        .and_then(|(_, v)| lit::integer(&v, "max_attempts", 1, errors));
    let backoff = match args.take("backoff") {
        Some((_, v)) => backoff(&v, errors),
        None => BackoffArg::Default,
    };
    let jitter = args.take("jitter").and_then(|(_, v)| {
        let found = expr_ident(&v).and_then(|i| match i.to_string().as_str() {
            "none" => Some(Jitter::None),
            "full" => Some(Jitter::Full),
            "equal" => Some(Jitter::Equal),
            "decorrelated" => Some(Jitter::Decorrelated),
            _ => None,
        });
        if found.is_none() {
            errors.spanned(
                &v,
                "`jitter` is one of `none`, `full` (uniform in [0, d]), `equal` (d/2 + uniform in [0, d/2]) or `decorrelated`",
            );
        }
        found
    });
    let max_elapsed = args
        .take("max_elapsed")
        .and_then(|(_, v)| lit::duration(&v, errors));
    let retry_if = args
        .take("retry_if")
        .and_then(|(_, v)| lit::fn_path(&v, "`retry_if`", "retry_if = is_transient", errors));
    let on_retry = args
        .take("on_retry")
        .and_then(|(_, v)| lit::fn_path(&v, "`on_retry`", "on_retry = log_retry", errors));
    let retry_after = args
        .take("retry_after")
        .and_then(|(_, v)| lit::fn_path(&v, "`retry_after`", "retry_after = hinted_wait", errors));
    RetryArgs {
        max_attempts,
        backoff,
        jitter,
        max_elapsed,
        retry_if,
        on_retry,
        name: take_name(args, errors),
        budget: retry_budget(args, errors),
        retry_after,
    }
}

/// `budget` alone (the defaults) or `budget(ratio = 0.2, min_per_sec = 10, window = "10s")`.
fn retry_budget(args: &mut Args, errors: &mut Errors) -> Option<BudgetArg> {
    if args.take_flag("budget").is_some() {
        return Some(BudgetArg::default());
    }
    if let Some((key, _)) = args.take("budget") {
        errors.at(
            key.span(),
            "write `budget` alone for the defaults, or `budget(ratio = 0.2, min_per_sec = 10, window = \"10s\")`",
        );
        return None;
    }
    let call = args.take_call("budget")?;
    let mut inner = Args::from_call("`budget(...)`".to_owned(), &call);
    let ratio = inner
        .take("ratio")
        .and_then(|(_, v)| lit::float(&v, "ratio", (0.0, false, 10.0), errors));
    let min_per_sec = inner
        .take("min_per_sec")
        .and_then(|(_, v)| lit::integer(&v, "min_per_sec", 0, errors));
    let window = inner.take("window").and_then(|(_, v)| {
        let d = lit::duration(&v, errors)?;
        if d.literal_nanos() == Some(0) {
            errors.spanned(
                &v,
                "`window` must be longer than 0s: it is how long calls and retries count, e.g. `window = \"10s\"`",
            );
        }
        Some(d)
    });
    errors.extend(inner.finish(&["ratio", "min_per_sec", "window"]));
    Some(BudgetArg {
        ratio,
        min_per_sec,
        window,
    })
}

const BACKOFF_HELP: &str = "`backoff` is `none`, `fixed(\"1s\")`, \
`linear(initial = \"100ms\", step = \"100ms\", max = \"5s\")`, \
`exponential(initial = \"100ms\", factor = 2.0, max = \"10s\")`, \
or an expression of a type implementing `resilience_runtime::Backoff`";

fn backoff(value: &Expr, errors: &mut Errors) -> BackoffArg {
    if let Some(ident) = expr_ident(value) {
        if ident == "none" {
            return BackoffArg::None;
        }
        if ["fixed", "linear", "exponential"]
            .iter()
            .any(|f| ident == f)
        {
            errors.at(
                ident.span(),
                format_args!("`{ident}` needs its settings; {BACKOFF_HELP}"),
            );
            return BackoffArg::Default;
        }
    }
    let Expr::Call(call) = value else {
        return BackoffArg::Custom(value.clone());
    };
    let Some(form) = expr_ident(&call.func).map(ToString::to_string) else {
        return BackoffArg::Custom(value.clone());
    };
    let mut inner = Args::from_call(format!("`{form}(...)`"), call);
    let arg = match form.as_str() {
        "fixed" => {
            let delay = inner
                .take_positional()
                .or_else(|| inner.take("delay").map(|(_, v)| v));
            match delay.and_then(|d| lit::duration(&d, errors)) {
                Some(d) => BackoffArg::Fixed(d),
                None => {
                    if inner.is_empty() {
                        errors.at(call.span(), "`fixed` needs a delay, e.g. `fixed(\"1s\")`");
                    }
                    BackoffArg::Default
                }
            }
        }
        "linear" => BackoffArg::Linear {
            initial: take_duration(&mut inner, "initial", errors),
            step: take_duration(&mut inner, "step", errors),
            max: take_duration(&mut inner, "max", errors),
        },
        "exponential" => BackoffArg::Exponential {
            initial: take_duration(&mut inner, "initial", errors),
            factor: inner
                .take("factor")
                .and_then(|(_, v)| lit::float(&v, "factor", (1.0, false, f64::INFINITY), errors)),
            max: take_duration(&mut inner, "max", errors),
        },
        _ => return BackoffArg::Custom(value.clone()),
    };
    let valid: &[&str] = match form.as_str() {
        "fixed" => &["delay"],
        "linear" => &["initial", "step", "max"],
        _ => &["initial", "factor", "max"],
    };
    errors.extend(inner.finish(valid));
    arg
}

fn take_duration(args: &mut Args, key: &str, errors: &mut Errors) -> Option<DurationArg> {
    args.take(key).and_then(|(_, v)| lit::duration(&v, errors))
}

fn take_name(args: &mut Args, errors: &mut Errors) -> Option<TokenStream> {
    args.take("name")
        .and_then(|(_, v)| lit::string(&v, "name", errors))
}

fn timeout(args: &mut Args, errors: &mut Errors) -> TimeoutArgs {
    let after = match args.take("after") {
        Some((_, v)) => lit::duration(&v, errors),
        None => match args.take_positional() {
            Some(v) => lit::duration(&v, errors),
            None => {
                errors.at(
                    args.span(),
                    "`#[timeout]` needs a time limit: `#[timeout(\"2s\")]` or `#[timeout(after = \"2s\")]`",
                );
                None
            }
        },
    };
    TimeoutArgs {
        after,
        name: take_name(args, errors),
    }
}

fn breaker(args: &mut Args, errors: &mut Errors) -> BreakerArgs {
    let name = take_name(args, errors);
    let mut settings = Vec::new();
    let rate = (0.0, true, 1.0);
    if let Some(v) = args
        .take("failure_rate")
        .and_then(|(_, v)| lit::float(&v, "failure_rate", rate, errors))
    {
        settings.push(("failure_rate", Value::Tokens(v)));
    }
    let window = args.take("window").and_then(|(_, v)| window(&v, errors));
    for (key, max, why) in [
        ("min_calls", MAX_COUNT, ""),
        ("consecutive_failures", MAX_COUNT, ""),
        (
            "half_open_calls",
            MAX_HALF_OPEN_CALLS,
            " (`circuit_breaker::MAX_HALF_OPEN_CALLS`: trial calls are counted in 12 bits)",
        ),
    ] {
        if let Some(v) = args
            .take(key)
            .and_then(|(_, v)| lit::integer_in(&v, key, (1, max), why, errors))
        {
            if key == "min_calls" {
                check_min_calls(&v, window.as_ref(), errors);
            }
            settings.push((key, Value::Tokens(v)));
        }
    }
    let slow_call = take_duration(args, "slow_call", errors);
    let slow_rate = args.take("slow_call_rate");
    if let (Some((key, _)), None) = (&slow_rate, &slow_call) {
        errors.at(
            key.span(),
            "`slow_call_rate` needs `slow_call = \"...\"`, the duration above which a call is slow",
        );
    }
    if let Some(d) = slow_call {
        settings.push(("slow_call", Value::Duration(d)));
    }
    if let Some(v) = slow_rate.and_then(|(_, v)| lit::float(&v, "slow_call_rate", rate, errors)) {
        settings.push(("slow_call_rate", Value::Tokens(v)));
    }
    let open_for = take_duration(args, "open_for", errors);
    let open_for_max = args.take("open_for_max");
    if let Some((key, value)) = &open_for_max {
        if let Some(max) = lit::duration(value, errors) {
            let min = open_for
                .as_ref()
                .map_or(Some(60_000_000_000), |d| d.literal_nanos());
            if let (Some(min), Some(max_nanos)) = (min, max.literal_nanos()) {
                if max_nanos < min {
                    let secs = |n: u128| n as f64 / 1e9;
                    errors.spanned(
                        value,
                        format_args!(
                            "`{key}` ({}s) must be at least `open_for` ({}s{}): it caps the open time that grows on each re-open",
                            secs(max_nanos),
                            secs(min),
                            if open_for.is_some() { "" } else { ", the default" }
                        ),
                    );
                }
            }
            settings.push(("open_for_max", Value::Duration(max)));
        }
    }
    if let Some((key, value)) = args.take("open_for_factor") {
        if open_for_max.is_none() {
            errors.at(
                key.span(),
                "`open_for_factor` needs `open_for_max = \"...\"`: the factor grows the open time on each re-open, up to that cap",
            );
        }
        if let Some(v) = lit::float(
            &value,
            "open_for_factor",
            (1.0, true, f64::INFINITY),
            errors,
        ) {
            settings.push(("open_for_factor", Value::Tokens(v)));
        }
    }
    if let Some((_, value)) = args.take("max_wait_in_half_open") {
        if let Some(d) = lit::duration(&value, errors) {
            if d.literal_nanos() == Some(0) {
                errors.spanned(
                    &value,
                    "`max_wait_in_half_open` must be longer than 0s: it is how long the trials have to finish, e.g. `max_wait_in_half_open = \"30s\"`",
                );
            }
            settings.push(("max_wait_in_half_open", Value::Duration(d)));
        }
    }
    if let Some(d) = open_for {
        settings.push(("open_for", Value::Duration(d)));
    }
    let record_if = args
        .take("record_if")
        .and_then(|(_, v)| lit::fn_path(&v, "`record_if`", "record_if = is_server_error", errors));
    let (key, max_keys) = key_and_max_keys(args, errors);
    settings.extend(crate::cluster::breaker(args, errors, key.is_some()));
    BreakerArgs {
        name,
        settings,
        window,
        record_if,
        key,
        max_keys,
        probe: probe(args, errors),
    }
}

/// `probe = path`, with `probe_every` and `probe_timeout` (which need it).
fn probe(args: &mut Args, errors: &mut Errors) -> Option<ProbeArg> {
    let path = args
        .take("probe")
        .and_then(|(_, v)| lit::fn_path(&v, "`probe`", "probe = backend_healthy", errors));
    let mut timing = |key: &str| {
        let (ident, value) = args.take(key)?;
        let d = lit::duration(&value, errors)?;
        if d.literal_nanos() == Some(0) {
            errors.spanned(
                &value,
                format_args!("`{key}` must be longer than 0s, e.g. `{key} = \"1s\"`"),
            );
        }
        Some((ident, d))
    };
    let every = timing("probe_every");
    let timeout = timing("probe_timeout");
    match path {
        Some(path) => Some(ProbeArg {
            path,
            every: every.map(|(_, d)| d),
            timeout: timeout.map(|(_, d)| d),
        }),
        None => {
            for (ident, _) in every.iter().chain(timeout.iter()) {
                errors.at(
                    ident.span(),
                    format_args!(
                        "`{ident}` needs `probe = path`: the `async fn() -> bool` that checks the backend's health while the breaker is open"
                    ),
                );
            }
            None
        }
    }
}

/// A literal `min_calls` above the calls a count window holds could never be reached:
/// the runtime would lower it to the window's size.
fn check_min_calls(min_calls: &TokenStream, window: Option<&WindowArg>, errors: &mut Errors) {
    let int = |tokens: &TokenStream| syn::parse2::<syn::LitInt>(tokens.clone()).ok();
    let (size, which) = match window {
        None => (100, "the default `window = count(100)`".to_owned()),
        Some(WindowArg::Count(n)) => match int(n).and_then(|n| n.base10_parse::<u64>().ok()) {
            Some(n) => (n, format!("`window = count({n})`")),
            None => return,
        },
        Some(WindowArg::Time(_)) => return,
    };
    let Some(lit) = int(min_calls) else {
        return;
    };
    let Ok(value) = lit.base10_parse::<u64>() else {
        return;
    };
    if value > size {
        let larger = if value <= MAX_WINDOW_CALLS {
            format!("make the window larger, e.g. `window = count({value})`, or ")
        } else {
            String::new()
        };
        errors.at(
            lit.span(),
            format_args!(
                "`min_calls` must be at most {size}, the calls {which} holds, not {value}: no decision could wait for more; {larger}use `window = time(\"60s\")`"
            ),
        );
    }
}

fn window(value: &Expr, errors: &mut Errors) -> Option<WindowArg> {
    const HELP: &str = "`window` is `count(N)` (the last N calls) or `time(\"60s\")` (the calls of the last period)";
    let Expr::Call(call) = value else {
        errors.at(value.span(), HELP);
        return None;
    };
    let form = expr_ident(&call.func).map(ToString::to_string);
    let mut inner = Args::from_call(
        format!("`{}(...)`", form.as_deref().unwrap_or("window")),
        call,
    );
    let result = match form.as_deref() {
        Some("count") => match inner.take_positional() {
            Some(n) => lit::integer_in(
                &n,
                "window = count(N)",
                (1, MAX_WINDOW_CALLS),
                " (`circuit_breaker::MAX_WINDOW_CALLS`)",
                errors,
            )
            .map(WindowArg::Count),
            None => {
                errors.at(
                    call.span(),
                    "`count` needs the number of calls, e.g. `count(100)`",
                );
                None
            }
        },
        Some("time") => match inner.take_positional() {
            Some(d) => lit::duration(&d, errors).map(|d| {
                if d.literal_nanos() == Some(0) {
                    errors.at(
                        d_span(&d, call.span()),
                        "`window = time(...)` must be longer than 0s",
                    );
                }
                WindowArg::Time(d)
            }),
            None => {
                errors.at(call.span(), "`time` needs the period, e.g. `time(\"60s\")`");
                None
            }
        },
        _ => {
            errors.at(call.func.span(), HELP);
            return None;
        }
    };
    errors.extend(inner.finish(&[]));
    result
}

fn d_span(d: &DurationArg, fallback: Span) -> Span {
    match d {
        DurationArg::Literal { span, .. } => *span,
        DurationArg::Expr(e) => e.span().join(fallback).unwrap_or(fallback),
    }
}

fn key_and_max_keys(args: &mut Args, errors: &mut Errors) -> (Option<Expr>, Option<TokenStream>) {
    let key = args.take("key").map(|(_, v)| v);
    let max_keys = args.take("max_keys").and_then(|(k, v)| {
        if key.is_none() {
            errors.at(
                k.span(),
                "`max_keys` bounds keyed instances: it needs `key = <expression over the arguments>`",
            );
        }
        lit::integer(&v, "max_keys", 1, errors)
    });
    (key, max_keys)
}

fn fallback(args: &mut Args, errors: &mut Errors) -> FallbackArgs {
    const HELP: &str = "write `#[fallback(path::to::function)]`, `#[fallback(default)]` or `#[fallback(value = expr)]`";
    let default = args.take_flag("default");
    let value = args.take("value").map(|(_, v)| v);
    let path = args.take_positional();
    let form = match (default, value, path) {
        (Some(d), None, None) => Some(FallbackForm::Default(d.span())),
        (None, Some(v), None) => Some(FallbackForm::Value(v)),
        (None, None, Some(p)) => lit::fn_path(
            &p,
            "`#[fallback]`",
            "#[fallback(Self::cached_prices)]",
            errors,
        )
        .map(FallbackForm::Path),
        (None, None, None) => {
            errors.at(
                args.span(),
                format_args!("`#[fallback]` needs to know what to return; {HELP}"),
            );
            None
        }
        (d, v, p) => {
            let span = p
                .map(|p| p.span())
                .or(v.map(|v| v.span()))
                .or(d.map(|d| d.span()))
                .unwrap_or(args.span());
            errors.at(
                span,
                format_args!("`#[fallback]` takes one form only; {HELP}"),
            );
            None
        }
    };
    let fallback_if = args.take("fallback_if").and_then(|(_, v)| {
        lit::fn_path(&v, "`fallback_if`", "fallback_if = is_unavailable", errors)
    });
    FallbackArgs {
        form: form.unwrap_or(FallbackForm::Default(args.span())),
        fallback_if,
        name: take_name(args, errors),
    }
}

fn bulkhead(args: &mut Args, errors: &mut Errors) -> BulkheadArgs {
    let max_concurrent = match args.take("max_concurrent") {
        Some((_, v)) => concurrency(&v, errors),
        None => {
            errors.at(
                args.span(),
                "`#[bulkhead]` needs `max_concurrent = N` (or `max_concurrent = adaptive(initial = 20, min = 1, max = 200)`): it has no default",
            );
            None
        }
    };
    BulkheadArgs {
        name: take_name(args, errors),
        max_concurrent,
        max_wait: take_duration(args, "max_wait", errors),
        max_waiting: args.take("max_waiting").and_then(|(_, v)| {
            lit::integer_in(
                &v,
                "max_waiting",
                (0, MAX_WAITING),
                " (`bulkhead::MAX_WAITING`)",
                errors,
            )
        }),
    }
}

/// `" (`bulkhead::MAX_CONCURRENT`)"`, where the concurrency limits come from.
const CONCURRENCY_LIMIT: &str = " (`bulkhead::MAX_CONCURRENT`)";

fn concurrency(value: &Expr, errors: &mut Errors) -> Option<ConcurrencyArg> {
    let fixed = |errors: &mut Errors| {
        lit::integer_in(
            value,
            "max_concurrent",
            (1, MAX_CONCURRENT),
            CONCURRENCY_LIMIT,
            errors,
        )
        .map(ConcurrencyArg::Fixed)
    };
    let Expr::Call(call) = value else {
        return fixed(errors);
    };
    if expr_ident(&call.func).is_none_or(|i| i != "adaptive") {
        return fixed(errors);
    }
    let mut inner = Args::from_call("`adaptive(...)`".to_string(), call);
    let mut read = |key: &str, errors: &mut Errors| {
        inner.take(key).map(|(_, v)| {
            let bound = (1, MAX_CONCURRENT);
            (
                lit::integer_in(&v, key, bound, CONCURRENCY_LIMIT, errors),
                v,
            )
        })
    };
    let initial = read("initial", errors);
    let min = read("min", errors);
    let max = read("max", errors);
    let lit_of = |v: &Option<(Option<TokenStream>, Expr)>| -> Option<u64> {
        match v.as_ref().map(|(_, e)| e) {
            Some(Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(i),
                ..
            })) => i.base10_parse().ok(),
            _ => None,
        }
    };
    let (lo, init, hi) = (lit_of(&min).unwrap_or(1), lit_of(&initial), lit_of(&max));
    if let (Some(hi), Some((_, e))) = (hi, &max) {
        if hi < lo {
            errors.at(
                e.span(),
                format_args!("`max` ({hi}) must be at least `min` ({lo})"),
            );
        }
    }
    if let (Some(init), Some((_, e))) = (init, &initial) {
        if init < lo || hi.is_some_and(|hi| init > hi) {
            errors.at(e.span(), "`initial` must lie between `min` and `max`");
        }
    }
    // A default outside the bounds given would be moved into them at run time.
    if initial.is_none() {
        if let (Some(hi), Some((_, e))) = (hi.filter(|hi| *hi < 20), &max) {
            errors.at(
                e.span(),
                format_args!("`max` ({hi}) is below the default `initial` (20): give `initial` too, e.g. `initial = {hi}`"),
            );
        }
        if let Some((_, e)) = min.as_ref().filter(|_| lo > 20) {
            errors.at(
                e.span(),
                format_args!("`min` ({lo}) is above the default `initial` (20): give `initial` too, e.g. `initial = {lo}`"),
            );
        }
    }
    if let Some((_, e)) = min.as_ref().filter(|_| max.is_none() && lo > 200) {
        errors.at(
            e.span(),
            format_args!(
                "`min` ({lo}) is above the default `max` (200): give `max` too, e.g. `max = {}`",
                lo.saturating_mul(2).min(MAX_CONCURRENT)
            ),
        );
    }
    errors.extend(inner.finish(&["initial", "min", "max"]));
    Some(ConcurrencyArg::Adaptive {
        initial: initial.and_then(|(t, _)| t),
        min: min.and_then(|(t, _)| t),
        max: max.and_then(|(t, _)| t),
    })
}

fn rate_limit(args: &mut Args, errors: &mut Errors) -> RateLimitArgs {
    let rate = match args.take("rate") {
        Some((_, v)) => lit::rate(&v, errors),
        None => match args.take_positional() {
            Some(v) => lit::rate(&v, errors),
            None => {
                errors.at(
                    args.span(),
                    "`#[rate_limit]` needs `rate = \"N/unit\"`, e.g. `rate = \"100/s\"`: it has no default",
                );
                None
            }
        },
    };
    let mut burst_value = None;
    let burst = args.take("burst").and_then(|(_, v)| {
        burst_value = lit::int_value(&v);
        let tokens = lit::integer(&v, "burst", 1, errors)?;
        check_burst(&v, rate.as_ref(), errors);
        Some(tokens)
    });
    let cost = args.take("cost").and_then(|(_, v)| {
        let tokens = lit::integer(&v, "cost", 1, errors)?;
        check_cost(&v, burst_value, rate.as_ref(), errors);
        Some(tokens)
    });
    let (key, max_keys) = key_and_max_keys(args, errors);
    let (cluster_scope, cluster) = crate::cluster::rate_limit(args, errors);
    RateLimitArgs {
        cluster,
        cluster_scope,
        name: take_name(args, errors),
        rate,
        burst,
        cost,
        max_wait: take_duration(args, "max_wait", errors),
        key,
        max_keys,
    }
}

/// A literal cost above a literal burst (given, or the rate's count by default) could
/// never be admitted.
fn check_cost(cost: &Expr, burst: Option<u128>, rate: Option<&RateArg>, errors: &mut Errors) {
    let Some(value) = lit::int_value(cost) else {
        return;
    };
    let (burst, which) = match (burst, rate) {
        (Some(burst), _) => (burst, String::new()),
        (None, Some(RateArg::Literal { count, .. })) => (
            u128::from(*count),
            ", the rate's count, as `burst` is not given".to_owned(),
        ),
        _ => return,
    };
    if value > burst {
        errors.spanned(
            cost,
            format_args!(
                "this call costs {value} but the burst is {burst}{which}: it could never be admitted; raise `burst` to at least {value}, or lower `cost`"
            ),
        );
    }
}

/// A literal burst the limiter can hold at a literal rate: it keeps a full burst as
/// `burst × interval` of time in 64-bit nanoseconds, which a larger one would overflow
/// (the runtime saturates it, and the burst after it comes early).
fn check_burst(burst: &Expr, rate: Option<&RateArg>, errors: &mut Errors) {
    let (Some(value), Some((text, interval))) = (
        lit::int_value(burst),
        rate.and_then(RateArg::literal_interval),
    ) else {
        return;
    };
    let max = (crate::limits::MAX_DURATION_NANOS / interval.max(1)).min(u128::from(MAX_COUNT));
    if value > max {
        errors.spanned(
            burst,
            format_args!(
                "`burst` must be at most {max} at `rate = \"{text}\"`, not {value}: the limiter keeps a full burst as burst × {interval}ns in 64-bit nanoseconds, at most {}",
                crate::limits::max_duration_text()
            ),
        );
    }
}

fn cache(args: &mut Args, errors: &mut Errors) -> CacheArgs {
    let (key, max_keys) = key_and_max_keys(args, errors);
    CacheArgs {
        name: take_name(args, errors),
        key,
        max_keys,
        ttl: take_duration(args, "ttl", errors),
        stale_if_error: take_duration(args, "stale_if_error", errors),
    }
}

fn hedge(args: &mut Args, errors: &mut Errors) -> HedgeArgs {
    const HELP: &str = "`delay` is a duration (`delay = \"50ms\"`; `\"0s\"` starts every copy at once) or `percentile(P)` with P from 1 to 99 (`delay = percentile(95)`)";
    let delay = match args.take("delay") {
        Some((_, Expr::Call(call)))
            if expr_ident(&call.func).is_some_and(|i| i == "percentile") =>
        {
            let mut inner = Args::from_call("`percentile(...)`".to_owned(), &call);
            let p = match inner.take_positional() {
                Some(p) => lit::integer_in(&p, "percentile", (1, 99), "", errors),
                None => {
                    errors.at(call.span(), HELP);
                    None
                }
            };
            errors.extend(inner.finish(&[]));
            p.map(HedgeDelayArg::Percentile)
        }
        Some((_, v @ Expr::Call(_))) => {
            errors.spanned(&v, HELP);
            None
        }
        Some((_, v)) => lit::duration(&v, errors).map(HedgeDelayArg::Fixed),
        None => {
            errors.at(
                args.span(),
                "`#[hedge]` needs `delay = \"50ms\"` (when the next copy starts) or `delay = percentile(95)`: it has no default",
            );
            None
        }
    };
    let max_hedges = args.take("max_hedges").and_then(|(_, v)| {
        lit::integer_in(
            &v,
            "max_hedges",
            (1, crate::limits::MAX_HEDGES),
            " (`hedge::MAX_HEDGES`: the copies started after the first)",
            errors,
        )
    });
    HedgeArgs {
        name: take_name(args, errors),
        delay,
        max_hedges,
    }
}
