//! For random configurations and random sequences of admissions, outcomes (timed by
//! the breaker or by the caller), time steps and manual transitions (every
//! `transition_to_*`, `force_open`, `disable`, `reset`), the breaker decides exactly as
//! a small single-threaded reference model of the documented semantics, and its
//! metrics say what the model's do (while open: what opened it).

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use resilience_runtime::circuit_breaker::{Permit, Window};
use resilience_runtime::{CircuitBreaker, CircuitState, Rejection};

// ---------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Config {
    window: Window,
    failure_rate: f64,
    min_calls: u32,
    consecutive: Option<u32>,
    slow_call: Option<u64>, // nanos
    slow_rate: f64,
    open_for: u64, // nanos
    open_for_max: Option<u64>,
    /// With `open_for_max` only.
    open_for_factor: Option<f64>,
    half_open_calls: u32,
    max_wait_in_half_open: Option<u64>, // nanos
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Admission {
    Closed,
    Trial,
    Passive,
    Rejected(Duration),
}

#[derive(Debug, Clone, Copy)]
struct ModelPermit {
    kind: Admission,
    epoch: u64,
    start: u64,
}

#[derive(Debug, Clone, Copy)]
struct Outcome {
    at: u64,
    failed: bool,
    slow: bool,
}

/// Calls, failures, slow calls, slow failures; and whether they reach the minimum.
type Counts = (u64, u64, u64, u64, bool);

struct Model {
    cfg: Config,
    state: CircuitState,
    epoch: u64,
    now: u64,
    window: VecDeque<Outcome>,
    streak: u32,
    open_until: u64,
    open_for: u64,
    issued: u32,
    finished: u32,
    trial_failed: u32,
    trial_slow: u32,
    trial_slow_failed: u32,
    /// While half-open with `max_wait_in_half_open`: when the trials decide.
    half_open_until: u64,
    /// While open: what opened it.
    opened_by: Counts,
}

const BUCKETS: u64 = 64;

impl Model {
    fn new(cfg: Config) -> Self {
        Model {
            open_for: cfg.open_for,
            cfg,
            state: CircuitState::Closed,
            epoch: 0,
            now: 0,
            window: VecDeque::new(),
            streak: 0,
            open_until: 0,
            issued: 0,
            finished: 0,
            trial_failed: 0,
            trial_slow: 0,
            trial_slow_failed: 0,
            half_open_until: 0,
            opened_by: (0, 0, 0, 0, false),
        }
    }

    fn go(&mut self, to: CircuitState) {
        self.state = to;
        self.epoch += 1;
        self.issued = 0;
        self.finished = 0;
        self.trial_failed = 0;
        self.trial_slow = 0;
        self.trial_slow_failed = 0;
        if to == CircuitState::HalfOpen {
            self.half_open_until =
                self.now + self.cfg.max_wait_in_half_open.unwrap_or(u64::MAX / 4);
        }
    }

    fn clear(&mut self) {
        self.window.clear();
        self.streak = 0;
        self.open_for = self.cfg.open_for;
    }

    fn close(&mut self) {
        self.clear();
        self.go(CircuitState::Closed);
    }

    fn open(&mut self, opened_by: Counts) {
        self.open_for_this(self.open_for, opened_by);
    }

    fn open_for_this(&mut self, open_for: u64, opened_by: Counts) {
        self.open_until = self.now + open_for;
        self.opened_by = opened_by;
        self.go(CircuitState::Open);
    }

    /// What `state()` and every admission do first.
    fn observe(&mut self) -> CircuitState {
        if self.state == CircuitState::Open && self.now >= self.open_until {
            self.go(CircuitState::HalfOpen);
        }
        if self.state == CircuitState::HalfOpen && self.now >= self.half_open_until {
            self.decide();
        }
        self.state
    }

    fn trials(&self) -> Counts {
        (
            u64::from(self.finished),
            u64::from(self.trial_failed),
            u64::from(self.trial_slow),
            u64::from(self.trial_slow_failed),
            self.finished >= self.cfg.half_open_calls,
        )
    }

    /// The finished trials decide (all of them, or those finished at the deadline).
    fn decide(&mut self) {
        let n = f64::from(self.finished);
        let reopen = self.finished == 0
            || (self.trial_failed > 0 && f64::from(self.trial_failed) / n >= self.cfg.failure_rate)
            || (self.cfg.slow_call.is_some()
                && self.trial_slow > 0
                && f64::from(self.trial_slow) / n >= self.cfg.slow_rate);
        if reopen {
            if let Some(max) = self.cfg.open_for_max {
                let factor = self.cfg.open_for_factor.unwrap_or(2.0);
                let grown = Duration::try_from_secs_f64(
                    Duration::from_nanos(self.open_for).as_secs_f64() * factor,
                )
                .map_or(max, |d| (d.as_nanos() as u64).min(max));
                self.open_for = grown;
            }
            let trials = self.trials();
            self.open(trials);
        } else {
            self.close();
        }
    }

    /// What `metrics()` describes now, without observing.
    fn described(&self) -> Counts {
        match self.state {
            CircuitState::HalfOpen => self.trials(),
            CircuitState::Open => self.opened_by,
            _ => self.counts(),
        }
    }

    fn acquire(&mut self) -> ModelPermit {
        let kind = match self.observe() {
            CircuitState::Closed | CircuitState::MetricsOnly => Admission::Closed,
            CircuitState::Disabled => Admission::Passive,
            CircuitState::ForcedOpen => Admission::Rejected(Duration::MAX),
            CircuitState::Open => {
                Admission::Rejected(Duration::from_nanos(self.open_until - self.now))
            }
            CircuitState::HalfOpen => {
                if self.issued < self.cfg.half_open_calls {
                    self.issued += 1;
                    Admission::Trial
                } else {
                    Admission::Rejected(Duration::ZERO)
                }
            }
        };
        ModelPermit {
            kind,
            epoch: self.epoch,
            start: self.now,
        }
    }

    /// The window's counts now.
    fn counts(&self) -> Counts {
        let live: Vec<&Outcome> = match self.cfg.window {
            Window::Count(_) => self.window.iter().collect(),
            Window::Time(period) => {
                let period = period.as_nanos() as u64;
                let buckets = BUCKETS.min(period);
                let width = period / buckets;
                self.window
                    .iter()
                    .filter(|o| self.now / width - o.at / width < buckets)
                    .collect()
            }
        };
        let calls = live.len() as u64;
        let failures = live.iter().filter(|o| o.failed).count() as u64;
        let slow = live.iter().filter(|o| o.slow).count() as u64;
        let slow_failed = live.iter().filter(|o| o.slow && o.failed).count() as u64;
        (
            calls,
            failures,
            slow,
            slow_failed,
            calls >= u64::from(self.cfg.min_calls),
        )
    }

    fn metrics(&mut self) -> (CircuitState, Counts) {
        let state = self.observe();
        (state, self.described())
    }

    /// `failed`: `Some(true)` failure, `Some(false)` success, `None` neither;
    /// `took`: the duration the caller measured, if it did.
    fn finish(&mut self, permit: ModelPermit, failed: Option<bool>, took: Option<u64>) {
        let took = took.unwrap_or(self.now - permit.start);
        let slow = self.cfg.slow_call.is_some_and(|t| took > t);
        let current = permit.epoch == self.epoch;
        match (permit.kind, failed) {
            (Admission::Closed, Some(failed)) if current => {
                self.window.push_back(Outcome {
                    at: self.now,
                    failed,
                    slow,
                });
                if let Window::Count(n) = self.cfg.window {
                    while self.window.len() > n as usize {
                        self.window.pop_front();
                    }
                }
                if self.state == CircuitState::MetricsOnly {
                    return; // recorded, never opens
                }
                let counts = self.counts();
                let (c, f, s, _, _) = counts;
                let share = |k: u64| k as f64 / c as f64;
                let over = c > 0
                    && c >= u64::from(self.cfg.min_calls)
                    && ((f > 0 && share(f) >= self.cfg.failure_rate)
                        || (self.cfg.slow_call.is_some()
                            && s > 0
                            && share(s) >= self.cfg.slow_rate));
                if over {
                    self.open(counts);
                    return;
                }
                if let Some(limit) = self.cfg.consecutive {
                    if failed {
                        self.streak += 1;
                        if self.streak >= limit {
                            self.open(counts);
                        }
                    } else {
                        self.streak = 0;
                    }
                }
            }
            (Admission::Trial, Some(failed)) if current => {
                self.finished += 1;
                self.trial_failed += u32::from(failed);
                self.trial_slow += u32::from(slow);
                self.trial_slow_failed += u32::from(slow && failed);
                if self.finished == self.cfg.half_open_calls {
                    self.decide();
                }
            }
            (Admission::Trial, None) if current => {
                self.issued -= 1;
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------
// Random inputs
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    /// Finish the permit at this index (mod the number held); with a duration in
    /// microseconds, as the caller measured it.
    Finish(usize, Option<bool>, Option<u64>),
    /// Advance the clock by this many microseconds.
    Advance(u64),
    State,
    ForceOpen,
    Disable,
    Reset,
    ToOpen,
    /// `transition_to_open_for` this many microseconds.
    ToOpenFor(u64),
    ToHalfOpen,
    ToClosed,
    ToMetricsOnly,
}

fn rate() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.25),
        Just(0.5),
        Just(0.6),
        Just(1.0),
        (1u32..=100).prop_map(|p| f64::from(p) / 100.0),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    let window = prop_oneof![
        (1u32..=8).prop_map(Window::Count),
        prop_oneof![Just(640u64), Just(1_000), Just(10_000), Just(100)]
            .prop_map(|us| Window::Time(Duration::from_micros(us))),
    ];
    (
        window,
        rate(),
        1u32..=8,
        proptest::option::weighted(0.3, 1u32..=4),
        proptest::option::weighted(0.3, 1u64..=300),
        rate(),
        0u64..=500,
        proptest::option::weighted(0.3, 0u64..=2_000),
        1u32..=4,
        proptest::option::weighted(0.5, prop_oneof![Just(1.5f64), 1.01f64..4.0]),
        proptest::option::weighted(0.3, 1u64..=600),
    )
        .prop_map(
            |(
                window,
                failure_rate,
                min_calls,
                consecutive,
                slow_us,
                slow_rate,
                open_us,
                max_extra,
                half,
                factor,
                max_wait_us,
            )| {
                let min_calls = match window {
                    Window::Count(n) => min_calls.min(n),
                    Window::Time(_) => min_calls,
                };
                Config {
                    window,
                    failure_rate,
                    min_calls,
                    consecutive,
                    slow_call: slow_us.map(|us| us * 1_000),
                    slow_rate: if slow_us.is_some() { slow_rate } else { 1.0 },
                    open_for: open_us * 1_000,
                    open_for_max: max_extra.map(|extra| (open_us + extra) * 1_000),
                    open_for_factor: factor.filter(|_| max_extra.is_some()),
                    half_open_calls: half,
                    max_wait_in_half_open: max_wait_us.map(|us| us * 1_000),
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        4 => Just(Some(false)),
        4 => Just(Some(true)),
        1 => Just(None),
    ];
    prop_oneof![
        10 => Just(Op::Acquire),
        10 => (
            any::<usize>(),
            outcome,
            proptest::option::weighted(0.3, prop_oneof![0u64..=400, Just(300), Just(301)])
        )
            .prop_map(|(i, o, took)| Op::Finish(i, o, took)),
        6 => prop_oneof![0u64..=20, 0u64..=400, Just(100), Just(1_000)].prop_map(Op::Advance),
        2 => Just(Op::State),
        1 => prop_oneof![Just(Op::ForceOpen), Just(Op::Disable), Just(Op::Reset)],
        2 => prop_oneof![
            Just(Op::ToOpen),
            (0u64..=800).prop_map(Op::ToOpenFor),
            Just(Op::ToHalfOpen),
            Just(Op::ToClosed),
            Just(Op::ToMetricsOnly),
        ],
    ]
}

// ---------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------

fn build(cfg: &Config) -> CircuitBreaker {
    let mut b = CircuitBreaker::builder("proptest")
        .window(cfg.window)
        .failure_rate(cfg.failure_rate)
        .min_calls(cfg.min_calls)
        .open_for(Duration::from_nanos(cfg.open_for))
        .half_open_calls(cfg.half_open_calls);
    if let Some(n) = cfg.consecutive {
        b = b.consecutive_failures(n);
    }
    if let Some(t) = cfg.slow_call {
        b = b
            .slow_call(Duration::from_nanos(t))
            .slow_call_rate(cfg.slow_rate);
    }
    if let Some(max) = cfg.open_for_max {
        b = b.open_for_max(Duration::from_nanos(max));
    }
    if let Some(f) = cfg.open_for_factor {
        b = b.open_for_factor(f);
    }
    if let Some(d) = cfg.max_wait_in_half_open {
        b = b.max_wait_in_half_open(Duration::from_nanos(d));
    }
    b.build().unwrap()
}

fn admission(result: &Result<Permit<'_>, Rejection>) -> Admission {
    match result {
        Ok(p) if p.is_trial() => Admission::Trial,
        Ok(_) => Admission::Closed,
        Err(r) => Admission::Rejected(r.retry_after().unwrap()),
    }
}

fn check(cfg: Config, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let _clock = rt.enter();
    let breaker = build(&cfg);
    let mut model = Model::new(cfg);
    let mut held: Vec<(Permit<'_>, ModelPermit)> = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Acquire => {
                let real = breaker.try_acquire();
                let expected = model.acquire();
                let got = admission(&real);
                // A disabled breaker's permits are not trials: they read as closed.
                let want = match expected.kind {
                    Admission::Passive => Admission::Closed,
                    other => other,
                };
                prop_assert_eq!(got, want, "step {}", step);
                if let Ok(permit) = real {
                    held.push((permit, expected));
                }
            }
            Op::Finish(i, outcome, took) => {
                if held.is_empty() {
                    continue;
                }
                let (permit, expected) = held.remove(i % held.len());
                let measured = took.map(Duration::from_micros);
                match (outcome, measured) {
                    (Some(false), None) => permit.record_success(),
                    (Some(true), None) => permit.record_failure(),
                    (Some(false), Some(d)) => permit.record_success_in(d),
                    (Some(true), Some(d)) => permit.record_failure_in(d),
                    (None, _) if i % 2 == 0 => permit.record_ignored(),
                    (None, _) => drop(permit),
                }
                model.finish(expected, outcome, took.map(|us| us * 1_000));
            }
            Op::Advance(us) => {
                rt.block_on(tokio::time::advance(Duration::from_micros(us)));
                model.now += us * 1_000;
            }
            Op::State => {
                prop_assert_eq!(breaker.state(), model.observe(), "step {}", step);
            }
            Op::ForceOpen => {
                breaker.force_open();
                model.go(CircuitState::ForcedOpen);
            }
            Op::Disable => {
                breaker.disable();
                model.go(CircuitState::Disabled);
            }
            Op::Reset => {
                breaker.reset();
                model.close();
            }
            Op::ToOpen => {
                breaker.transition_to_open();
                let (now, open_for) = (model.described(), model.open_for);
                model.open_for_this(open_for, now);
            }
            Op::ToOpenFor(us) => {
                breaker.transition_to_open_for(Duration::from_micros(us));
                let now = model.described();
                model.open_for_this(us * 1_000, now);
            }
            Op::ToHalfOpen => {
                breaker.transition_to_half_open();
                model.go(CircuitState::HalfOpen);
            }
            Op::ToClosed => {
                breaker.transition_to_closed();
                model.close();
            }
            Op::ToMetricsOnly => {
                breaker.transition_to_metrics_only();
                model.clear();
                model.go(CircuitState::MetricsOnly);
            }
        }
        let m = breaker.metrics();
        let (state, (calls, failures, slow, slow_failed, reached)) = model.metrics();
        prop_assert_eq!(
            (
                m.state,
                m.calls,
                m.failures,
                m.slow_calls,
                m.slow_failures,
                m.min_calls_reached
            ),
            (state, calls, failures, slow, slow_failed, reached),
            "step {}",
            step
        );
        prop_assert_eq!(m.successes, m.calls - m.failures);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn breaker_matches_the_reference_model(
        cfg in config(),
        ops in proptest::collection::vec(op(), 1..300),
    ) {
        check(cfg, ops)?;
    }
}
