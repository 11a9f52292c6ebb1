//! Circuit breaker: stop calling a backend that keeps failing, give it time, then try
//! again carefully.
//!
//! A [`CircuitBreaker`] watches the outcomes of the calls made through it. While
//! they go well it is **closed** and every call runs. When too many fail (or are too
//! slow) it **opens**: calls are refused at once with
//! [`Rejection::CircuitOpen`](crate::Rejection::CircuitOpen), without running, for
//! `open_for`. Then it is **half-open**: a few trial calls run, and their outcomes
//! decide whether it closes again or re-opens.
//!
//! ```text
//!            failure rate, slow-call rate or failure streak reached
//!   Closed ───────────────────────────────────────────────────────▶ Open
//!     ▲                                                   ▲          │ open_for over,
//!     │ all trials done, below the thresholds             │          │ on the next call
//!     │                                                   │          ▼
//!     └──────────────────────────── HalfOpen ─────────────┘ all trials done,
//!                                                          at or above a threshold
//!   ForcedOpen (refuses all), Disabled (admits all, records nothing) and
//!   MetricsOnly (admits and records all, never opens): set by hand with
//!   force_open() / disable() / transition_to_metrics_only(); reset() returns to
//!   Closed. transition_to_open(), _open_for(d), _half_open(), _closed() reach the
//!   others by hand, from any state.
//! ```
//!
//! # Settings
//!
//! `#[circuit_breaker(...)]` takes these arguments; [`CircuitBreakerBuilder`] has a
//! method of the same name for each.
//!
//! | argument | meaning | default |
//! |---|---|---|
//! | `name` | breakers with the same name are one breaker (see *Sharing* below) | the function's path |
//! | `failure_rate` | opens when `failures / calls >= failure_rate` in the window (inclusive, as Resilience4j); 0 < x ≤ 1 | `0.5` |
//! | `window` | [`Window::Count(N)`](Window): the last N calls (1 ≤ N ≤ 1 000 000); [`Window::Time(d)`](Window): the calls of the last `d` | `count(100)` |
//! | `min_calls` | no decision while the window holds fewer calls; ≥ 1 | `100`, capped at N for `count(N)` |
//! | `consecutive_failures` | also opens after N failures in a row, whatever the window says | off |
//! | `slow_call` | a call that takes strictly longer is slow | off (no clock read) |
//! | `slow_call_rate` | opens when `slow / calls >= slow_call_rate`; 0 < x ≤ 1 | `1.0` when `slow_call` is given |
//! | `open_for` | time spent open before trials: opened at `t`, the first trial is admitted at `t + open_for` exactly | `60s` |
//! | `open_for_max` | each re-open from half-open multiplies the open time by `open_for_factor`, up to this; closing resets it | off (no growth) |
//! | `open_for_factor` | with `open_for_max`: what each re-open multiplies the open time by; finite, > 1 | `2.0` |
//! | `half_open_calls` | trials admitted in half-open (1 ≤ N ≤ 4095); other calls are refused at once | `10` |
//! | `max_wait_in_half_open` | if the trials have not all finished this long after the breaker turned half-open, it decides on those that finished, and re-opens if none did | off |
//! | `record_if` | `fn(&E) -> bool`: only errors it accepts are failures; the others count as neither | every error |
//! | `key`, `max_keys` | one breaker per key value, at most `max_keys` held, least recently used dropped ([`KeyedCircuitBreaker`]) | none; `10_000` |
//!
//! # Semantics
//!
//! - **Outcomes.** `Ok` is a success; `Err(e)` is a failure if `record_if(&e)` (every
//!   error by default), else it counts as neither (and frees a trial slot). A call
//!   whose future is dropped before it finishes (cancelled, e.g. by a timeout outside
//!   the breaker) counts as neither; a call that panics counts as a failure. In no
//!   case is a half-open trial slot left taken.
//! - **Windows.** A count window is exact: it holds the outcomes of the last N calls
//!   that finished, in the order they finished. A time window holds the calls that
//!   finished in the last period, in 64 buckets (memory does not grow with the call
//!   rate); a call counts for between 63/64 of the period and the whole period. The
//!   rates are decided after each recorded call once the window holds `min_calls`
//!   calls, so a success can open the breaker too (4 calls, 2 failed, `min_calls =
//!   4`: the fourth call decides, whatever it was).
//! - **Open.** A refused call gets `retry_after`, the exact time left until the next
//!   trial: a call made that much later is admitted. The transition to half-open
//!   happens on the first call (or [`state`](CircuitBreaker::state) /
//!   [`metrics`](CircuitBreaker::metrics) query) after the open period; no background
//!   task runs.
//! - **Half-open.** Exactly `half_open_calls` trials are admitted; the rest are refused
//!   with `retry_after` zero. Once all trials have finished, their failure share and
//!   slow share decide: both below the thresholds closes (with an empty window),
//!   otherwise the breaker re-opens, for `open_for_factor` (2) times the last open
//!   time if `open_for_max` is set. With `max_wait_in_half_open`, a trial that never
//!   finishes cannot hold the breaker half-open: once that long has passed since it
//!   turned half-open (the first call or query after the open period), the first
//!   call or [`state`](CircuitBreaker::state) / [`metrics`](CircuitBreaker::metrics)
//!   query decides on the trials finished by then (their shares), and re-opens if
//!   none did; no task or timer runs for it, and a trial that finishes later counts
//!   for nothing. A call admitted before a transition never counts towards the next
//!   state's decision.
//! - **Metrics** ([`CircuitBreaker::metrics`]): the current window (closed,
//!   metrics-only, disabled, forced open; a time window as of now), the trials
//!   finished so far (half-open), or, while open, what opened it, as the rejection's
//!   message says: the window at the moment it opened (kept: a time window's counts
//!   do not slide away while the breaker is open), or the trials that re-opened it.
//! - **By hand.** [`force_open`](CircuitBreaker::force_open) refuses every call until
//!   [`reset`](CircuitBreaker::reset) (`retry_after` is `Duration::MAX`);
//!   [`disable`](CircuitBreaker::disable) admits every call and records nothing;
//!   `reset` closes with an empty window and the base open time, from any state.
//!   Resilience4j's manual controls, from any state, each emitting `StateChanged` with
//!   a reason that says it was done by hand:
//!   [`transition_to_open`](CircuitBreaker::transition_to_open) ("opened by hand",
//!   for the open time it would use next),
//!   [`transition_to_open_for(d)`](CircuitBreaker::transition_to_open_for) (until `d`
//!   from now), [`transition_to_half_open`](CircuitBreaker::transition_to_half_open)
//!   (fresh trials), [`transition_to_closed`](CircuitBreaker::transition_to_closed)
//!   (a fresh window) and
//!   [`transition_to_metrics_only`](CircuitBreaker::transition_to_metrics_only): every
//!   call admitted and recorded (window, rates, events, metrics), but the breaker
//!   never opens, until another transition or `reset`.
//! - **Caller-timed outcomes.** [`Permit::record_success_in(d)`](Permit::record_success_in)
//!   and [`record_failure_in(d)`](Permit::record_failure_in) record an outcome whose
//!   duration the caller measured; it is slow if `d` is longer than `slow_call`
//!   (Resilience4j's `onSuccess(duration)` / `onError(duration)`).
//! - **Live configuration** (feature `config`): settings applied by name change a
//!   registered breaker at once, keyed breakers' keys included, each keeping its
//!   state; a new `window` kind or size starts an empty window of that shape (see
//!   the `config` module's docs).
//! - **Time** is `tokio::time`, so `tokio::time::pause()` drives open periods, time
//!   windows and slow-call durations in tests (outside a runtime it is the system's
//!   monotonic clock).
//!
//! # Messages
//!
//! A rejection reads as a diagnosis, e.g.
//! `circuit breaker 'payments' is open: 6 of the last 10 calls failed (60% >= 50%);
//! next trial in 27s`. The reason is the one recorded when the breaker last opened
//! ("5 failures in a row", "3 of 4 calls slower than 2s (75% >= 50%)", "2 of 10 trial
//! calls failed (20% >= 20%)"), or "forced open by hand", or "half-open, all 10 trial
//! calls are in flight". The reason is looked up by name when the message is
//! formatted, in the breaker of that name that opened last (or the registered one);
//! breakers of a [`KeyedCircuitBreaker`] share one name between their keys, so their
//! messages give no reason.
//!
//! # Sharing, the registry, and conflicting settings
//!
//! [`CircuitBreakerBuilder::register`] (and `#[circuit_breaker]`) returns the breaker
//! registered under the name, creating it on first use: every function naming
//! `"payments"` shares one breaker. The first configuration registered wins. A later
//! registration with other settings, or with `on_transition` listeners (which cannot
//! be compared, and are dropped), gets the existing breaker unchanged, and the
//! conflict is recorded: [`registry::config_conflicts`](crate::registry::config_conflicts)
//! lists each one with both configurations, so a test or a startup check can assert
//! there are none. [`registry::circuit_breaker`](crate::registry::circuit_breaker)
//! finds a breaker by name and [`registry::circuit_breakers`](crate::registry::circuit_breakers)
//! lists them all with their states. [`CircuitBreakerBuilder::build`] makes an
//! unregistered breaker of its own.
//!
//! # Costs
//!
//! The closed hot path takes no lock and allocates nothing (a test with a counting
//! allocator checks it). With a count window and no slow-call detection it reads no
//! clock: admission is one atomic load, and a success into a window that holds only
//! successes writes nothing at all (the window would be unchanged), so threads
//! sharing a healthy breaker only read shared memory and do not slow each other
//! down. While the window holds a failure, each outcome claims its slot with one
//! shared `fetch_add`, and writes the slot and the counters only when the outcome
//! differs from the one it replaces. `consecutive_failures` adds one load per
//! success (a store only after a failure). Time windows and slow-call detection read
//! the clock (`tokio::time::Instant::now()`); a time window also updates the current
//! bucket on every call, and sums the earlier buckets once per bucket period. The
//! benchmark `benches/benches/circuit_breaker.rs` compares these paths with a bare
//! call, recloser and failsafe, on one thread and two.
//!
//! Compared with Resilience4j: the same states, thresholds (inclusive), `min_calls`
//! cap, trial decision and record/ignore rules; `slow_call_rate` defaults to 1.0 but
//! slow-call detection is off unless `slow_call` is given; the open-to-half-open
//! transition is always lazy (its `automaticTransitionFromOpenToHalfOpenEnabled =
//! false`), and dated at the end of the open period.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::{CircuitBreaker, CircuitState, Rejection};
//! use resilience_runtime::circuit_breaker::Window;
//!
//! #[derive(Debug)]
//! enum ApiError {
//!     Down,
//!     Rejected(Rejection),
//! }
//! impl From<Rejection> for ApiError {
//!     fn from(r: Rejection) -> Self {
//!         ApiError::Rejected(r)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), resilience_runtime::ConfigError> {
//! let breaker = CircuitBreaker::builder("payments")
//!     .window(Window::Count(10))
//!     .min_calls(4)
//!     .failure_rate(0.5)
//!     .open_for(Duration::from_secs(30))
//!     .half_open_calls(2)
//!     .on_transition(|t| println!("{} went {:?} -> {:?}", t.name, t.from, t.to))
//!     .build()?;
//!
//! for _ in 0..4 {
//!     let _ = breaker.call(async { Err::<(), _>(ApiError::Down) }).await;
//! }
//! assert_eq!(breaker.state(), CircuitState::Open);
//!
//! // Refused without running; the message says why and for how long.
//! let Err(ApiError::Rejected(rejection)) = breaker.call(async { Ok(()) }).await else {
//!     unreachable!()
//! };
//! assert_eq!(rejection.retry_after(), Some(Duration::from_secs(30)));
//! assert_eq!(
//!     rejection.to_string(),
//!     "circuit breaker 'payments' is open: 4 of the last 4 calls failed (100% >= 50%); \
//!      next trial in 30s"
//! );
//!
//! // 30s later two trials run; both succeed, so the breaker closes.
//! tokio::time::sleep(Duration::from_secs(30)).await;
//! for _ in 0..2 {
//!     breaker.call(async { Ok::<_, ApiError>(()) }).await.unwrap();
//! }
//! assert_eq!(breaker.state(), CircuitState::Closed);
//! # Ok(()) }
//! ```

mod call;
pub(crate) mod config;
mod keyed;
#[cfg(not(loom))]
mod probe;
pub(crate) mod state;
mod window;

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

pub use call::{Call, Permit};
pub use config::{CircuitBreakerBuilder, MAX_HALF_OPEN_CALLS, MAX_WINDOW_CALLS, Window};
pub use keyed::{KeyedCircuitBreaker, KeyedCircuitBreakerBuilder};

use config::Config;
use state::Shared;

use crate::events::PolicyKind;
use crate::named::Registry;
use crate::stats::Stats;
use crate::sync::Arc;

/// A breaker's state. See the [module docs](self) for the transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum CircuitState {
    /// Calls run, and their outcomes are recorded in the window.
    Closed,
    /// Calls are refused until the open period is over.
    Open,
    /// A limited number of trial calls run; their outcomes decide the next state.
    HalfOpen,
    /// Set by [`CircuitBreaker::force_open`]: every call is refused until a reset.
    ForcedOpen,
    /// Set by [`CircuitBreaker::disable`]: every call runs, nothing is recorded.
    Disabled,
    /// Set by [`CircuitBreaker::transition_to_metrics_only`]: every call runs and is
    /// recorded (window, rates, events, metrics), but the breaker never opens.
    MetricsOnly,
}

impl CircuitState {
    /// The state in snake case (`"closed"`, `"open"`, `"half_open"`,
    /// `"forced_open"`, `"disabled"`, `"metrics_only"`), as metrics labels, JSON and
    /// the dashboard's `data-state` write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
            CircuitState::ForcedOpen => "forced_open",
            CircuitState::Disabled => "disabled",
            CircuitState::MetricsOnly => "metrics_only",
        }
    }

    /// Every state, in a fixed order.
    pub const ALL: [CircuitState; 6] = [
        CircuitState::Closed,
        CircuitState::Open,
        CircuitState::HalfOpen,
        CircuitState::ForcedOpen,
        CircuitState::Disabled,
        CircuitState::MetricsOnly,
    ];
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half-open",
            CircuitState::ForcedOpen => "forced open",
            CircuitState::Disabled => "disabled",
            CircuitState::MetricsOnly => "metrics only",
        })
    }
}

/// A state change, as told to [`on_transition`](CircuitBreakerBuilder::on_transition)
/// listeners.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Transition {
    /// The breaker's name.
    pub name: Cow<'static, str>,
    /// The state before.
    pub from: CircuitState,
    /// The state after.
    pub to: CircuitState,
    /// When it took effect (`tokio::time`). Open to half-open is dated at the end of
    /// the open period, even when the next call comes later.
    pub at: Instant,
    /// Why, for a change to `Open` ("6 of the last 10 calls failed (60% >= 50%)", "no
    /// trial call finished within 30s of turning half-open") or `ForcedOpen` ("forced
    /// open by hand"), and for every `transition_to_*` ("opened by hand", "closed by
    /// hand", ...); `None` otherwise.
    pub reason: Option<String>,
}

/// A snapshot of a breaker's state and counters, from [`CircuitBreaker::metrics`].
///
/// The counters describe:
/// - closed, metrics-only, forced open, disabled: the current window, the calls the
///   rates are computed over (a time window's calls as of now: it slides on);
/// - half-open: the trial calls finished so far;
/// - open: what opened it, as the rejection's message tells it: the window as it was
///   at that moment (a time window's counts are kept as they were, though the window
///   itself slides on), the half-open trials that re-opened it, or, opened by hand,
///   what the breaker held then.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// The state (an open breaker whose open period is over reads as half-open).
    pub state: CircuitState,
    /// Calls recorded in the window (half-open: trials finished).
    pub calls: u64,
    /// Of those, successes (`calls - failures`, slow successes included).
    pub successes: u64,
    /// Of those, failures.
    pub failures: u64,
    /// Of those, slow calls (0 without `slow_call`).
    pub slow_calls: u64,
    /// Of the slow calls, those that also failed.
    pub slow_failures: u64,
    /// `failures / calls`, 0 when there are no calls.
    pub failure_rate: f64,
    /// `slow_calls / calls`, 0 when there are no calls.
    pub slow_call_rate: f64,
    /// Enough calls for a decision: `calls >= min_calls` (half-open, and open after
    /// the trials re-opened it: `calls >= half_open_calls`). Below it the rates
    /// decide nothing.
    pub min_calls_reached: bool,
    /// Calls refused since the breaker was created.
    pub rejections: u64,
    /// When the state last changed; `None` if it never did.
    pub last_transition: Option<Instant>,
}

/// A circuit breaker; cheap to clone (clones share the breaker). See the
/// [module docs](self) for the states, settings and an example.
#[derive(Clone)]
pub struct CircuitBreaker {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("name", &self.shared.name)
            .field("state", &self.state())
            .field("config", &self.shared.config)
            .finish()
    }
}

impl CircuitBreaker {
    /// A builder with the `#[circuit_breaker]` defaults, for a breaker named `name`.
    pub fn builder(name: impl Into<Cow<'static, str>>) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new(name.into())
    }

    /// A breaker of its own (`keyed` = `None`), or one key's breaker of a keyed
    /// breaker, counting into the keyed breaker's counters.
    pub(crate) fn from_config(
        name: Cow<'static, str>,
        config: std::sync::Arc<Config>,
        keyed: Option<std::sync::Arc<Stats>>,
    ) -> Self {
        let is_keyed = keyed.is_some();
        let stats = keyed.unwrap_or_else(|| {
            std::sync::Arc::new(Stats::new(PolicyKind::CircuitBreaker, name.clone()))
        });
        #[cfg(not(loom))]
        let shared = Arc::new_cyclic(|me| Shared::new(name, config, stats, is_keyed, me.clone()));
        #[cfg(loom)]
        let shared = Arc::new(Shared::new(name, config, stats, is_keyed));
        CircuitBreaker { shared }
    }

    /// The name given in rejections and listings.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The state now. An open breaker whose open period is over turns half-open when
    /// asked (as it would on the next call).
    pub fn state(&self) -> CircuitState {
        self.shared.state()
    }

    /// The state and the window's counters now.
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics()
    }

    /// Refuses every call from now until [`reset`](Self::reset).
    pub fn force_open(&self) {
        self.shared.set_by_hand(state::FORCED_OPEN, None, None);
    }

    /// Admits every call from now until [`reset`](Self::reset), recording nothing.
    pub fn disable(&self) {
        self.shared.set_by_hand(state::DISABLED, None, None);
    }

    /// Closes the breaker with an empty window, no failure streak and the base open
    /// time, from any state. Calls admitted before the reset are not recorded.
    pub fn reset(&self) {
        self.shared.set_by_hand(state::CLOSED, None, None);
    }

    /// Opens the breaker now, from any state, for the open time it would use next
    /// (`open_for`, or the grown one while re-opens have grown it); then half-open
    /// and trials as after any opening. Reason: "opened by hand".
    ///
    /// Like every `transition_to_*`, it starts the state afresh even when the
    /// breaker is already in it (here: the open period restarts now), and calls
    /// admitted before it are not recorded; a `StateChanged` event is emitted (and
    /// listeners told) when the state changes, with a reason that says it was done
    /// by hand.
    pub fn transition_to_open(&self) {
        self.shared
            .set_by_hand(state::OPEN, None, Some("opened by hand".to_owned()));
    }

    /// Opens the breaker now until `d` from now, whatever `open_for` says (the open
    /// time of later openings is unchanged). Reason: "opened by hand for 30s". See
    /// [`transition_to_open`](Self::transition_to_open).
    pub fn transition_to_open_for(&self, d: Duration) {
        let reason = format!("opened by hand for {}", crate::rejection::HumanDuration(d));
        self.shared.set_by_hand(state::OPEN, Some(d), Some(reason));
    }

    /// Makes the breaker half-open now: `half_open_calls` fresh trials decide whether
    /// it closes or re-opens (and `max_wait_in_half_open` counts from now). Reason:
    /// "half-open by hand". See [`transition_to_open`](Self::transition_to_open).
    pub fn transition_to_half_open(&self) {
        self.shared
            .set_by_hand(state::HALF_OPEN, None, Some("half-open by hand".to_owned()));
    }

    /// Closes the breaker with a fresh window (as [`reset`](Self::reset): no failure
    /// streak, the base open time). Reason: "closed by hand". See
    /// [`transition_to_open`](Self::transition_to_open).
    pub fn transition_to_closed(&self) {
        self.shared
            .set_by_hand(state::CLOSED, None, Some("closed by hand".to_owned()));
    }

    /// Moves the breaker to [`CircuitState::MetricsOnly`], with a fresh window: every
    /// call is admitted and recorded (window, rates, events, metrics) as if closed,
    /// but the breaker never opens, until another transition or
    /// [`reset`](Self::reset). Reason: "metrics only, by hand". See
    /// [`transition_to_open`](Self::transition_to_open).
    pub fn transition_to_metrics_only(&self) {
        self.shared.set_by_hand(
            state::METRICS_ONLY,
            None,
            Some("metrics only, by hand".to_owned()),
        );
    }

    /// True if both handles are the same breaker.
    pub fn ptr_eq(&self, other: &CircuitBreaker) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// The breaker's counters and state, as [`registry::snapshot`](crate::registry::snapshot)
    /// lists them.
    pub fn snapshot(&self) -> crate::registry::PolicySnapshot {
        let metrics = self.metrics();
        let mut s = self.shared.stats.snapshot();
        s.state = Some(metrics.state);
        s.failure_rate = Some(metrics.failure_rate);
        s
    }
}

/// Keyed breakers by name.
pub(crate) fn keyed_registry() -> &'static Registry<KeyedCircuitBreaker> {
    &keyed::KEYED
}

/// Breakers by name, shared by every function that names them.
pub(crate) static BREAKERS: Registry<CircuitBreaker> = Registry::new();

/// The breaker registered under `name`, registered now with `config` if absent.
fn register(name: Cow<'static, str>, config: Config) -> CircuitBreaker {
    let (breaker, existed) = BREAKERS.get_or_insert_with(name.clone(), || {
        CircuitBreaker::from_config(name.clone(), std::sync::Arc::new(config.clone()), None)
    });
    if existed
        && (!breaker.shared.config.get().same_settings(&config) || !config.listeners.is_empty())
    {
        crate::named::report_conflict(
            "circuit_breaker",
            name,
            format!("{:?}", breaker.shared.config),
            format!("{config:?}"),
        );
    }
    breaker
}

/// The last breaker of each name that opened, for rejection messages (weak: a
/// dropped breaker is forgotten).
#[cfg(not(loom))]
static OPENED: std::sync::Mutex<
    Option<std::collections::HashMap<Cow<'static, str>, std::sync::Weak<Shared>>>,
> = std::sync::Mutex::new(None);

#[cfg(not(loom))]
#[allow(clippy::ptr_arg)] // cloning the `Cow` keeps a borrowed name unallocated
fn remember_opened(name: &Cow<'static, str>, breaker: std::sync::Weak<Shared>) {
    crate::rejection::explain_with(crate::rejection::Source::CircuitBreaker, open_reason);
    let mut guard = OPENED.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(Default::default);
    if map.len() >= 256 && !map.contains_key(name) {
        map.retain(|_, b| b.strong_count() > 0);
    }
    map.insert(name.clone(), breaker);
}

/// Why the breaker `name` refuses calls, for [`Rejection`](crate::Rejection)'s message:
/// the reason it last opened, "forced open by hand", or "half-open, all N trial calls
/// are in flight". (Under loom, which models the state machine alone, nothing registers
/// it.)
#[cfg_attr(loom, allow(dead_code))]
fn open_reason(name: &str) -> Option<String> {
    #[cfg(not(loom))]
    {
        let opened = {
            let guard = OPENED.lock().unwrap_or_else(|e| e.into_inner());
            guard.as_ref().and_then(|map| map.get(name)?.upgrade())
        };
        if let Some(shared) = opened {
            return shared.reason();
        }
    }
    BREAKERS.get(name)?.shared.reason()
}
