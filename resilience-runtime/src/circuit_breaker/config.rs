//! The breaker's settings: the builder users call, checked into a [`Config`].

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{CircuitBreaker, Transition};
use crate::config::ConfigError;

/// The largest `Window::Count(N)`: the window's counters are packed 21 bits each.
/// `#[circuit_breaker]` refuses a larger literal at compile time; its copy of this
/// value is in `resilience-macros/src/limits.rs` (`tests/ui/pass/limits_at_maximum.rs`
/// checks that the two agree).
pub const MAX_WINDOW_CALLS: u32 = 1_000_000;
/// The largest `half_open_calls`: the trial counters are packed 12 bits each. Copied
/// for `#[circuit_breaker]` as [`MAX_WINDOW_CALLS`] is.
pub const MAX_HALF_OPEN_CALLS: u32 = 4_095;
/// Buckets of a time window, at most (fewer only for windows shorter than 64ns).
pub(crate) const TIME_BUCKETS: u64 = 64;

const POLICY: &str = "circuit_breaker";

/// Which calls a closed breaker's failure and slow-call rates are computed over.
///
/// ```
/// use std::time::Duration;
/// use resilience_runtime::circuit_breaker::Window;
///
/// let last_50_calls = Window::Count(50);
/// let last_minute = Window::Time(Duration::from_secs(60));
/// # let _ = (last_50_calls, last_minute);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// The last `N` calls that finished (`window = count(N)`), 1 ≤ N ≤ 1 000 000.
    ///
    /// Exact on one thread. Under concurrency the window is the last `N` calls in the
    /// order their outcomes were recorded.
    Count(u32),
    /// The calls that finished during the last period (`window = time("60s")`).
    ///
    /// The period is divided into 64 buckets (so memory does not grow with the call
    /// rate, as Resilience4j's one-second buckets): a call counts from the moment it
    /// finishes until its bucket leaves the window, that is for between 63/64 of the
    /// period and the whole period. A call made at a bucket boundary (for example at
    /// the breaker's creation, or a whole number of `period / 64` later) counts for
    /// exactly the period.
    Time(Duration),
}

impl Default for Window {
    /// `Count(100)`, as Resilience4j.
    fn default() -> Self {
        Window::Count(100)
    }
}

/// A callback told of each state change.
pub(crate) type Listener = Arc<dyn Fn(&Transition) + Send + Sync>;

/// A checked configuration, shared by the breaker (and by each key of a keyed one).
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) failure_rate: f64,
    pub(crate) window: Window,
    /// Already capped at `N` for `Window::Count(N)`.
    pub(crate) min_calls: u32,
    /// `min_calls` as given, before the cap: a live change of window caps it anew
    /// (feature `config`).
    #[cfg(feature = "config")]
    pub(crate) min_calls_given: Option<u32>,
    pub(crate) consecutive_failures: Option<u32>,
    pub(crate) slow_call: Option<Duration>,
    pub(crate) slow_call_rate: f64,
    pub(crate) open_for: Duration,
    pub(crate) open_for_max: Option<Duration>,
    /// What each re-open multiplies the open time by (with `open_for_max`).
    pub(crate) open_for_factor: f64,
    pub(crate) half_open_calls: u32,
    /// Half-open decides on the finished trials this long after it began.
    pub(crate) max_wait_in_half_open: Option<Duration>,
    pub(crate) listeners: Vec<Listener>,
    /// The health probe, while open.
    #[cfg(not(loom))]
    pub(crate) probe: Option<super::probe::Probe>,
}

impl Config {
    /// Same settings, listeners aside (closures cannot be compared).
    pub(crate) fn same_settings(&self, other: &Config) -> bool {
        self.failure_rate == other.failure_rate
            && self.window == other.window
            && self.min_calls == other.min_calls
            && self.consecutive_failures == other.consecutive_failures
            && self.slow_call == other.slow_call
            && self.slow_call_rate == other.slow_call_rate
            && self.open_for == other.open_for
            && self.open_for_max == other.open_for_max
            && self.open_for_factor == other.open_for_factor
            && self.half_open_calls == other.half_open_calls
            && self.max_wait_in_half_open == other.max_wait_in_half_open
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Config");
        s.field("failure_rate", &self.failure_rate)
            .field("window", &self.window)
            .field("min_calls", &self.min_calls);
        if let Some(n) = self.consecutive_failures {
            s.field("consecutive_failures", &n);
        }
        if let Some(d) = self.slow_call {
            s.field("slow_call", &d)
                .field("slow_call_rate", &self.slow_call_rate);
        }
        s.field("open_for", &self.open_for);
        if let Some(d) = self.open_for_max {
            s.field("open_for_max", &d)
                .field("open_for_factor", &self.open_for_factor);
        }
        s.field("half_open_calls", &self.half_open_calls);
        if let Some(d) = self.max_wait_in_half_open {
            s.field("max_wait_in_half_open", &d);
        }
        if !self.listeners.is_empty() {
            s.field("listeners", &self.listeners.len());
        }
        s.finish()
    }
}

/// Builds a [`CircuitBreaker`]; every setting has the `#[circuit_breaker]` default.
///
/// [`build`](Self::build) checks the settings (as the attribute does at compile time)
/// and returns an unregistered breaker; [`register`](Self::register) also shares it by
/// name (see [`crate::registry`]).
#[must_use]
pub struct CircuitBreakerBuilder {
    pub(crate) name: Cow<'static, str>,
    failure_rate: f64,
    window: Window,
    min_calls: Option<u32>,
    consecutive_failures: Option<u32>,
    slow_call: Option<Duration>,
    slow_call_rate: Option<f64>,
    open_for: Duration,
    open_for_max: Option<Duration>,
    open_for_factor: Option<f64>,
    half_open_calls: u32,
    max_wait_in_half_open: Option<Duration>,
    listeners: Vec<Listener>,
    #[cfg(not(loom))]
    probe: Option<super::probe::Probe>,
    /// `.cluster(&c)` and `.quorum(n)` (feature `redis`).
    #[cfg(feature = "redis")]
    pub(crate) cluster: crate::cluster::BreakerCluster,
}

impl fmt::Debug for CircuitBreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerBuilder")
            .field("name", &self.name)
            .field("failure_rate", &self.failure_rate)
            .field("window", &self.window)
            .field("min_calls", &self.min_calls)
            .field("consecutive_failures", &self.consecutive_failures)
            .field("slow_call", &self.slow_call)
            .field("slow_call_rate", &self.slow_call_rate)
            .field("open_for", &self.open_for)
            .field("open_for_max", &self.open_for_max)
            .field("open_for_factor", &self.open_for_factor)
            .field("half_open_calls", &self.half_open_calls)
            .field("max_wait_in_half_open", &self.max_wait_in_half_open)
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

impl CircuitBreakerBuilder {
    pub(crate) fn new(name: Cow<'static, str>) -> Self {
        CircuitBreakerBuilder {
            name,
            failure_rate: 0.5,
            window: Window::Count(100),
            min_calls: None,
            consecutive_failures: None,
            slow_call: None,
            slow_call_rate: None,
            open_for: Duration::from_secs(60),
            open_for_max: None,
            open_for_factor: None,
            half_open_calls: 10,
            max_wait_in_half_open: None,
            listeners: Vec::new(),
            #[cfg(not(loom))]
            probe: None,
            #[cfg(feature = "redis")]
            cluster: Default::default(),
        }
    }

    /// Opens when the failure share of the window reaches `rate` (`rate >= threshold`,
    /// as Resilience4j), once the window holds `min_calls` calls. 0 < rate ≤ 1;
    /// default 0.5.
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = rate;
        self
    }

    /// The calls the rates are computed over. Default [`Window::Count(100)`](Window).
    pub fn window(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// No decision is made before the window holds this many calls; at least 1.
    /// Default 100; for [`Window::Count(N)`](Window) it is capped at `N` (as
    /// Resilience4j's `minimumNumberOfCalls`), whether given or default.
    pub fn min_calls(mut self, n: u32) -> Self {
        self.min_calls = Some(n);
        self
    }

    /// Also opens after `n` failures in a row (at least 1), whatever the window says.
    /// Default: off.
    pub fn consecutive_failures(mut self, n: u32) -> Self {
        self.consecutive_failures = Some(n);
        self
    }

    /// A call that takes strictly longer than `threshold` is slow; slow calls have
    /// their own rate, [`slow_call_rate`](Self::slow_call_rate). Default: off, and
    /// then no call reads the clock for it.
    pub fn slow_call(mut self, threshold: Duration) -> Self {
        self.slow_call = Some(threshold);
        self
    }

    /// Opens when the slow share of the window reaches `rate`; 0 < rate ≤ 1. Needs
    /// [`slow_call`](Self::slow_call). Default 1.0 (every call in the window slow;
    /// Resilience4j defaults to 1.0 too, but with a 60s threshold always on).
    pub fn slow_call_rate(mut self, rate: f64) -> Self {
        self.slow_call_rate = Some(rate);
        self
    }

    /// Time spent open before trial calls are let through: a breaker opened at `t`
    /// admits a trial at `t + open_for` exactly. Default 60s. Zero is allowed: the
    /// next call after opening is a trial.
    pub fn open_for(mut self, d: Duration) -> Self {
        self.open_for = d;
        self
    }

    /// Each re-open from half-open multiplies the open time by
    /// [`open_for_factor`](Self::open_for_factor) (2 unless set), up to `max`
    /// (≥ `open_for`); closing resets it to `open_for`. Default: off (no growth).
    pub fn open_for_max(mut self, max: Duration) -> Self {
        self.open_for_max = Some(max);
        self
    }

    /// What each re-open multiplies the open time by, up to
    /// [`open_for_max`](Self::open_for_max) (which it needs): finite and above 1.
    /// Default 2.0. With `open_for = 1s`, `open_for_factor = 1.5` and
    /// `open_for_max = 5s`, the open periods are 1s, 1.5s, 2.25s, 3.375s, 5s, 5s...
    /// (Resilience4j's exponential interval function, Polly's break-duration
    /// generator).
    pub fn open_for_factor(mut self, factor: f64) -> Self {
        self.open_for_factor = Some(factor);
        self
    }

    /// If the half-open trials have not all finished `d` after the breaker turned
    /// half-open (the first call or state query after the open period, or
    /// [`transition_to_half_open`](super::CircuitBreaker::transition_to_half_open)),
    /// the breaker decides on the trials that finished, and re-opens if none did: a
    /// trial that never finishes cannot hold it half-open. The decision is taken on
    /// the first call or state query after that moment (no task runs). Above zero;
    /// default: off (half-open lasts until every trial has finished).
    pub fn max_wait_in_half_open(mut self, d: Duration) -> Self {
        self.max_wait_in_half_open = Some(d);
        self
    }

    /// Trial calls admitted in half-open (1 ≤ n ≤ 4095); further calls are rejected at
    /// once. When all have finished, their failure and slow shares decide: below both
    /// thresholds closes, else re-opens. Default 10, as Resilience4j.
    pub fn half_open_calls(mut self, n: u32) -> Self {
        self.half_open_calls = n;
        self
    }

    /// Checks the backend's health while the breaker is open: `probe` runs `every`
    /// after it opened and then at that interval, one at a time, on the tokio runtime
    /// of the call that opened it; a probe that answers `true` turns the breaker
    /// half-open at once (the trials then decide as usual), so recovery takes one
    /// interval instead of `open_for` (which still ends the open period if no probe
    /// succeeded first). A probe slower than [`probe_timeout`](Self::probe_timeout)
    /// (default: `every`) counts as unhealthy. Probes run only while the breaker is
    /// `Open` (never forced open), stop as soon as it leaves `Open` or is dropped,
    /// and each emits [`EventKind::Probe`](crate::events::EventKind::Probe).
    ///
    /// ```
    /// use std::time::Duration;
    /// use resilience_runtime::{CircuitBreaker, CircuitState};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let breaker = CircuitBreaker::builder("probed")
    ///     .open_for(Duration::from_secs(60))
    ///     .probe(|| async { true }, Duration::from_secs(1))
    ///     .build()
    ///     .unwrap();
    /// breaker.transition_to_open();
    /// tokio::time::sleep(Duration::from_millis(1500)).await; // the probe at 1s said yes
    /// assert_eq!(breaker.state(), CircuitState::HalfOpen, "after one probe, not 60s");
    /// # }
    /// ```
    #[cfg(not(loom))]
    pub fn probe<F, Fut>(mut self, probe: F, every: Duration) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
    {
        let timeout = self.probe.as_ref().and_then(|p| p.timeout);
        let mut probe = super::probe::Probe::new(probe, every);
        probe.timeout = timeout;
        self.probe = Some(probe);
        self
    }

    /// With [`probe`](Self::probe): a probe that takes longer than `timeout` counts
    /// as unhealthy. Default: the probe's interval.
    #[cfg(not(loom))]
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        if let Some(probe) = &mut self.probe {
            probe.timeout = Some(timeout);
        }
        self
    }

    /// Calls `listener` on every state change, on the thread that made it, after the
    /// change took effect (see [`Transition`]). A listener must be quick; it may call
    /// the breaker's methods. A listener that panics does not undo the change; the
    /// panic is resumed once every listener has been told. Any number may be added.
    pub fn on_transition(mut self, listener: impl Fn(&Transition) + Send + Sync + 'static) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Checks the settings and builds a breaker of its own (not registered: another
    /// breaker with the same name is another breaker).
    pub fn build(#[allow(unused_mut)] mut self) -> Result<CircuitBreaker, ConfigError> {
        #[cfg(feature = "redis")]
        let joiner = std::mem::take(&mut self.cluster).checked()?;
        #[cfg(feature = "redis")]
        self.listeners.extend(joiner.as_ref().map(|j| j.listener()));
        let (name, config) = self.check()?;
        let breaker = CircuitBreaker::from_config(name, Arc::new(config), None);
        #[cfg(feature = "redis")]
        if let Some(joiner) = joiner {
            joiner.join(&breaker);
        }
        Ok(breaker)
    }

    /// Checks the settings, then returns the breaker registered under this name,
    /// registering a new one if there is none. The first configuration registered
    /// under a name wins: when a breaker of that name exists with other settings (or
    /// this builder adds listeners), the existing one is returned unchanged and the
    /// conflict is recorded in [`registry::config_conflicts`](crate::registry::config_conflicts).
    pub fn register(#[allow(unused_mut)] mut self) -> Result<CircuitBreaker, ConfigError> {
        #[cfg(feature = "redis")]
        let joiner = std::mem::take(&mut self.cluster).checked()?;
        #[cfg(feature = "redis")]
        self.listeners.extend(joiner.as_ref().map(|j| j.listener()));
        let (name, config) = self.configured().check()?;
        let breaker = super::register(name, config);
        #[cfg(feature = "redis")]
        if let Some(joiner) = joiner {
            joiner.join(&breaker);
        }
        Ok(breaker)
    }

    /// What `#[circuit_breaker]` calls: never fails. Out-of-range values (possible only
    /// from expressions; literals are checked at compile time) are clamped to the
    /// nearest valid one: rates into (0, 1] (a rate of 0 or less becomes the smallest
    /// positive `f64`; NaN becomes the default), `Count(0)` into `Count(1)` and above
    /// 1 000 000 into 1 000 000, a zero time window into 1ns, `min_calls`,
    /// `consecutive_failures` and `half_open_calls` of 0 into 1, `half_open_calls`
    /// above 4095 into 4095, `open_for_max` below `open_for` into `open_for`, an
    /// `open_for_factor` of 1 or less into the smallest `f64` above 1 (NaN into 2, an
    /// infinite one into `f64::MAX`), a zero `max_wait_in_half_open` into 1ns; a
    /// `slow_call_rate` without `slow_call` and an `open_for_factor` without
    /// `open_for_max` are ignored. Then registers as
    /// [`register`](Self::register).
    #[doc(hidden)]
    pub fn register_clamped(#[allow(unused_mut)] mut self) -> CircuitBreaker {
        #[cfg(feature = "redis")]
        let joiner = std::mem::take(&mut self.cluster).clamped();
        #[cfg(feature = "redis")]
        self.listeners.extend(joiner.as_ref().map(|j| j.listener()));
        let (name, config) = self.configured().clamp();
        let breaker = super::register(name, config);
        #[cfg(feature = "redis")]
        if let Some(joiner) = joiner {
            joiner.join(&breaker);
        }
        breaker
    }

    /// With the settings configuration gives this name over these (feature `config`).
    #[inline]
    pub(crate) fn configured(self) -> Self {
        #[cfg(feature = "config")]
        if let Some(s) = crate::integrations::config::breaker(&self.name) {
            return s.over(self);
        }
        self
    }

    /// The checked configuration, for keyed breakers.
    pub(crate) fn check(self) -> Result<(Cow<'static, str>, Config), ConfigError> {
        let rate_ok = |r: f64| r > 0.0 && r <= 1.0;
        if !rate_ok(self.failure_rate) {
            return Err(ConfigError::new(
                POLICY,
                "failure_rate",
                format!("must be in (0, 1], got {}", self.failure_rate),
            ));
        }
        match self.window {
            Window::Count(n) if n == 0 || n > MAX_WINDOW_CALLS => {
                return Err(ConfigError::new(
                    POLICY,
                    "window",
                    format!("count(N) needs 1 <= N <= {MAX_WINDOW_CALLS}, got {n}"),
                ));
            }
            Window::Time(d) if d.is_zero() => {
                return Err(ConfigError::new(
                    POLICY,
                    "window",
                    "time(period) needs a period above zero",
                ));
            }
            _ => {}
        }
        if self.min_calls == Some(0) {
            return Err(ConfigError::new(POLICY, "min_calls", "must be at least 1"));
        }
        if self.consecutive_failures == Some(0) {
            return Err(ConfigError::new(
                POLICY,
                "consecutive_failures",
                "must be at least 1",
            ));
        }
        if let Some(rate) = self.slow_call_rate {
            if self.slow_call.is_none() {
                return Err(ConfigError::new(
                    POLICY,
                    "slow_call_rate",
                    "has no effect without `slow_call`: set the slow-call threshold too",
                ));
            }
            if !rate_ok(rate) {
                return Err(ConfigError::new(
                    POLICY,
                    "slow_call_rate",
                    format!("must be in (0, 1], got {rate}"),
                ));
            }
        }
        if let Some(max) = self.open_for_max.filter(|max| *max < self.open_for) {
            return Err(ConfigError::new(
                POLICY,
                "open_for_max",
                format!(
                    "must be at least `open_for` ({:?}), got {max:?}",
                    self.open_for
                ),
            ));
        }
        if let Some(factor) = self.open_for_factor {
            if self.open_for_max.is_none() {
                return Err(ConfigError::new(
                    POLICY,
                    "open_for_factor",
                    "has no effect without `open_for_max`: set the cap of the growing open time too",
                ));
            }
            if !(factor > 1.0 && factor.is_finite()) {
                return Err(ConfigError::new(
                    POLICY,
                    "open_for_factor",
                    format!("must be finite and above 1, got {factor}"),
                ));
            }
        }
        if self.max_wait_in_half_open == Some(Duration::ZERO) {
            return Err(ConfigError::new(
                POLICY,
                "max_wait_in_half_open",
                "must be above zero (zero would re-open before any trial could finish)",
            ));
        }
        if self.half_open_calls == 0 || self.half_open_calls > MAX_HALF_OPEN_CALLS {
            return Err(ConfigError::new(
                POLICY,
                "half_open_calls",
                format!(
                    "needs 1 <= n <= {MAX_HALF_OPEN_CALLS}, got {}",
                    self.half_open_calls
                ),
            ));
        }
        Ok(self.clamp())
    }

    /// The configuration with every value brought into range (see `register_clamped`).
    pub(crate) fn clamp(self) -> (Cow<'static, str>, Config) {
        let rate = |r: f64, default: f64| {
            if r.is_nan() {
                default
            } else {
                r.clamp(f64::MIN_POSITIVE, 1.0)
            }
        };
        let window = match self.window {
            Window::Count(n) => Window::Count(n.clamp(1, MAX_WINDOW_CALLS)),
            Window::Time(d) => Window::Time(d.max(Duration::from_nanos(1))),
        };
        let mut min_calls = self.min_calls.unwrap_or(100).max(1);
        if let Window::Count(n) = window {
            min_calls = min_calls.min(n);
        }
        let slow_call_rate = match self.slow_call {
            Some(_) => rate(self.slow_call_rate.unwrap_or(1.0), 1.0),
            None => 1.0,
        };
        let config = Config {
            failure_rate: rate(self.failure_rate, 0.5),
            window,
            min_calls,
            #[cfg(feature = "config")]
            min_calls_given: self.min_calls,
            consecutive_failures: self.consecutive_failures.map(|n| n.max(1)),
            slow_call: self.slow_call,
            slow_call_rate,
            open_for: self.open_for,
            open_for_max: self.open_for_max.map(|max| max.max(self.open_for)),
            open_for_factor: match self.open_for_factor {
                Some(f) if f.is_nan() => 2.0,
                Some(f) if f <= 1.0 => 1.0 + f64::EPSILON,
                Some(f) => f.min(f64::MAX),
                None => 2.0,
            },
            half_open_calls: self.half_open_calls.clamp(1, MAX_HALF_OPEN_CALLS),
            max_wait_in_half_open: self
                .max_wait_in_half_open
                .map(|d| d.max(Duration::from_nanos(1))),
            listeners: self.listeners,
            #[cfg(not(loom))]
            probe: self.probe.map(|mut p| {
                p.every = p.every.max(Duration::from_nanos(1));
                p
            }),
        };
        (self.name, config)
    }
}

/// A breaker's configuration in force: fixed, or (feature `config`) an `arc-swap`
/// snapshot that configuration replaces. Read off the success path of a closed
/// breaker (thresholds, open times, trials).
pub(crate) struct ConfigCell {
    #[cfg(feature = "config")]
    cell: arc_swap::ArcSwap<Config>,
    #[cfg(not(feature = "config"))]
    cell: Arc<Config>,
}

impl ConfigCell {
    pub(crate) fn new(config: Arc<Config>) -> Self {
        ConfigCell {
            #[cfg(feature = "config")]
            cell: arc_swap::ArcSwap::new(config),
            #[cfg(not(feature = "config"))]
            cell: config,
        }
    }

    /// The configuration in force.
    #[cfg(feature = "config")]
    #[inline]
    pub(crate) fn get(&self) -> arc_swap::Guard<Arc<Config>> {
        self.cell.load()
    }

    /// The configuration in force.
    #[cfg(not(feature = "config"))]
    #[inline(always)]
    pub(crate) fn get(&self) -> &Arc<Config> {
        &self.cell
    }

    /// A handle on the configuration in force, to keep.
    pub(crate) fn current(&self) -> Arc<Config> {
        #[cfg(feature = "config")]
        return self.cell.load_full();
        #[cfg(not(feature = "config"))]
        Arc::clone(&self.cell)
    }

    /// Replaces the configuration in force.
    #[cfg(feature = "config")]
    pub(crate) fn set(&self, config: Arc<Config>) {
        self.cell.store(config);
    }
}

impl fmt::Debug for ConfigCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self.get(), f)
    }
}

#[cfg(feature = "config")]
impl CircuitBreakerBuilder {
    /// A builder holding `config`'s settings (and listeners), to change some.
    fn rebuilt(name: Cow<'static, str>, config: &Config) -> Self {
        let mut b = CircuitBreakerBuilder::new(name);
        b.failure_rate = config.failure_rate;
        b.window = config.window;
        b.min_calls = config.min_calls_given;
        b.consecutive_failures = config.consecutive_failures;
        b.slow_call = config.slow_call;
        b.slow_call_rate = config.slow_call.map(|_| config.slow_call_rate);
        b.open_for = config.open_for;
        b.open_for_max = config.open_for_max;
        b.open_for_factor = config.open_for_max.map(|_| config.open_for_factor);
        b.half_open_calls = config.half_open_calls;
        b.max_wait_in_half_open = config.max_wait_in_half_open;
        b.listeners = config.listeners.clone();
        #[cfg(not(loom))]
        {
            b.probe = config.probe.clone();
        }
        b
    }
}

#[cfg(feature = "config")]
impl CircuitBreaker {
    /// The configuration in force with `s` over it, checked as `build()` checks.
    pub(crate) fn reconfigured(
        &self,
        s: &crate::integrations::config::BreakerSettings,
    ) -> Result<Config, ConfigError> {
        reconfigured(self.shared.name.clone(), &self.shared.config, s)
    }

    /// Puts a checked configuration in force, keeping the breaker's state.
    pub(crate) fn reconfigure(&self, next: Arc<Config>) {
        self.shared.reconfigure(next);
    }
}

/// `cell`'s configuration with `s` over it, checked as `build()` checks.
#[cfg(feature = "config")]
pub(crate) fn reconfigured(
    name: Cow<'static, str>,
    cell: &ConfigCell,
    s: &crate::integrations::config::BreakerSettings,
) -> Result<Config, ConfigError> {
    let current = cell.get();
    let builder = CircuitBreakerBuilder::rebuilt(name, &current);
    Ok(s.over(builder).check()?.1)
}
