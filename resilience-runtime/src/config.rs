//! The error a builder returns for a configuration it cannot run, and (feature
//! `config`) policy settings by name from TOML or any serde format, applied live.
#![cfg_attr(
    feature = "config",
    doc = r##"
```
# #[tokio::main(flavor = "current_thread", start_paused = true)]
# async fn main() -> Result<(), resilience_runtime::ConfigError> {
use resilience_runtime::config;

let report = config::apply_toml(
    r#"
    [circuit_breaker.payments]
    failure_rate = 0.3
    open_for = "10s"

    [rate_limit."api::search"]
    rate = "200/s"

    [retry.prices]
    max_attempts = 5
    "#,
)?;
// No function has used these policies yet: they take the settings when one does.
assert_eq!(report.pending.len(), 3);

let error = config::apply_toml("[retry.prices]\nmax_atempts = 5").unwrap_err();
assert_eq!(
    error.to_string(),
    "invalid retry configuration: [retry.prices] unknown setting `max_atempts`; \
     did you mean `max_attempts`? valid settings: max_attempts, backoff, jitter, max_elapsed"
);
# Ok(()) }
```

# Tables, keys, settings

Tables are policy kinds, keys policy names (the `name = "..."` of the attribute, or
the function's path), settings the attribute's argument names with the same value
syntax: durations `"250ms"`, rates `"100/s"`, windows `"count(100)"` or
`"time(60s)"`, backoffs `"exponential(initial = 100ms, factor = 2.0, max = 10s)"`,
`"fixed(1s)"`, `"linear(initial = 100ms, step = 100ms, max = 5s)"` or `"none"`,
jitters `"none"`, `"full"`, `"equal"`, `"decorrelated"`, and for bulkheads
`max_concurrent = 10` or `max_concurrent = "adaptive(initial = 20, min = 1, max = 200)"`.

| table | settings |
|---|---|
| `circuit_breaker` | `failure_rate`, `window`, `min_calls`, `consecutive_failures`, `slow_call`, `slow_call_rate`, `open_for`, `open_for_max`, `open_for_factor`, `half_open_calls`, `max_wait_in_half_open` |
| `retry` | `max_attempts`, `backoff`, `jitter`, `max_elapsed` |
| `timeout` | `after` |
| `bulkhead` | `max_concurrent`, `max_wait`, `max_waiting` |
| `rate_limit` | `rate`, `burst`, `max_wait` |

Arguments that are code (`retry_if`, `on_retry`, `record_if`, `key`, `cost`, ...)
are not configurable, and are refused as such.

# Semantics

- **All or nothing.** Every table, key and value is checked (with the policy's own
  rules, against the settings a live policy has) before anything is applied; an
  error names the table, the key and what is valid, and nothing changes.
- **Settings override the attribute's arguments.** A policy not yet used is
  created with them when a function first uses it (the [`ConfigReport`] lists such
  names as `pending`); a live one changes at once and keeps its state: a breaker
  its state and window (`metrics()` and an open period under way go on; the next
  opening lasts the new `open_for`), a rate limiter its schedule (the slots taken
  and not yet regained stay taken, and are regained at the new rate: a limiter that
  spent its burst at 5/s and is raised to 50/s has it back ten times sooner), a
  bulkhead its running and waiting calls (a raised limit admits waiters at once; a
  lowered one lets running calls finish). A `rate` given without `burst` keeps the
  burst in force.
- **A breaker's `window`, live.** The same window (kind and size) changes
  nothing. A new kind or size takes effect at once with an *empty* window of the
  new shape: outcomes counted over the last 100 calls say nothing of the last 10,
  nor of the last 60 seconds, so they are not carried over. The breaker's state is
  kept, as a Resilience4j user expects: closed stays closed (and decides again once
  the new window holds `min_calls`), open stays open for the rest of its period,
  with what opened it in `metrics()` and the rejection's message, half-open keeps
  its trials; the failure streak of `consecutive_failures` and an open time grown
  by re-openings go on. `min_calls` is capped anew at the new window's size (an
  unset `min_calls` is 100, capped at `N` for `count(N)`, as at creation).
- **Keyed breakers** (`#[circuit_breaker(key = ..)]`, [`KeyedCircuitBreaker`](crate::KeyedCircuitBreaker))
  change live too: every key's breaker held, each keeping its own state and
  window as above, and every key created afterwards.
- **A bulkhead's limit, live.** A fixed limit moves as said above. An adaptive
  one (`"adaptive(initial = .., min = .., max = ..)"`) takes the new `min` and
  `max` at once: its current limit is brought within them (a raised floor lifts
  it, a lowered ceiling trims it; running calls finish) and its estimate (the
  latency baseline) is kept; `initial` counts only when a bulkhead is created.
  The kind of limit is chosen at creation: a fixed limit given to an adaptive
  bulkhead in use, or an adaptive one to a fixed bulkhead in use, is refused with
  an error that says so (and nothing changes). `max_waiting` applies at once to
  calls that come to wait: calls already waiting keep their place, even above a
  lowered bound. A value the settings of a not-yet-used policy cannot combine with
  the attribute's (say `open_for_max` below the attribute's `open_for`) is brought
  into range as the attribute's own values are; a policy registered by hand
  (`register()`) is refused instead. Policies built by hand with `build()` are not
  registered, so configuration does not reach them.
- **Each apply adds to the ones before.** Settings an apply does not name stay as
  they are: removing a line from a file does not bring back the attribute's value
  (write the value instead).
- **What stays as created.** A bulkhead's kind of limit (fixed or adaptive, see
  above) and an adaptive one's algorithm. Keyed rate limiters change live, each
  key keeping its schedule as it is. A `max_elapsed` given here to a retry whose
  attribute has none is counted from the end of its first attempt (the
  attribute's code reads no clock before a failure).
- **Cost.** Live settings are read through atomics (rate limits, bulkhead waits
  and `max_waiting`, timeouts), an `arc-swap` snapshot read off the success path
  (breakers' thresholds, retries' schedule after a failed attempt), or one pointer
  load (a breaker's window): no lock on a call's path and no allocation. A
  breaker keeps each window it has had until it is dropped (a call may still be
  recording into the old one), one per shape: a shape configured again gets its
  window back, emptied, so memory grows with the distinct windows configured, not
  with the number of changes. An adaptive bulkhead's new bounds are set under its
  estimator's lock, which calls only ever try (a sample that finds it taken is
  skipped). Without feature `config` none of this is compiled: windows are inline
  and settings plain values."##
)]

use std::borrow::Cow;
use std::fmt;

#[cfg(feature = "config")]
pub use crate::integrations::config::{
    ConfigReport, ConfiguredPolicy, Settings, WATCH_INTERVAL, Watch, apply, apply_toml, watch,
};

/// A policy's configuration was refused by its builder's `build()`, or by
/// `config::apply` (feature `config`).
///
/// The attribute macros check literal arguments at compile time; this error is what
/// the same checks say at run time when a policy is built by hand or configured by
/// name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The policy being configured, e.g. `"retry"` (for a configuration: the table;
    /// `"configuration"` when the error is not in one table).
    pub policy: &'static str,
    /// The offending setting, e.g. `"max_attempts"` (empty when the setting itself is
    /// unknown: the reason names it).
    pub field: &'static str,
    /// What is wrong and what to write instead.
    pub reason: Cow<'static, str>,
    /// For a configuration: the policy's name (the table's key), e.g. `"payments"`.
    pub name: Option<Cow<'static, str>>,
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.policy == "configuration" {
            return write!(f, "invalid configuration: {}", self.reason);
        }
        write!(f, "invalid {} configuration: ", self.policy)?;
        if let Some(name) = &self.name {
            let bare = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if bare {
                write!(f, "[{}.{name}] ", self.policy)?;
            } else {
                write!(f, "[{}.{name:?}] ", self.policy)?;
            }
        }
        if self.field.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "`{}` {}", self.field, self.reason)
        }
    }
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
            name: None,
        }
    }

    /// An error in the configuration of the `policy` named `name`.
    #[cfg(feature = "config")]
    pub(crate) fn at(
        policy: &'static str,
        name: &str,
        field: &'static str,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        ConfigError {
            policy,
            field,
            reason: reason.into(),
            name: (!name.is_empty() || policy != "configuration")
                .then(|| Cow::Owned(name.to_owned())),
        }
    }
}
