//! The machinery behind [`crate::config`] (feature `config`): checking settings,
//! the store of settings in force, applying them to live policies, watching a file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::Deserialize;

use crate::backoff::{Backoff, Exponential, Fixed, Jitter, Linear};
use crate::bulkhead::Adaptive;
use crate::circuit_breaker::Window;
use crate::config::ConfigError;
use crate::events::PolicyKind;
use crate::rate_limit::Rate;

// ---------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------

/// Policy settings by kind and name, from any serde format (TOML, JSON, YAML, ...):
/// a map of tables (`circuit_breaker`, `retry`, ...) of maps of names of maps of
/// settings. Checked by [`apply`], not when deserialized, so errors say what is valid.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Any serde format; here TOML through `toml`'s own deserializer.
/// let settings: resilience_runtime::config::Settings =
///     toml::from_str("[rate_limit.api]\nrate = \"200/s\"")?;
/// resilience_runtime::config::apply(settings)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Settings {
    tables: BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>,
}

/// One setting's value as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// A table or a list: never a valid setting.
    Other(serde::de::IgnoredAny),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(s) => write!(f, "{s:?}"),
            Value::Other(_) => f.write_str("a table or list"),
        }
    }
}

// ---------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------

/// What an [`apply`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigReport {
    /// Policies in use that took the settings at once.
    pub applied: Vec<ConfiguredPolicy>,
    /// Names that match no policy yet: the settings apply when such a policy is
    /// first used.
    pub pending: Vec<ConfiguredPolicy>,
}

/// A policy named by a configuration.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct ConfiguredPolicy {
    /// The kind (the table).
    pub policy: PolicyKind,
    /// The name (the key).
    pub name: String,
}

impl ConfigReport {
    /// Whether `name` of kind `policy` is pending (matched no policy yet).
    pub fn is_pending(&self, policy: PolicyKind, name: &str) -> bool {
        self.pending
            .iter()
            .any(|p| p.policy == policy && p.name == name)
    }
}

// ---------------------------------------------------------------------------------
// Checked settings
// ---------------------------------------------------------------------------------

/// A circuit breaker's configured settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct BreakerSettings {
    failure_rate: Option<f64>,
    window: Option<Window>,
    min_calls: Option<u32>,
    consecutive_failures: Option<u32>,
    slow_call: Option<Duration>,
    slow_call_rate: Option<f64>,
    open_for: Option<Duration>,
    open_for_max: Option<Duration>,
    open_for_factor: Option<f64>,
    half_open_calls: Option<u32>,
    max_wait_in_half_open: Option<Duration>,
}

/// A retry's configured settings, read after a failed attempt.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RetrySettings {
    pub(crate) max_attempts: Option<u32>,
    pub(crate) backoff: Option<AnyBackoff>,
    pub(crate) jitter: Option<Jitter>,
    pub(crate) max_elapsed: Option<Duration>,
}

/// A timeout's configured settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TimeoutSettings {
    after: Option<Duration>,
}

/// A bulkhead's limit as configured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BulkheadLimit {
    Fixed(usize),
    Adaptive(Adaptive),
}

/// A bulkhead's configured settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct BulkheadSettings {
    max_concurrent: Option<BulkheadLimit>,
    max_wait: Option<Duration>,
    max_waiting: Option<usize>,
}

/// A rate limiter's configured settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RateLimitSettings {
    rate: Option<Rate>,
    burst: Option<u32>,
    max_wait: Option<Duration>,
}

/// The backoffs an attribute can write, as one type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum AnyBackoff {
    None,
    Fixed(Fixed),
    Linear(Linear),
    Exponential(Exponential),
}

impl Backoff for AnyBackoff {
    fn delay(&self, attempt: u32) -> Duration {
        match self {
            AnyBackoff::None => Duration::ZERO,
            AnyBackoff::Fixed(b) => b.delay(attempt),
            AnyBackoff::Linear(b) => b.delay(attempt),
            AnyBackoff::Exponential(b) => b.delay(attempt),
        }
    }
    fn max_delay(&self) -> Option<Duration> {
        match self {
            AnyBackoff::None => Some(Duration::ZERO),
            AnyBackoff::Fixed(b) => b.max_delay(),
            AnyBackoff::Linear(b) => b.max_delay(),
            AnyBackoff::Exponential(b) => b.max_delay(),
        }
    }
}

/// Every configured setting in force, by kind and name.
#[derive(Debug, Default)]
struct Store {
    breakers: BTreeMap<String, BreakerSettings>,
    retries: BTreeMap<String, RetrySettings>,
    timeouts: BTreeMap<String, TimeoutSettings>,
    bulkheads: BTreeMap<String, BulkheadSettings>,
    rate_limits: BTreeMap<String, RateLimitSettings>,
}

static STORE: RwLock<Option<Store>> = RwLock::new(None);
/// One apply at a time (registrations never take it).
static APPLYING: Mutex<()> = Mutex::new(());

fn read_store<R>(f: impl FnOnce(&Store) -> Option<R>) -> Option<R> {
    let guard = STORE.read().unwrap_or_else(|e| e.into_inner());
    guard.as_ref().and_then(f)
}

// ---------------------------------------------------------------------------------
// Parsing and checking
// ---------------------------------------------------------------------------------

const TABLES: &[&str] = &[
    "circuit_breaker",
    "retry",
    "timeout",
    "bulkhead",
    "rate_limit",
];
const BREAKER_KEYS: &[&str] = &[
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
];
const RETRY_KEYS: &[&str] = &["max_attempts", "backoff", "jitter", "max_elapsed"];
const TIMEOUT_KEYS: &[&str] = &["after"];
const BULKHEAD_KEYS: &[&str] = &["max_concurrent", "max_wait", "max_waiting"];
const RATE_LIMIT_KEYS: &[&str] = &["rate", "burst", "max_wait"];
/// Arguments that are code, or identities: never configurable.
const CODE: &[&str] = &[
    "retry_if",
    "on_retry",
    "retry_after",
    "record_if",
    "fallback_if",
    "key",
    "cost",
    "probe",
    "name",
    "crate",
    "budget",
    "max_keys",
    "scope",
];

/// What is being checked, for errors.
#[derive(Clone, Copy)]
struct At<'a> {
    table: &'static str,
    name: &'a str,
}

impl At<'_> {
    fn err(&self, field: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::at(self.table, self.name, static_key(field), reason.into())
    }
}

/// `key` as one of the known argument names (every checked key is one).
fn static_key(key: &str) -> &'static str {
    [
        BREAKER_KEYS,
        RETRY_KEYS,
        TIMEOUT_KEYS,
        BULKHEAD_KEYS,
        RATE_LIMIT_KEYS,
        CODE,
    ]
    .iter()
    .flat_map(|keys| keys.iter())
    .find(|k| **k == key)
    .copied()
    .unwrap_or("")
}

const DURATION_HELP: &str =
    "write a duration like \"250ms\", \"1.5s\", \"2m\" or \"1h\" (units: ns, us, ms, s, m, h)";
const RATE_HELP: &str = "write a rate like \"100/s\", \"5/min\" or \"1000/h\"";

/// The largest duration the policies keep (`u64::MAX` nanoseconds).
const MAX_DURATION_NANOS: u128 = u64::MAX as u128;

/// Nanoseconds in `"1.5s"`, as the attributes read durations.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let too_long = || {
        format!(
            "`{text}` is too long: a duration is at most {}ns, as the policies count time in 64-bit nanoseconds",
            u64::MAX
        )
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = (&text[..split], text[split..].trim());
    if number.is_empty() {
        return Err(format!("`{text}` has no number"));
    }
    let unit_nanos: u128 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => return Err(format!("`{text}` has no unit")),
        other => {
            let near = match other {
                "sec" | "secs" | "second" | "seconds" => Some("s"),
                "msec" | "msecs" | "millis" | "milliseconds" => Some("ms"),
                "mins" | "minute" | "minutes" => Some("m"),
                "hr" | "hrs" | "hour" | "hours" => Some("h"),
                "micros" | "microseconds" => Some("us"),
                "nanos" | "nanoseconds" => Some("ns"),
                _ => None,
            };
            return Err(match near {
                Some(unit) => {
                    format!("unknown unit `{other}` in `{text}` (did you mean `{number}{unit}`?)")
                }
                None => format!("unknown unit `{other}` in `{text}`"),
            });
        }
    };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if frac.contains('.') || (whole.is_empty() && frac.is_empty()) {
        return Err(format!("`{number}` is not a number"));
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_long())?
    };
    let mut nanos = whole.checked_mul(unit_nanos).ok_or_else(too_long)?;
    if nanos > MAX_DURATION_NANOS {
        return Err(too_long());
    }
    let mut scale = unit_nanos;
    for digit in frac.chars() {
        scale /= 10;
        nanos += u128::from(digit.to_digit(10).unwrap_or(0)) * scale;
        if scale == 0 {
            return Err(format!("`{text}` is more precise than a nanosecond"));
        }
    }
    if nanos > MAX_DURATION_NANOS {
        return Err(too_long());
    }
    Ok(Duration::from_nanos(nanos as u64))
}

fn duration(at: At<'_>, key: &str, v: &Value) -> Result<Duration, ConfigError> {
    match v {
        Value::Text(t) => {
            parse_duration(t).map_err(|why| at.err(key, format!("{why}; {DURATION_HELP}")))
        }
        other => Err(at.err(
            key,
            format!("expected a duration, got {other}; {DURATION_HELP}"),
        )),
    }
}

fn whole(at: At<'_>, key: &str, v: &Value, min: u64, max: u64) -> Result<u64, ConfigError> {
    let n = match v {
        Value::Int(n) => *n,
        Value::Float(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => *x as i64,
        other => {
            return Err(at.err(key, format!("expected a whole number, got {other}")));
        }
    };
    match u64::try_from(n) {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(at.err(key, format!("must be in {min}..={max}, got {n}"))),
    }
}

fn number(at: At<'_>, key: &str, v: &Value) -> Result<f64, ConfigError> {
    match v {
        Value::Int(n) => Ok(*n as f64),
        Value::Float(x) => Ok(*x),
        other => Err(at.err(key, format!("expected a number, got {other}"))),
    }
}

fn rate01(at: At<'_>, key: &str, v: &Value) -> Result<f64, ConfigError> {
    let x = number(at, key, v)?;
    if x > 0.0 && x <= 1.0 {
        Ok(x)
    } else {
        Err(at.err(key, format!("must be in (0, 1], got {x}")))
    }
}

fn text<'v>(at: At<'_>, key: &str, v: &'v Value, what: &str) -> Result<&'v str, ConfigError> {
    match v {
        Value::Text(t) => Ok(t.trim()),
        other => Err(at.err(key, format!("expected {what}, got {other}"))),
    }
}

/// `name(args)` into `name` and `args`; `name` alone into `name` and `None`.
fn call_form(text: &str) -> Option<(&str, Option<&str>)> {
    match text.split_once('(') {
        None => Some((text.trim(), None)),
        Some((head, rest)) => {
            let inner = rest.trim_end().strip_suffix(')')?;
            Some((head.trim(), Some(inner.trim())))
        }
    }
}

/// `a = 1, b = "2s"` into pairs (quotes around values dropped).
fn named_args<'t>(
    at: At<'_>,
    key: &str,
    args: &'t str,
    valid: &[&str],
) -> Result<BTreeMap<&'t str, &'t str>, ConfigError> {
    let mut out = BTreeMap::new();
    for part in args.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            at.err(
                key,
                format!(
                    "`{part}` is not `name = value`; arguments: {}",
                    valid.join(", ")
                ),
            )
        })?;
        let k = k.trim();
        if !valid.contains(&k) {
            let hint =
                nearest(k, valid).map_or(String::new(), |n| format!("; did you mean `{n}`?"));
            return Err(at.err(
                key,
                format!(
                    "unknown argument `{k}`{hint} valid arguments: {}",
                    valid.join(", ")
                ),
            ));
        }
        out.insert(k, v.trim().trim_matches('"').trim_matches('\''));
    }
    Ok(out)
}

fn arg_duration(
    at: At<'_>,
    key: &str,
    args: &BTreeMap<&str, &str>,
    name: &str,
) -> Result<Option<Duration>, ConfigError> {
    args.get(name)
        .map(|t| {
            parse_duration(t)
                .map_err(|why| at.err(key, format!("`{name}`: {why}; {DURATION_HELP}")))
        })
        .transpose()
}

fn window(at: At<'_>, v: &Value) -> Result<Window, ConfigError> {
    const HELP: &str = "write \"count(N)\" or \"time(60s)\"";
    let t = text(at, "window", v, "a window")?;
    match call_form(t) {
        Some(("count", Some(n))) => match n.parse::<u32>() {
            Ok(n) if (1..=crate::circuit_breaker::MAX_WINDOW_CALLS).contains(&n) => {
                Ok(Window::Count(n))
            }
            _ => Err(at.err(
                "window",
                format!(
                    "count(N) needs 1 <= N <= {}, got {n}",
                    crate::circuit_breaker::MAX_WINDOW_CALLS
                ),
            )),
        },
        Some(("time", Some(d))) => {
            let d = parse_duration(d.trim_matches('"'))
                .map_err(|why| at.err("window", format!("{why}; {DURATION_HELP}")))?;
            if d.is_zero() {
                return Err(at.err("window", "time(period) needs a period above zero"));
            }
            Ok(Window::Time(d))
        }
        _ => Err(at.err("window", format!("`{t}` is not a window; {HELP}"))),
    }
}

fn backoff(at: At<'_>, v: &Value) -> Result<AnyBackoff, ConfigError> {
    const HELP: &str = "write \"none\", \"fixed(1s)\", \"linear(initial = 100ms, step = 100ms, max = 5s)\" or \"exponential(initial = 100ms, factor = 2.0, max = 10s)\"";
    let t = text(at, "backoff", v, "a backoff")?;
    let bad = || at.err("backoff", format!("`{t}` is not a backoff; {HELP}"));
    let (kind, args) = call_form(t).ok_or_else(bad)?;
    match (kind, args) {
        ("none", None) => Ok(AnyBackoff::None),
        ("fixed", Some(d)) => {
            let d = parse_duration(d.trim_matches('"'))
                .map_err(|why| at.err("backoff", format!("{why}; {DURATION_HELP}")))?;
            Ok(AnyBackoff::Fixed(Fixed::new(d)))
        }
        ("linear", Some(args)) => {
            let args = named_args(at, "backoff", args, &["initial", "step", "max"])?;
            let initial = arg_duration(at, "backoff", &args, "initial")?
                .unwrap_or(Duration::from_millis(100));
            let step = arg_duration(at, "backoff", &args, "step")?.unwrap_or(initial);
            let max = arg_duration(at, "backoff", &args, "max")?.unwrap_or(Duration::from_secs(5));
            Ok(AnyBackoff::Linear(Linear::new(initial, step, max)))
        }
        ("exponential", Some(args)) => {
            let args = named_args(at, "backoff", args, &["initial", "factor", "max"])?;
            let initial = arg_duration(at, "backoff", &args, "initial")?
                .unwrap_or(Duration::from_millis(100));
            let max = arg_duration(at, "backoff", &args, "max")?.unwrap_or(Duration::from_secs(10));
            let factor = match args.get("factor") {
                None => 2.0,
                Some(f) => match f.parse::<f64>() {
                    Ok(f) if f >= 1.0 && f.is_finite() => f,
                    _ => {
                        return Err(at.err(
                            "backoff",
                            format!("`factor` must be a finite number >= 1, got `{f}`"),
                        ));
                    }
                },
            };
            if max < initial {
                return Err(at.err(
                    "backoff",
                    format!("`max` ({max:?}) must be at least `initial` ({initial:?})"),
                ));
            }
            Ok(AnyBackoff::Exponential(Exponential::new(
                initial, factor, max,
            )))
        }
        _ => Err(bad()),
    }
}

fn jitter(at: At<'_>, v: &Value) -> Result<Jitter, ConfigError> {
    match text(at, "jitter", v, "a jitter")? {
        "none" => Ok(Jitter::None),
        "full" => Ok(Jitter::Full),
        "equal" => Ok(Jitter::Equal),
        "decorrelated" => Ok(Jitter::Decorrelated),
        other => Err(at.err(
            "jitter",
            format!(
                "`{other}` is not a jitter; write \"none\", \"full\", \"equal\" or \"decorrelated\""
            ),
        )),
    }
}

fn bulkhead_limit(at: At<'_>, v: &Value) -> Result<BulkheadLimit, ConfigError> {
    let max = crate::bulkhead::MAX_CONCURRENT as u64;
    if let Value::Text(t) = v {
        if let Some(("adaptive", Some(args))) = call_form(t.trim()) {
            let args = named_args(at, "max_concurrent", args, &["initial", "min", "max"])?;
            let get = |k: &str| -> Result<usize, ConfigError> {
                let t = args.get(k).ok_or_else(|| {
                    at.err(
                        "max_concurrent",
                        format!(
                            "adaptive(..) needs `{k}`: adaptive(initial = 20, min = 1, max = 200)"
                        ),
                    )
                })?;
                match t.parse::<u64>() {
                    Ok(n) if n >= 1 && n <= max => Ok(n as usize),
                    _ => Err(at.err(
                        "max_concurrent",
                        format!("`{k}` must be in 1..={max}, got `{t}`"),
                    )),
                }
            };
            let (initial, min, max) = (get("initial")?, get("min")?, get("max")?);
            if !(min <= initial && initial <= max) {
                return Err(at.err(
                    "max_concurrent",
                    format!("adaptive(..) needs min <= initial <= max, not initial = {initial}, min = {min}, max = {max}"),
                ));
            }
            return Ok(BulkheadLimit::Adaptive(Adaptive::new(initial, min, max)));
        }
        return Err(at.err(
            "max_concurrent",
            format!("`{t}` is not a limit; write a whole number or \"adaptive(initial = 20, min = 1, max = 200)\""),
        ));
    }
    Ok(BulkheadLimit::Fixed(
        whole(at, "max_concurrent", v, 1, max)? as usize,
    ))
}

fn rate(at: At<'_>, v: &Value) -> Result<Rate, ConfigError> {
    let t = text(at, "rate", v, "a rate")?;
    t.parse::<Rate>()
        .map_err(|e| at.err("rate", format!("{}; {RATE_HELP}", e.reason)))
}

/// Refuses a setting that is not in `valid`: code arguments as such, others with the
/// nearest valid one.
fn unknown(at: At<'_>, key: &str, valid: &[&str]) -> ConfigError {
    if CODE.contains(&key) {
        return at.err(
            key,
            format!(
                "is code (or the policy's identity), not a setting: it is not configurable; configurable settings: {}",
                valid.join(", ")
            ),
        );
    }
    let hint = nearest(key, valid).map_or(String::new(), |n| format!("; did you mean `{n}`?"));
    ConfigError::at(
        at.table,
        at.name,
        "",
        format!(
            "unknown setting `{key}`{hint} valid settings: {}",
            valid.join(", ")
        ),
    )
}

fn check_breaker(at: At<'_>, t: &BTreeMap<String, Value>) -> Result<BreakerSettings, ConfigError> {
    let mut s = BreakerSettings::default();
    let max_u32 = u64::from(u32::MAX);
    for (k, v) in t {
        match k.as_str() {
            "failure_rate" => s.failure_rate = Some(rate01(at, k, v)?),
            "window" => s.window = Some(window(at, v)?),
            "min_calls" => s.min_calls = Some(whole(at, k, v, 1, max_u32)? as u32),
            "consecutive_failures" => {
                s.consecutive_failures = Some(whole(at, k, v, 1, max_u32)? as u32)
            }
            "slow_call" => s.slow_call = Some(duration(at, k, v)?),
            "slow_call_rate" => s.slow_call_rate = Some(rate01(at, k, v)?),
            "open_for" => s.open_for = Some(duration(at, k, v)?),
            "open_for_max" => s.open_for_max = Some(duration(at, k, v)?),
            "open_for_factor" => {
                let f = number(at, k, v)?;
                if !(f > 1.0 && f.is_finite()) {
                    return Err(at.err(k, format!("must be finite and above 1, got {f}")));
                }
                s.open_for_factor = Some(f);
            }
            "half_open_calls" => {
                s.half_open_calls = Some(whole(
                    at,
                    k,
                    v,
                    1,
                    u64::from(crate::circuit_breaker::MAX_HALF_OPEN_CALLS),
                )? as u32)
            }
            "max_wait_in_half_open" => {
                let d = duration(at, k, v)?;
                if d.is_zero() {
                    return Err(at.err(
                        k,
                        "must be above zero (zero would re-open before any trial could finish)",
                    ));
                }
                s.max_wait_in_half_open = Some(d);
            }
            _ => return Err(unknown(at, k, BREAKER_KEYS)),
        }
    }
    if let (Some(Window::Count(n)), Some(min)) = (s.window, s.min_calls) {
        if min > n {
            return Err(at.err(
                "min_calls",
                format!("must be at most the window's size ({n}), got {min}"),
            ));
        }
    }
    Ok(s)
}

fn check_retry(at: At<'_>, t: &BTreeMap<String, Value>) -> Result<RetrySettings, ConfigError> {
    let mut s = RetrySettings::default();
    for (k, v) in t {
        match k.as_str() {
            "max_attempts" => {
                s.max_attempts = Some(whole(at, k, v, 1, u64::from(u32::MAX))? as u32)
            }
            "backoff" => s.backoff = Some(backoff(at, v)?),
            "jitter" => s.jitter = Some(jitter(at, v)?),
            "max_elapsed" => s.max_elapsed = Some(duration(at, k, v)?),
            _ => return Err(unknown(at, k, RETRY_KEYS)),
        }
    }
    Ok(s)
}

fn check_timeout(at: At<'_>, t: &BTreeMap<String, Value>) -> Result<TimeoutSettings, ConfigError> {
    let mut s = TimeoutSettings::default();
    for (k, v) in t {
        match k.as_str() {
            "after" => s.after = Some(duration(at, k, v)?),
            _ => return Err(unknown(at, k, TIMEOUT_KEYS)),
        }
    }
    Ok(s)
}

fn check_bulkhead(
    at: At<'_>,
    t: &BTreeMap<String, Value>,
) -> Result<BulkheadSettings, ConfigError> {
    let mut s = BulkheadSettings::default();
    for (k, v) in t {
        match k.as_str() {
            "max_concurrent" => s.max_concurrent = Some(bulkhead_limit(at, v)?),
            "max_wait" => s.max_wait = Some(duration(at, k, v)?),
            "max_waiting" => {
                s.max_waiting =
                    Some(whole(at, k, v, 0, crate::bulkhead::MAX_WAITING as u64)? as usize)
            }
            _ => return Err(unknown(at, k, BULKHEAD_KEYS)),
        }
    }
    Ok(s)
}

fn check_rate_limit(
    at: At<'_>,
    t: &BTreeMap<String, Value>,
) -> Result<RateLimitSettings, ConfigError> {
    let mut s = RateLimitSettings::default();
    for (k, v) in t {
        match k.as_str() {
            "rate" => s.rate = Some(rate(at, v)?),
            "burst" => s.burst = Some(whole(at, k, v, 1, u64::from(u32::MAX))? as u32),
            "max_wait" => s.max_wait = Some(duration(at, k, v)?),
            _ => return Err(unknown(at, k, RATE_LIMIT_KEYS)),
        }
    }
    Ok(s)
}

/// The valid name closest to `name`, if it is close enough to be a typo.
fn nearest<'a>(name: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|v| (edit_distance(name, v), *v))
        .filter(|(d, v)| *d <= 2.max(v.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diag + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diag = above;
        }
    }
    row[b.len()]
}

/// Every table checked, not yet applied.
#[derive(Default)]
struct Checked {
    breakers: Vec<(String, BreakerSettings)>,
    retries: Vec<(String, RetrySettings)>,
    timeouts: Vec<(String, TimeoutSettings)>,
    bulkheads: Vec<(String, BulkheadSettings)>,
    rate_limits: Vec<(String, RateLimitSettings)>,
}

fn check(settings: &Settings) -> Result<Checked, ConfigError> {
    let mut out = Checked::default();
    for (table, names) in &settings.tables {
        let Some(&table) = TABLES.iter().find(|t| **t == table.as_str()) else {
            let hint =
                nearest(table, TABLES).map_or(String::new(), |n| format!("; did you mean `{n}`?"));
            return Err(ConfigError::at(
                "configuration",
                "",
                "",
                format!(
                    "unknown table `[{table}]`{hint} valid tables: {}",
                    TABLES.join(", ")
                ),
            ));
        };
        for (name, values) in names {
            let at = At { table, name };
            match table {
                "circuit_breaker" => out
                    .breakers
                    .push((name.clone(), check_breaker(at, values)?)),
                "retry" => out.retries.push((name.clone(), check_retry(at, values)?)),
                "timeout" => out
                    .timeouts
                    .push((name.clone(), check_timeout(at, values)?)),
                "bulkhead" => out
                    .bulkheads
                    .push((name.clone(), check_bulkhead(at, values)?)),
                _ => out
                    .rate_limits
                    .push((name.clone(), check_rate_limit(at, values)?)),
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------
// Merging into policies
// ---------------------------------------------------------------------------------

macro_rules! merge {
    ($into:expr, $from:expr, $($field:ident),*) => {
        $( if $from.$field.is_some() { $into.$field = $from.$field.clone(); } )*
    };
}

impl BreakerSettings {
    fn merge(&mut self, o: &BreakerSettings) {
        merge!(
            self,
            o,
            failure_rate,
            window,
            min_calls,
            consecutive_failures,
            slow_call,
            slow_call_rate,
            open_for,
            open_for_max,
            open_for_factor,
            half_open_calls,
            max_wait_in_half_open
        );
    }

    /// `builder` with these settings over its own.
    pub(crate) fn over(
        &self,
        mut b: crate::circuit_breaker::CircuitBreakerBuilder,
    ) -> crate::circuit_breaker::CircuitBreakerBuilder {
        if let Some(x) = self.failure_rate {
            b = b.failure_rate(x);
        }
        if let Some(w) = self.window {
            b = b.window(w);
        }
        if let Some(x) = self.min_calls {
            b = b.min_calls(x);
        }
        if let Some(x) = self.consecutive_failures {
            b = b.consecutive_failures(x);
        }
        if let Some(x) = self.slow_call {
            b = b.slow_call(x);
        }
        if let Some(x) = self.slow_call_rate {
            b = b.slow_call_rate(x);
        }
        if let Some(x) = self.open_for {
            b = b.open_for(x);
        }
        if let Some(x) = self.open_for_max {
            b = b.open_for_max(x);
        }
        if let Some(x) = self.open_for_factor {
            b = b.open_for_factor(x);
        }
        if let Some(x) = self.half_open_calls {
            b = b.half_open_calls(x);
        }
        if let Some(x) = self.max_wait_in_half_open {
            b = b.max_wait_in_half_open(x);
        }
        b
    }
}

impl RetrySettings {
    fn merge(&mut self, o: &RetrySettings) {
        merge!(self, o, max_attempts, backoff, jitter, max_elapsed);
    }
}

impl TimeoutSettings {
    fn merge(&mut self, o: &TimeoutSettings) {
        merge!(self, o, after);
    }
}

impl BulkheadSettings {
    fn merge(&mut self, o: &BulkheadSettings) {
        merge!(self, o, max_concurrent, max_wait, max_waiting);
    }

    /// `builder` with these settings over its own.
    pub(crate) fn over(
        &self,
        mut b: crate::bulkhead::BulkheadBuilder,
    ) -> crate::bulkhead::BulkheadBuilder {
        match self.max_concurrent {
            Some(BulkheadLimit::Fixed(n)) => b = b.max_concurrent(n),
            Some(BulkheadLimit::Adaptive(a)) => b = b.adaptive_bounds(a),
            None => {}
        }
        if let Some(x) = self.max_wait {
            b = b.max_wait(x);
        }
        if let Some(x) = self.max_waiting {
            b = b.max_waiting(x);
        }
        b
    }
}

impl RateLimitSettings {
    fn merge(&mut self, o: &RateLimitSettings) {
        merge!(self, o, rate, burst, max_wait);
    }

    /// `builder` with these settings over its own.
    pub(crate) fn over(
        &self,
        mut b: crate::rate_limit::RateLimiterBuilder,
    ) -> crate::rate_limit::RateLimiterBuilder {
        if let Some(x) = self.rate {
            b = b.rate(x);
        }
        if let Some(x) = self.burst {
            b = b.burst(x);
        }
        if let Some(x) = self.max_wait {
            b = b.max_wait(x);
        }
        b
    }
}

// ---------------------------------------------------------------------------------
// Creation: what the registries ask
// ---------------------------------------------------------------------------------

/// The configured settings of the breaker `name`, if any.
pub(crate) fn breaker(name: &str) -> Option<BreakerSettings> {
    read_store(|s| s.breakers.get(name).cloned())
}

/// The configured settings of the bulkhead `name`, if any.
pub(crate) fn bulkhead(name: &str) -> Option<BulkheadSettings> {
    read_store(|s| s.bulkheads.get(name).cloned())
}

/// The configured settings of the rate limiter `name`, if any.
pub(crate) fn rate_limit(name: &str) -> Option<RateLimitSettings> {
    read_store(|s| s.rate_limits.get(name).cloned())
}

/// The settings a stateless policy (retry, timeout) reads beside its counters.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    /// A timeout's configured limit in nanoseconds; `u64::MAX` when none.
    after: AtomicU64,
    /// Whether `retry` holds settings (read before the snapshot).
    has_retry: AtomicBool,
    /// A retry's configured settings, read after a failed attempt only.
    retry: arc_swap::ArcSwapOption<RetrySettings>,
}

impl Slot {
    pub(crate) fn new() -> Self {
        Slot {
            after: AtomicU64::new(u64::MAX),
            has_retry: AtomicBool::new(false),
            retry: arc_swap::ArcSwapOption::const_empty(),
        }
    }

    /// A timeout's limit: the configured one, else `after`.
    #[inline(always)]
    pub(crate) fn after(&self, after: Duration) -> Duration {
        match self.after.load(Ordering::Relaxed) {
            u64::MAX => after,
            nanos => Duration::from_nanos(nanos),
        }
    }

    /// A retry's configured settings, if any.
    #[inline]
    pub(crate) fn retry(&self) -> Option<Arc<RetrySettings>> {
        if !self.has_retry.load(Ordering::Acquire) {
            return None;
        }
        self.retry.load_full()
    }

    fn set_after(&self, after: Duration) {
        let nanos = u64::try_from(after.as_nanos())
            .unwrap_or(u64::MAX - 1)
            .min(u64::MAX - 1);
        self.after.store(nanos, Ordering::Relaxed);
    }

    fn set_retry(&self, s: RetrySettings) {
        self.retry.store(Some(Arc::new(s)));
        self.has_retry.store(true, Ordering::Release);
    }
}

/// Fills a stateless policy's slot from the settings in force, when it is registered.
pub(crate) fn seed(kind: PolicyKind, name: &str, slot: &Slot) {
    let guard = STORE.read().unwrap_or_else(|e| e.into_inner());
    let Some(store) = guard.as_ref() else { return };
    match kind {
        PolicyKind::Timeout => {
            if let Some(after) = store.timeouts.get(name).and_then(|t| t.after) {
                slot.set_after(after);
            }
        }
        PolicyKind::Retry => {
            if let Some(r) = store.retries.get(name) {
                slot.set_retry(r.clone());
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------
// Applying
// ---------------------------------------------------------------------------------

/// Checks `text` (TOML) and applies it: see [`apply`].
pub fn apply_toml(text: &str) -> Result<ConfigReport, ConfigError> {
    let settings: Settings = toml::from_str(text).map_err(|e| {
        ConfigError::at(
            "configuration",
            "",
            "",
            format!("is not valid TOML: {}", e.message()),
        )
    })?;
    apply(settings)
}

/// A live bulkhead keeps the kind of limit it was created with: its running calls
/// hold slots of that limit, and an adaptive one's estimate has no fixed counterpart.
fn check_limit_kind(
    at: At<'_>,
    limit: Option<BulkheadLimit>,
    live: &crate::Bulkhead,
) -> Result<(), ConfigError> {
    match (limit, live.adaptive()) {
        (Some(BulkheadLimit::Fixed(_)), Some(a)) => Err(at.err(
            "max_concurrent",
            format!(
                "cannot turn a bulkhead in use with an adaptive limit (now {}, within {}..={}) into a fixed one; write \"adaptive(initial = {}, min = .., max = ..)\" to move its bounds (the kind of limit is chosen when the bulkhead is created)",
                live.limit(),
                a.min(),
                a.max(),
                a.initial()
            ),
        )),
        (Some(BulkheadLimit::Adaptive(_)), None) => Err(at.err(
            "max_concurrent",
            format!(
                "cannot turn a bulkhead in use with a fixed limit ({}) into an adaptive one; write a whole number (the kind of limit is chosen when the bulkhead is created)",
                live.limit()
            ),
        )),
        _ => Ok(()),
    }
}

/// Checks every setting, then applies them all (or none, with the first error): see
/// the [module docs](crate::config).
pub fn apply(settings: Settings) -> Result<ConfigReport, ConfigError> {
    let _one = APPLYING.lock().unwrap_or_else(|e| e.into_inner());
    let checked = check(&settings)?;
    let mut merged = Checked::default();
    // What each named policy will have: the settings in force plus these.
    {
        let guard = STORE.read().unwrap_or_else(|e| e.into_inner());
        let empty = Store::default();
        let store = guard.as_ref().unwrap_or(&empty);
        for (name, s) in &checked.breakers {
            let mut m = store.breakers.get(name).cloned().unwrap_or_default();
            m.merge(s);
            merged.breakers.push((name.clone(), m));
        }
        for (name, s) in &checked.retries {
            let mut m = store.retries.get(name).cloned().unwrap_or_default();
            m.merge(s);
            merged.retries.push((name.clone(), m));
        }
        for (name, s) in &checked.timeouts {
            let mut m = store.timeouts.get(name).cloned().unwrap_or_default();
            m.merge(s);
            merged.timeouts.push((name.clone(), m));
        }
        for (name, s) in &checked.bulkheads {
            let mut m = store.bulkheads.get(name).cloned().unwrap_or_default();
            m.merge(s);
            merged.bulkheads.push((name.clone(), m));
        }
        for (name, s) in &checked.rate_limits {
            let mut m = store.rate_limits.get(name).cloned().unwrap_or_default();
            m.merge(s);
            merged.rate_limits.push((name.clone(), m));
        }
    }
    // Live policies: their new settings, checked against what they have.
    let mut live_breakers = Vec::new();
    let mut live_keyed_breakers = Vec::new();
    for (name, s) in &merged.breakers {
        let at = At {
            table: "circuit_breaker",
            name,
        };
        if let Some(b) = crate::registry::circuit_breaker(name) {
            let next = b.reconfigured(s).map_err(|e| at.err(e.field, e.reason))?;
            live_breakers.push((b, next));
        }
        if let Some(b) = crate::circuit_breaker::keyed_registry().get(name) {
            let next = b.reconfigured(s).map_err(|e| at.err(e.field, e.reason))?;
            live_keyed_breakers.push((b, next));
        }
    }
    let mut live_limiters = Vec::new();
    let mut live_keyed = Vec::new();
    for (name, s) in &merged.rate_limits {
        let at = At {
            table: "rate_limit",
            name,
        };
        if let Some(l) = crate::rate_limit::RATE_LIMITERS.get(name) {
            let next = l.reconfigured(s).map_err(|e| at.err(e.field, e.reason))?;
            live_limiters.push((l, next));
        }
        if let Some(l) = crate::rate_limit::KEYED_RATE_LIMITERS.get(name) {
            let next = l.reconfigured(s).map_err(|e| at.err(e.field, e.reason))?;
            live_keyed.push((l, next));
        }
    }
    let mut live_bulkheads = Vec::new();
    for (name, s) in &merged.bulkheads {
        if let Some(b) = crate::registry::bulkhead(name) {
            let at = At {
                table: "bulkhead",
                name,
            };
            check_limit_kind(at, s.max_concurrent, &b)?;
            live_bulkheads.push((b, s.clone()));
        }
    }
    // Nothing below fails: apply.
    let mut report = ConfigReport::default();
    {
        let mut guard = STORE.write().unwrap_or_else(|e| e.into_inner());
        let store = guard.get_or_insert_with(Store::default);
        for (n, s) in &merged.breakers {
            store.breakers.insert(n.clone(), s.clone());
        }
        for (n, s) in &merged.retries {
            store.retries.insert(n.clone(), s.clone());
        }
        for (n, s) in &merged.timeouts {
            store.timeouts.insert(n.clone(), s.clone());
        }
        for (n, s) in &merged.bulkheads {
            store.bulkheads.insert(n.clone(), s.clone());
        }
        for (n, s) in &merged.rate_limits {
            store.rate_limits.insert(n.clone(), s.clone());
        }
    }
    let mut note = |policy: PolicyKind, name: &str, live: bool| {
        let entry = ConfiguredPolicy {
            policy,
            name: name.to_owned(),
        };
        if live {
            report.applied.push(entry);
        } else {
            report.pending.push(entry);
        }
    };
    for (b, next) in live_breakers {
        b.reconfigure(Arc::new(next));
    }
    for (b, next) in live_keyed_breakers {
        b.reconfigure(next);
    }
    for (name, _) in &merged.breakers {
        let live = crate::registry::circuit_breaker(name).is_some()
            || crate::circuit_breaker::keyed_registry().get(name).is_some();
        note(PolicyKind::CircuitBreaker, name, live);
    }
    for (l, next) in live_limiters {
        l.reconfigure(&next);
    }
    for (l, next) in live_keyed {
        l.reconfigure(&next);
    }
    for (name, _) in &merged.rate_limits {
        let live = crate::rate_limit::RATE_LIMITERS.get(name).is_some()
            || crate::rate_limit::KEYED_RATE_LIMITERS.get(name).is_some();
        note(PolicyKind::RateLimit, name, live);
    }
    for (b, s) in live_bulkheads {
        b.reconfigure(s.max_concurrent, s.max_wait, s.max_waiting);
    }
    for (name, _) in &merged.bulkheads {
        let live = crate::registry::bulkhead(name).is_some();
        note(PolicyKind::Bulkhead, name, live);
    }
    for (name, s) in &merged.retries {
        let stats = crate::stats::find(PolicyKind::Retry, name);
        if let Some(stats) = stats {
            stats.live.set_retry(s.clone());
        }
        note(PolicyKind::Retry, name, stats.is_some());
    }
    for (name, s) in &merged.timeouts {
        let stats = crate::stats::find(PolicyKind::Timeout, name);
        if let (Some(stats), Some(after)) = (stats, s.after) {
            stats.live.set_after(after);
        }
        note(PolicyKind::Timeout, name, stats.is_some());
    }
    report.applied.sort();
    report.pending.sort();
    Ok(report)
}

// ---------------------------------------------------------------------------------
// Watching a file
// ---------------------------------------------------------------------------------

/// How often [`watch`] looks at its file.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// A file whose settings are re-applied when it changes; see [`watch`]. Dropping it
/// stops watching (the settings in force stay).
#[derive(Debug)]
pub struct Watch {
    shared: Arc<WatchShared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct WatchShared {
    stop: Mutex<bool>,
    wake: std::sync::Condvar,
    last_error: Mutex<Option<ConfigError>>,
    applied: AtomicU64,
}

impl Watch {
    /// Why the file's latest content was refused, if it was (cleared once a later
    /// content applies).
    pub fn last_error(&self) -> Option<ConfigError> {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// How many times the file's content was applied (the first time included).
    pub fn applied(&self) -> u64 {
        self.shared.applied.load(Ordering::Acquire)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        *self.shared.stop.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Applies the file at `path` (TOML) now, then again whenever its content changes
/// (looked at every [`WATCH_INTERVAL`] on a thread of its own, which ends when the
/// [`Watch`] is dropped). A first content that fails to read, parse or check is
/// returned as the error; a later one is reported by a WARN (a `tracing` event with
/// feature `tracing`, else one line on stderr) and by [`Watch::last_error`], and the
/// settings in force stay.
pub fn watch(path: impl AsRef<Path>) -> Result<Watch, ConfigError> {
    let path = path.as_ref().to_path_buf();
    let first = read(&path)?;
    apply_toml(&first)?;
    let shared = Arc::new(WatchShared::default());
    shared.applied.store(1, Ordering::Release);
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("resilience-config-watch".into())
            .spawn(move || watch_loop(path, first, &shared))
            .map_err(|e| {
                ConfigError::at(
                    "configuration",
                    "",
                    "",
                    format!("cannot start watching: {e}"),
                )
            })?
    };
    Ok(Watch {
        shared,
        thread: Some(thread),
    })
}

fn read(path: &PathBuf) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigError::at(
            "configuration",
            "",
            "",
            format!("cannot read {}: {e}", path.display()),
        )
    })
}

fn watch_loop(path: PathBuf, mut last: String, shared: &WatchShared) {
    loop {
        {
            let stop = shared.stop.lock().unwrap_or_else(|e| e.into_inner());
            let (stop, _) = shared
                .wake
                .wait_timeout_while(stop, WATCH_INTERVAL, |stop| !*stop)
                .unwrap_or_else(|e| e.into_inner());
            if *stop {
                return;
            }
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue; // being replaced, or gone for now: the settings in force stay
        };
        if text == last {
            continue;
        }
        match apply_toml(&text) {
            Ok(_) => {
                *shared.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
                shared.applied.fetch_add(1, Ordering::AcqRel);
            }
            Err(error) => {
                warn(&path, &error);
                *shared.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
            }
        }
        last = text;
    }
}

fn warn(path: &Path, error: &ConfigError) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "resilience_runtime",
        path = %path.display(),
        "configuration file refused, the settings in force stay: {error}"
    );
    #[cfg(not(feature = "tracing"))]
    eprintln!(
        "WARN resilience_runtime: configuration file {} refused, the settings in force stay: {error}",
        path.display()
    );
}
