//! One breaker's shared state: the state word, the closed-state window, and the cold
//! part (open time, last reason) that only transitions touch.
//!
//! # The state word
//!
//! One `AtomicU64`: the state (3 bits), an epoch (13 bits) bumped by every
//! transition, and, in half-open, the trial counters (12 bits each: admitted,
//! finished, failed, slow). A permit remembers the state and epoch it was admitted
//! under (its *tag*); its outcome counts only while the tag still matches, so a call
//! that straddles a transition never counts towards the next state's decision, and
//! trial counters change only by compare-and-swap against the same tag.
//!
//! Transitions take the cold mutex (never on a call's hot path), re-check the word,
//! prepare what the new state needs (open deadline, cleared window), then publish the
//! new word; listeners are called after the mutex is released.

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::Duration;

use tokio::time::Instant;

use super::config::{Config, Window as WindowConfig};
use super::window::{CachePadded, CountWindow, Counts, FAILED, RECORDED, SLOW, TimeWindow};
use super::{CircuitState, Metrics, Transition};
use crate::events::EventKind;
use crate::rejection::{HumanDuration, Rejection};
use crate::stats::{Count, Stats};
use crate::sync::{AtomicU32, AtomicU64, Mutex, Ordering};

pub(crate) const CLOSED: u64 = 0;
pub(crate) const OPEN: u64 = 1;
pub(crate) const HALF_OPEN: u64 = 2;
pub(crate) const FORCED_OPEN: u64 = 3;
pub(crate) const DISABLED: u64 = 4;
pub(crate) const METRICS_ONLY: u64 = 5;

const STATE: u64 = 0b111;
const EPOCH: u64 = 0x1FFF << 3;
const EPOCH_ONE: u64 = 1 << 3;
/// State and epoch: what a permit remembers.
const TAG: u64 = 0xFFFF;
const ISSUED: u32 = 16;
const FINISHED: u32 = 28;
const TRIAL_FAILED: u32 = 40;
const TRIAL_SLOW: u32 = 52;
const FIELD: u64 = 0xFFF;

#[inline]
fn field(word: u64, shift: u32) -> u64 {
    (word >> shift) & FIELD
}

/// The word of the next epoch in `state`, trial counters at zero.
fn next_word(word: u64, state: u64) -> u64 {
    ((word & EPOCH).wrapping_add(EPOCH_ONE) & EPOCH) | state
}

fn state_of(word: u64) -> CircuitState {
    match word & STATE {
        CLOSED => CircuitState::Closed,
        OPEN => CircuitState::Open,
        HALF_OPEN => CircuitState::HalfOpen,
        FORCED_OPEN => CircuitState::ForcedOpen,
        METRICS_ONLY => CircuitState::MetricsOnly,
        _ => CircuitState::Disabled,
    }
}

/// A setting configuration may change while the breaker runs (feature `config`): an
/// atomic; without the feature a plain value, read as before.
#[cfg(feature = "config")]
type LiveFlag = crate::sync::AtomicBool;
#[cfg(feature = "config")]
type LiveCount = AtomicU32;
#[cfg(not(feature = "config"))]
type LiveFlag = Fixed<bool>;
#[cfg(not(feature = "config"))]
type LiveCount = Fixed<u32>;

/// A value that never changes, read through the atomics' `load`.
#[cfg(not(feature = "config"))]
struct Fixed<T>(T);

#[cfg(not(feature = "config"))]
impl<T: Copy> Fixed<T> {
    fn new(value: T) -> Self {
        Fixed(value)
    }

    #[inline(always)]
    fn load(&self, _: Ordering) -> T {
        self.0
    }
}

fn nanos_of(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `0.6` as `60%`, `1/3` as `33.3%`.
pub(crate) fn percent(x: f64) -> String {
    let p = (x * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// How long a call took: since its permit's start (when slow calls are detected), or
/// as the caller measured it.
#[derive(Debug, Clone, Copy)]
enum Took {
    Since(Option<crate::clock::Stamp>),
    Measured(Duration),
}

/// What an admitted call is, for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Admitted while closed (or metrics-only), under this tag.
    Closed(u64),
    /// A half-open trial, under this tag.
    Trial(u64),
    /// Admitted while disabled, or already recorded: counts for nothing.
    Passive,
}

pub(crate) struct Shared {
    pub(crate) name: Cow<'static, str>,
    /// Counters and event identity; a keyed breaker's keys share one.
    pub(crate) stats: std::sync::Arc<Stats>,
    pub(crate) config: super::config::ConfigCell,
    head: CachePadded<Head>,
    window: WindowCell,
    consecutive: CachePadded<AtomicU32>,
    rejections: CachePadded<AtomicU64>,
    /// Slow failures among the half-open trials, which the word has no room for:
    /// the trials' tag (upper 32 bits) and their count.
    trial_slow_failed: AtomicU64,
    cold: Mutex<Cold>,
    base: Instant,
    /// Time zero of the time window (on the hot-path clock: `crate::clock`).
    window_clock: crate::clock::Epoch,
    /// Keyed breakers share one name between keys: their reason is not looked up.
    #[cfg_attr(loom, allow(dead_code))]
    keyed: bool,
    /// `consecutive_failures`, 0 when off.
    streak_limit: LiveCount,
    /// Slow-call detection is on: admission reads the clock.
    timed: LiveFlag,
    /// Recording reads the clock (slow calls, or a time window).
    clocked: LiveFlag,
    #[cfg(not(loom))]
    me: std::sync::Weak<Shared>,
    /// The health probe's task, while open.
    #[cfg(not(loom))]
    probing: super::probe::Probing,
}

struct Head {
    word: AtomicU64,
    /// While open: the end of the open period, in nanoseconds since `base`.
    open_until: AtomicU64,
}

// The count window's hot counters stay inline, on cache lines of their own.
#[allow(clippy::large_enum_variant)]
enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    fn new(shape: WindowConfig) -> Self {
        match shape {
            WindowConfig::Count(n) => Window::Count(CountWindow::new(n)),
            WindowConfig::Time(period) => Window::Time(TimeWindow::new(nanos_of(period))),
        }
    }
}

/// The closed state's window: inline and fixed without feature `config`.
#[cfg(not(feature = "config"))]
struct WindowCell(Window);

#[cfg(not(feature = "config"))]
impl WindowCell {
    fn new(window: Window) -> Self {
        WindowCell(window)
    }

    #[inline(always)]
    fn get(&self) -> &Window {
        &self.0
    }
}

/// The closed state's window, which configuration may replace by one of another kind
/// or size (feature `config`): calls read it through one pointer load, no lock and no
/// reference count.
///
/// A replaced window is not freed: a call may still be recording into the window it
/// read before the change. Every window is kept until the breaker is dropped, one per
/// shape: a shape configured again gets its earlier window back, emptied, so memory is
/// bounded by the number of distinct shapes, not by the number of changes.
#[cfg(feature = "config")]
struct WindowCell {
    /// Points into one of `kept`'s windows; only ever read through `&`.
    current: std::sync::atomic::AtomicPtr<Window>,
    kept: std::sync::Mutex<Vec<(WindowConfig, std::sync::Arc<Window>)>>,
}

#[cfg(feature = "config")]
impl WindowCell {
    fn new(window: Window, shape: WindowConfig) -> Self {
        let window = std::sync::Arc::new(window);
        WindowCell {
            current: std::sync::atomic::AtomicPtr::new(std::sync::Arc::as_ptr(&window).cast_mut()),
            kept: std::sync::Mutex::new(vec![(shape, window)]),
        }
    }

    #[inline(always)]
    fn get(&self) -> &Window {
        let window = self.current.load(std::sync::atomic::Ordering::Acquire);
        // SAFETY: `current` always points to a window owned by an `Arc` in `kept`,
        // which is never removed from it while `self` lives (windows are only added),
        // so the window outlives the borrow of `self`; it is only ever accessed
        // through shared references (its state is atomics), and the `Acquire` load
        // pairs with the `Release` store that published it, fully built.
        unsafe { &*window }
    }

    /// Puts a window of `shape` in force: the one kept for that shape, emptied, or a
    /// new one.
    fn replace(&self, shape: WindowConfig) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let window = match kept.iter().find(|(s, _)| *s == shape) {
            Some((_, window)) => {
                match &**window {
                    Window::Count(w) => w.clear(),
                    Window::Time(w) => w.clear(),
                }
                window.clone()
            }
            None => {
                let window = std::sync::Arc::new(Window::new(shape));
                kept.push((shape, window.clone()));
                window
            }
        };
        self.current.store(
            std::sync::Arc::as_ptr(&window).cast_mut(),
            std::sync::atomic::Ordering::Release,
        );
    }
}

/// What `metrics()` reports: the counts, their slow failures (kept apart from the
/// counts that decide), and whether the counts are enough for a decision.
#[derive(Debug, Clone, Copy, Default)]
struct Described {
    counts: Counts,
    slow_failed: u64,
    enough: bool,
}

struct Cold {
    /// The open time of the next opening (doubles on re-opens up to `open_for_max`).
    open_for: Duration,
    /// Why the breaker last opened.
    reason: Option<String>,
    /// What opened it (the window then, or the trials), for `metrics()` while open.
    opened_by: Option<Described>,
    last_transition: Option<Instant>,
}

impl Shared {
    pub(crate) fn new(
        name: Cow<'static, str>,
        config: std::sync::Arc<Config>,
        stats: std::sync::Arc<Stats>,
        keyed: bool,
        #[cfg(not(loom))] me: std::sync::Weak<Shared>,
    ) -> Self {
        let window = Window::new(config.window);
        let timed = config.slow_call.is_some();
        Shared {
            name,
            stats,
            head: CachePadded(Head {
                word: AtomicU64::new(CLOSED),
                open_until: AtomicU64::new(0),
            }),
            clocked: LiveFlag::new(timed || matches!(window, Window::Time(_))),
            #[cfg(not(feature = "config"))]
            window: WindowCell::new(window),
            #[cfg(feature = "config")]
            window: WindowCell::new(window, config.window),
            consecutive: CachePadded(AtomicU32::new(0)),
            rejections: CachePadded(AtomicU64::new(0)),
            trial_slow_failed: AtomicU64::new(0),
            cold: Mutex::new(Cold {
                open_for: config.open_for,
                reason: None,
                opened_by: None,
                last_transition: None,
            }),
            base: Instant::now(),
            window_clock: crate::clock::Epoch::now(),
            keyed,
            streak_limit: LiveCount::new(config.consecutive_failures.unwrap_or(0)),
            timed: LiveFlag::new(timed),
            config: super::config::ConfigCell::new(config),
            #[cfg(not(loom))]
            me,
            #[cfg(not(loom))]
            probing: Default::default(),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        nanos_of(at.saturating_duration_since(self.base))
    }

    fn cold(&self) -> crate::sync::MutexGuard<'_, Cold> {
        self.cold.lock().unwrap_or_else(|e| e.into_inner())
    }

    // -----------------------------------------------------------------------------
    // Admission
    // -----------------------------------------------------------------------------

    /// Admits a call, or says why not. Closed: one load (and the draining flag's).
    #[inline]
    pub(crate) fn admit(&self) -> Result<Kind, Rejection> {
        if crate::lifecycle::is_draining() {
            return Err(crate::lifecycle::refuse(&self.stats));
        }
        let word = self.head.word.load(Ordering::Acquire);
        if word & STATE == CLOSED {
            return Ok(Kind::Closed(word & TAG));
        }
        self.admit_cold(word)
    }

    #[cold]
    #[inline(never)]
    fn admit_cold(&self, mut word: u64) -> Result<Kind, Rejection> {
        loop {
            match word & STATE {
                CLOSED | METRICS_ONLY => return Ok(Kind::Closed(word & TAG)),
                DISABLED => return Ok(Kind::Passive),
                FORCED_OPEN => return Err(self.reject(Duration::MAX)),
                OPEN => {
                    let now = self.nanos(Instant::now());
                    let until = self.head.open_until.load(Ordering::Relaxed);
                    if now < until {
                        return Err(self.reject(Duration::from_nanos(until - now)));
                    }
                    self.to_half_open(word, now);
                    word = self.head.word.load(Ordering::Acquire);
                }
                _ if self.half_open_expired() => {
                    // A trial has held the breaker half-open too long: decide now.
                    self.decide(word & TAG, true);
                    word = self.head.word.load(Ordering::Acquire);
                }
                _ => {
                    if field(word, ISSUED) >= u64::from(self.config.get().half_open_calls) {
                        // Every trial slot is taken; one frees when a trial ends.
                        return Err(self.reject(Duration::ZERO));
                    }
                    match self.head.word.compare_exchange_weak(
                        word,
                        word + (1 << ISSUED),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) => return Ok(Kind::Trial(word & TAG)),
                        Err(actual) => word = actual,
                    }
                }
            }
        }
    }

    fn reject(&self, retry_after: Duration) -> Rejection {
        self.rejections.fetch_add(1, Ordering::Relaxed);
        self.stats.add(Count::Rejected);
        let rejection = Rejection::CircuitOpen {
            name: self.name.clone(),
            retry_after,
        };
        self.stats.emit(|| EventKind::Rejected {
            rejection: rejection.clone(),
        });
        rejection
    }

    // -----------------------------------------------------------------------------
    // Recording
    // -----------------------------------------------------------------------------

    /// Records the outcome of a call admitted as `kind` that started at `start` (set
    /// when slow-call detection is on).
    #[inline(always)] // the closed success path: a branch or two, kept inline
    pub(crate) fn finish(&self, kind: Kind, failed: bool, start: Option<crate::clock::Stamp>) {
        self.stats.add(if failed {
            Count::Failure
        } else {
            Count::Success
        });
        match kind {
            Kind::Closed(tag) => {
                if !failed && !self.clocked.load(Ordering::Relaxed) {
                    if let Window::Count(window) = self.window.get() {
                        if window.is_clean() {
                            // A success into a window of successes changes nothing.
                            self.end_streak();
                            return;
                        }
                    }
                }
                self.finish_closed(tag, failed, start);
            }
            Kind::Trial(tag) => self.finish_trial(tag, failed, start),
            Kind::Passive => {}
        }
    }

    /// Records the outcome of a call admitted as `kind` that the caller timed: it
    /// took `took` (slow if longer than `slow_call`).
    pub(crate) fn finish_in(&self, kind: Kind, failed: bool, took: Duration) {
        self.stats.add(if failed {
            Count::Failure
        } else {
            Count::Success
        });
        match kind {
            Kind::Closed(tag) => {
                let (now, slow) = self.clock(Took::Measured(took));
                self.record_closed(tag, failed, now, slow);
            }
            Kind::Trial(tag) => {
                let (_, slow) = self.clock(Took::Measured(took));
                self.record_trial(tag, failed, slow);
            }
            Kind::Passive => {}
        }
    }

    /// Gives back what a call that counts as neither success nor failure held (a
    /// trial slot), e.g. when it was cancelled or its error is not recorded.
    pub(crate) fn release(&self, kind: Kind) {
        if let Kind::Trial(tag) = kind {
            let mut word = self.head.word.load(Ordering::Acquire);
            loop {
                if word & TAG != tag || field(word, ISSUED) == 0 {
                    return;
                }
                match self.head.word.compare_exchange_weak(
                    word,
                    word - (1 << ISSUED),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return,
                    Err(actual) => word = actual,
                }
            }
        }
    }

    #[inline]
    fn end_streak(&self) {
        if self.streak_limit.load(Ordering::Relaxed) != 0
            && self.consecutive.load(Ordering::Relaxed) != 0
        {
            self.consecutive.store(0, Ordering::Relaxed);
        }
    }

    /// `now` and whether the call was slow, reading the clock only if needed.
    #[inline(always)]
    fn clock(&self, took: Took) -> (Option<crate::clock::Stamp>, bool) {
        if !self.clocked.load(Ordering::Relaxed) {
            return (None, false);
        }
        match took {
            Took::Since(start) => {
                let now = crate::clock::now();
                let slow = match (self.config.get().slow_call, start) {
                    (Some(threshold), Some(start)) => {
                        now.saturating_duration_since(start) > threshold
                    }
                    _ => false,
                };
                (Some(now), slow)
            }
            Took::Measured(took) => {
                let now = matches!(self.window.get(), Window::Time(_)).then(crate::clock::now);
                (now, self.config.get().slow_call.is_some_and(|t| took > t))
            }
        }
    }

    #[inline(never)]
    fn finish_closed(&self, tag: u64, failed: bool, start: Option<crate::clock::Stamp>) {
        let (now, slow) = self.clock(Took::Since(start));
        self.record_closed(tag, failed, now, slow);
    }

    /// Records a closed-state outcome that ended at `now` (read if the window needs
    /// it) and was `slow` or not.
    #[inline(always)]
    fn record_closed(&self, tag: u64, failed: bool, now: Option<crate::clock::Stamp>, slow: bool) {
        let counts = match self.window.get() {
            Window::Count(window) => {
                if !failed && !slow && window.is_clean() {
                    self.end_streak();
                    return;
                }
                if self.head.word.load(Ordering::Acquire) & TAG != tag {
                    return; // admitted before a transition
                }
                let slot = RECORDED | if failed { FAILED } else { 0 } | if slow { SLOW } else { 0 };
                let (word, grew) = window.record(slot);
                // In a count window a plain success never raises a rate: it can only
                // open the breaker by bringing the calls up to `min_calls`.
                if failed || slow || grew {
                    window.decode(word)
                } else {
                    None
                }
            }
            Window::Time(window) => {
                if self.head.word.load(Ordering::Acquire) & TAG != tag {
                    return;
                }
                let now = self
                    .window_clock
                    .nanos_at(now.unwrap_or_else(crate::clock::now));
                window.record(now, failed, slow)
            }
        };
        if let Some((c, failing)) = counts.and_then(|c| Some((c, self.window_verdict(c)?))) {
            if tag & STATE != METRICS_ONLY {
                self.trip(tag, self.verdict_words(c, failing));
            }
            return; // metrics-only: recorded, never opens
        }
        let streak_limit = self.streak_limit.load(Ordering::Relaxed);
        if streak_limit != 0 {
            if failed {
                let n = self.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= streak_limit && tag & STATE != METRICS_ONLY {
                    self.trip(tag, format!("{n} failures in a row"));
                }
            } else {
                self.end_streak();
            }
        }
    }

    /// Whether the window's counts open the breaker: `Some(true)` by the failure
    /// rate, `Some(false)` by the slow-call rate. The thresholds are checked here, on
    /// every recorded call that may decide; the words (`verdict_words`) are made only
    /// when the breaker opens.
    #[inline]
    fn window_verdict(&self, c: Counts) -> Option<bool> {
        let cfg = &self.config.get();
        if c.calls == 0 || c.calls < u64::from(cfg.min_calls) {
            return None;
        }
        let share = |n: u64| n as f64 / c.calls as f64;
        let failing = c.failures > 0 && share(c.failures) >= cfg.failure_rate;
        let slow = cfg.slow_call.is_some() && c.slow > 0 && share(c.slow) >= cfg.slow_call_rate;
        (failing || slow).then_some(failing)
    }

    /// Why the counts `c` open the breaker (`failing`: by the failure rate), in words.
    #[cold]
    #[inline(never)]
    fn verdict_words(&self, c: Counts, failing: bool) -> String {
        let cfg = &self.config.get();
        let share = |n: u64| n as f64 / c.calls as f64;
        if failing {
            let rates = format!(
                "({} >= {})",
                percent(share(c.failures)),
                percent(cfg.failure_rate)
            );
            return match cfg.window {
                WindowConfig::Count(_) => format!(
                    "{} of the last {} calls failed {rates}",
                    c.failures, c.calls
                ),
                WindowConfig::Time(period) => format!(
                    "{} of {} calls in the last {} failed {rates}",
                    c.failures,
                    c.calls,
                    HumanDuration(period)
                ),
            };
        }
        let during = match cfg.window {
            WindowConfig::Count(_) => String::new(),
            WindowConfig::Time(period) => format!(" in the last {}", HumanDuration(period)),
        };
        format!(
            "{} of {} calls{during} slower than {} ({} >= {})",
            c.slow,
            c.calls,
            HumanDuration(cfg.slow_call.unwrap_or_default()),
            percent(share(c.slow)),
            percent(cfg.slow_call_rate)
        )
    }

    #[inline(never)]
    fn finish_trial(&self, tag: u64, failed: bool, start: Option<crate::clock::Stamp>) {
        let (_, slow) = self.clock(Took::Since(start));
        self.record_trial(tag, failed, slow);
    }

    /// Records a trial's outcome.
    #[inline(always)]
    fn record_trial(&self, tag: u64, failed: bool, slow: bool) {
        let add =
            (1 << FINISHED) | (u64::from(failed) << TRIAL_FAILED) | (u64::from(slow) << TRIAL_SLOW);
        let mut word = self.head.word.load(Ordering::Acquire);
        if failed && slow && word & TAG == tag {
            // Counted beside the word (which has no room for it), before the outcome
            // is published there, so that whoever decides sees it.
            self.count_slow_failed_trial(tag);
        }
        loop {
            if word & TAG != tag {
                return; // the breaker moved on (e.g. reset by hand)
            }
            match self.head.word.compare_exchange_weak(
                word,
                word + add,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => word = actual,
            }
        }
        let word = word + add;
        if field(word, FINISHED) >= u64::from(self.config.get().half_open_calls) {
            self.decide(tag, false);
        }
    }

    /// One more slow failure among the trials of `tag` (metrics only).
    fn count_slow_failed_trial(&self, tag: u64) {
        let mut current = self.trial_slow_failed.load(Ordering::Relaxed);
        loop {
            let next = if current >> 32 == tag {
                current + 1
            } else {
                (tag << 32) | 1
            };
            match self.trial_slow_failed.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// The trial counts of the half-open `word`.
    fn trial_counts(&self, word: u64) -> Counts {
        Counts {
            calls: field(word, FINISHED),
            failures: field(word, TRIAL_FAILED),
            slow: field(word, TRIAL_SLOW),
        }
    }

    /// The trials of the half-open `word`, as `metrics()` reports them.
    fn trials_described(&self, word: u64) -> Described {
        let counts = self.trial_counts(word);
        let side = self.trial_slow_failed.load(Ordering::Acquire);
        Described {
            counts,
            slow_failed: if side >> 32 == word & TAG {
                (side & 0xFFFF_FFFF).min(counts.failures).min(counts.slow)
            } else {
                0
            },
            enough: counts.calls >= u64::from(self.config.get().half_open_calls),
        }
    }

    /// The window now, as `metrics()` reports it.
    fn window_described(&self) -> Described {
        let (counts, slow_failed) = match self.window.get() {
            Window::Count(window) => {
                let c = window.counts();
                (c, window.slow_failed(c))
            }
            Window::Time(window) => {
                let idx = window.index(self.window_clock.nanos());
                let c = window.sum(idx);
                (c, window.slow_failed(idx, c))
            }
        };
        Described {
            counts,
            slow_failed,
            enough: counts.calls >= u64::from(self.config.get().min_calls),
        }
    }

    /// What `metrics()` describes for `word`.
    fn described(&self, word: u64, cold: &Cold) -> Described {
        match word & STATE {
            HALF_OPEN => self.trials_described(word),
            OPEN if cold.opened_by.is_some() => cold.opened_by.unwrap_or_default(),
            _ => self.window_described(),
        }
    }

    // -----------------------------------------------------------------------------
    // Transitions
    // -----------------------------------------------------------------------------

    /// Closed (under `tag`) to open.
    #[cold]
    #[inline(never)]
    fn trip(&self, tag: u64, reason: String) {
        let now = Instant::now();
        let mut cold = self.cold();
        let word = self.head.word.load(Ordering::Acquire);
        if word & TAG != tag {
            return; // someone else moved it already
        }
        let until = self.nanos(now).saturating_add(nanos_of(cold.open_for));
        cold.opened_by = Some(self.window_described());
        self.head.open_until.store(until, Ordering::Relaxed);
        self.head
            .word
            .store(next_word(word, OPEN), Ordering::Release);
        cold.reason = Some(reason.clone());
        cold.last_transition = Some(now);
        drop(cold);
        self.notify(CircuitState::Closed, CircuitState::Open, now, Some(reason));
    }

    /// Open (as `word`) to half-open at `now` (nanoseconds since `base`), once the
    /// open period is over. The transition is dated at the end of the open period,
    /// whenever it is noticed; `max_wait_in_half_open` counts from `now`.
    #[cold]
    #[inline(never)]
    fn to_half_open(&self, word: u64, now: u64) {
        let mut cold = self.cold();
        if self.head.word.load(Ordering::Acquire) != word {
            return;
        }
        let until = self.head.open_until.load(Ordering::Relaxed);
        let at = self.base + Duration::from_nanos(until);
        self.set_half_open_deadline(now.max(until));
        self.head
            .word
            .store(next_word(word, HALF_OPEN), Ordering::Release);
        cold.last_transition = Some(at);
        drop(cold);
        self.notify(CircuitState::Open, CircuitState::HalfOpen, at, None);
    }

    /// With `max_wait_in_half_open`: the half-open state that begins at `from`
    /// (nanoseconds since `base`) decides at the end of the wait. Kept in
    /// `open_until`, which half-open does not use otherwise; written before the
    /// half-open word is published.
    fn set_half_open_deadline(&self, from: u64) {
        if let Some(wait) = self.config.get().max_wait_in_half_open {
            self.head
                .open_until
                .store(from.saturating_add(nanos_of(wait)), Ordering::Relaxed);
        }
    }

    /// Whether the half-open state's `max_wait_in_half_open` is over (reads the
    /// clock only when it is set).
    fn half_open_expired(&self) -> bool {
        self.config.get().max_wait_in_half_open.is_some()
            && self.nanos(Instant::now()) >= self.head.open_until.load(Ordering::Relaxed)
    }

    /// The trials of the half-open epoch `tag` decide: once all have finished, or
    /// (`early`) once `max_wait_in_half_open` is over, on those finished by then
    /// (none: re-open). Closes if their failure and slow shares are below the
    /// thresholds, else re-opens.
    #[cold]
    #[inline(never)]
    fn decide(&self, tag: u64, early: bool) {
        let now = Instant::now();
        let mut cold = self.cold();
        let cfg = &self.config.get();
        let mut word = self.head.word.load(Ordering::Acquire);
        let (to, reason, decided) = loop {
            if word & TAG != tag {
                return; // decided already, or moved on
            }
            let trials = self.trial_counts(word);
            let n = trials.calls;
            if !early && n < u64::from(cfg.half_open_calls) {
                return;
            }
            let (failed, slow) = (trials.failures, trials.slow);
            let share = |k: u64| k as f64 / n as f64;
            let reason = if n == 0 {
                Some(format!(
                    "no trial call finished within {} of turning half-open",
                    HumanDuration(cfg.max_wait_in_half_open.unwrap_or_default())
                ))
            } else if failed > 0 && share(failed) >= cfg.failure_rate {
                Some(format!(
                    "{failed} of {n} trial calls failed ({} >= {})",
                    percent(share(failed)),
                    percent(cfg.failure_rate)
                ))
            } else {
                cfg.slow_call
                    .filter(|_| slow > 0 && share(slow) >= cfg.slow_call_rate)
                    .map(|threshold| {
                        format!(
                            "{slow} of {n} trial calls slower than {} ({} >= {})",
                            HumanDuration(threshold),
                            percent(share(slow)),
                            percent(cfg.slow_call_rate)
                        )
                    })
            };
            let to = match &reason {
                Some(_) => {
                    let until = self
                        .nanos(now)
                        .saturating_add(nanos_of(self.grown_open_for(&cold)));
                    self.head.open_until.store(until, Ordering::Relaxed);
                    OPEN
                }
                None => {
                    self.clear_window();
                    CLOSED
                }
            };
            // Only trials still running (decided early) or a late release change the
            // word meanwhile: then decide again on what it holds now.
            match self.head.word.compare_exchange(
                word,
                next_word(word, to),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break (to, reason, word),
                Err(actual) => word = actual,
            }
        };
        if to == OPEN {
            cold.open_for = self.grown_open_for(&cold);
            cold.opened_by = Some(self.trials_described(decided));
            cold.reason.clone_from(&reason);
        } else {
            cold.open_for = cfg.open_for;
        }
        cold.last_transition = Some(now);
        drop(cold);
        self.notify(CircuitState::HalfOpen, state_of(to), now, reason);
    }

    /// The open time of a re-open: the last one times `open_for_factor`, up to
    /// `open_for_max`; unchanged without `open_for_max`.
    fn grown_open_for(&self, cold: &Cold) -> Duration {
        let Some(max) = self.config.get().open_for_max else {
            return cold.open_for;
        };
        Duration::try_from_secs_f64(cold.open_for.as_secs_f64() * self.config.get().open_for_factor)
            .map_or(max, |d| d.min(max))
    }

    /// Empties the window and ends the failure streak.
    fn clear_window(&self) {
        match self.window.get() {
            Window::Count(window) => window.clear(),
            Window::Time(window) => window.clear(),
        }
        self.consecutive.store(0, Ordering::Relaxed);
    }

    /// Empties the window, ends the failure streak and resets the open time, before
    /// the breaker closes.
    fn clear_closed_state(&self, cold: &mut Cold) {
        self.clear_window();
        cold.open_for = self.config.get().open_for;
    }

    /// Moves to `to` by hand, from any state: `FORCED_OPEN`, `DISABLED`, `CLOSED`
    /// (reset, or `transition_to_closed`), `OPEN` (for `open_for`, or the open time
    /// it would use next), `HALF_OPEN` (fresh trials) or `METRICS_ONLY` (fresh
    /// window). The state starts afresh (a new epoch) even if it is already `to`;
    /// listeners and events are told only of a change of state.
    pub(crate) fn set_by_hand(&self, to: u64, open_for: Option<Duration>, reason: Option<String>) {
        let now = Instant::now();
        let mut cold = self.cold();
        match to {
            CLOSED | METRICS_ONLY => self.clear_closed_state(&mut cold),
            OPEN => {
                let word = self.head.word.load(Ordering::Acquire);
                cold.opened_by = Some(self.described(word, &cold));
                let d = open_for.unwrap_or(cold.open_for);
                let until = self.nanos(now).saturating_add(nanos_of(d));
                self.head.open_until.store(until, Ordering::Relaxed);
                cold.reason.clone_from(&reason);
            }
            HALF_OPEN => self.set_half_open_deadline(self.nanos(now)),
            _ => {}
        }
        // The closure always answers `Some`, so both arms hold the previous word.
        let (Ok(old) | Err(old)) =
            self.head
                .word
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| {
                    Some(next_word(w, to))
                });
        if old & STATE == to {
            return; // e.g. a reset of a closed breaker: window cleared, nothing to tell
        }
        cold.last_transition = Some(now);
        drop(cold);
        let reason = match to {
            FORCED_OPEN => Some("forced open by hand".to_owned()),
            _ => reason,
        };
        self.notify(state_of(old), state_of(to), now, reason);
    }

    fn notify(&self, from: CircuitState, to: CircuitState, at: Instant, reason: Option<String>) {
        if matches!(to, CircuitState::Open | CircuitState::ForcedOpen) {
            self.remember_for_messages();
        }
        self.stats.transition(from, to);
        self.stats.emit_at(at, || EventKind::StateChanged {
            from,
            to,
            reason: reason.clone(),
        });
        self.probe_on_transition(from, to);
        let config = self.config.get();
        let listeners = &config.listeners;
        if listeners.is_empty() {
            return;
        }
        let transition = Transition {
            name: self.name.clone(),
            from,
            to,
            at,
            reason,
        };
        let mut panic = None;
        for listener in listeners {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| listener(&transition))) {
                panic.get_or_insert(payload);
            }
        }
        if let Some(payload) = panic {
            if !std::thread::panicking() {
                resume_unwind(payload);
            }
        }
    }

    #[cfg(not(loom))]
    fn remember_for_messages(&self) {
        if !self.keyed {
            super::remember_opened(&self.name, self.me.clone());
        }
    }

    #[cfg(loom)]
    fn remember_for_messages(&self) {}

    // -----------------------------------------------------------------------------
    // Inspection
    // -----------------------------------------------------------------------------

    /// The state now; an open breaker whose open period is over turns half-open here,
    /// and a half-open one whose `max_wait_in_half_open` is over decides here.
    pub(crate) fn state(&self) -> CircuitState {
        let word = self.head.word.load(Ordering::Acquire);
        match word & STATE {
            OPEN => {
                let now = self.nanos(Instant::now());
                if now >= self.head.open_until.load(Ordering::Relaxed) {
                    self.to_half_open(word, now);
                    return self.state();
                }
            }
            HALF_OPEN if self.half_open_expired() => {
                self.decide(word & TAG, true);
                return state_of(self.head.word.load(Ordering::Acquire));
            }
            _ => {}
        }
        state_of(word)
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let state = self.state();
        let cold = self.cold();
        let word = self.head.word.load(Ordering::Acquire);
        let Described {
            counts,
            slow_failed,
            enough: min_calls_reached,
        } = self.described(word, &cold);
        let last_transition = cold.last_transition;
        drop(cold);
        let share = |n: u64| {
            if counts.calls == 0 {
                0.0
            } else {
                n as f64 / counts.calls as f64
            }
        };
        Metrics {
            state,
            calls: counts.calls,
            successes: counts.calls - counts.failures,
            failures: counts.failures,
            slow_calls: counts.slow,
            slow_failures: slow_failed,
            failure_rate: share(counts.failures),
            slow_call_rate: share(counts.slow),
            min_calls_reached,
            rejections: self.rejections.load(Ordering::Relaxed),
            last_transition,
        }
    }

    /// Why calls are rejected now, for [`Rejection`]'s message.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn reason(&self) -> Option<String> {
        let word = self.head.word.load(Ordering::Acquire);
        match word & STATE {
            HALF_OPEN => Some(format!(
                "half-open, all {} trial calls are in flight",
                self.config.get().half_open_calls
            )),
            FORCED_OPEN => Some("forced open by hand".to_owned()),
            _ => self.cold().reason.clone(),
        }
    }
}

impl Shared {
    /// Whether slow-call detection is on (admission reads the clock).
    #[inline(always)]
    pub(crate) fn timed(&self) -> bool {
        self.timed.load(Ordering::Relaxed)
    }
}

#[cfg(feature = "config")]
impl Shared {
    /// Puts a checked configuration in force (feature `config`), keeping the state
    /// (closed, open with the rest of its open period and what opened it, half-open
    /// with its trials), the failure streak and the open time grown by re-openings;
    /// the next opening lasts `next.open_for` unless re-openings have grown it.
    ///
    /// A window of the same kind and size is kept as it is. A new kind or size takes
    /// effect at once with an empty window of that shape: outcomes recorded under
    /// one shape do not translate into another (the last 100 calls say nothing of the
    /// last 60 seconds), and the state they led to is kept.
    pub(crate) fn reconfigure(&self, next: std::sync::Arc<Config>) {
        let mut cold = self.cold();
        let before = self.config.get();
        if cold.open_for == before.open_for {
            cold.open_for = next.open_for;
        } else if let Some(max) = next.open_for_max {
            cold.open_for = cold.open_for.clamp(next.open_for, max);
        } else {
            cold.open_for = next.open_for;
        }
        let reshaped = before.window != next.window;
        drop(before);
        if reshaped {
            // Under the cold mutex: no transition clears the old window meanwhile.
            self.window.replace(next.window);
        }
        let timed = next.slow_call.is_some();
        self.streak_limit
            .store(next.consecutive_failures.unwrap_or(0), Ordering::Relaxed);
        self.timed.store(timed, Ordering::Relaxed);
        // After the window: a call that reads the old flag still matches on the window
        // it finds, and reads the clock if that one needs it.
        self.clocked.store(
            timed || matches!(self.window.get(), Window::Time(_)),
            Ordering::Relaxed,
        );
        self.config.set(next);
    }
}

// -------------------------------------------------------------------------------------
// Health probes
// -------------------------------------------------------------------------------------

#[cfg(not(loom))]
impl Shared {
    /// Starts the probe task on opening; ends it on leaving `Open`.
    fn probe_on_transition(&self, from: CircuitState, to: CircuitState) {
        if from == CircuitState::Open {
            self.probing.left_open();
        }
        if to == CircuitState::Open {
            self.start_probing();
        }
    }

    pub(crate) fn probing(&self) -> &super::probe::Probing {
        &self.probing
    }

    /// Starts the probe task, if the breaker has a probe and none runs.
    pub(crate) fn start_probing(&self) {
        let config = self.config.get();
        if let Some(probe) = &config.probe {
            super::probe::start(self, &self.me, probe);
        }
    }

    /// A probe answered healthy while open: half-open at once (the trials decide).
    pub(crate) fn probe_healthy(&self) {
        let now = Instant::now();
        let mut cold = self.cold();
        let word = self.head.word.load(Ordering::Acquire);
        if word & STATE != OPEN {
            return;
        }
        self.set_half_open_deadline(self.nanos(now));
        self.head
            .word
            .store(next_word(word, HALF_OPEN), Ordering::Release);
        cold.last_transition = Some(now);
        drop(cold);
        self.notify(
            CircuitState::Open,
            CircuitState::HalfOpen,
            now,
            Some("a health probe answered healthy".to_owned()),
        );
    }
}

#[cfg(loom)]
impl Shared {
    fn probe_on_transition(&self, _: CircuitState, _: CircuitState) {}
}

#[cfg(all(test, feature = "config", not(loom)))]
mod tests {
    use super::super::{CircuitBreaker, Window as Shape};
    use super::Window;

    fn reshaped(b: &CircuitBreaker, shape: Shape) {
        let mut next = (**b.shared.config.get()).clone();
        next.window = shape;
        b.shared.reconfigure(std::sync::Arc::new(next));
    }

    #[test]
    fn windows_are_kept_one_per_shape_and_a_shape_that_comes_back_is_emptied() {
        let b = CircuitBreaker::builder("windows-kept")
            .window(Shape::Count(3))
            .build()
            .unwrap();
        let _ =
            b.call_blocking(|| Err::<(), _>(crate::Rejection::ShuttingDown { name: "x".into() }));
        assert_eq!(b.metrics().calls, 1);
        for _ in 0..100 {
            reshaped(&b, Shape::Count(5));
            reshaped(&b, Shape::Count(3));
        }
        let kept = b.shared.window.kept.lock().unwrap();
        assert_eq!(kept.len(), 2, "one window per shape, not per change");
        drop(kept);
        assert!(matches!(b.shared.window.get(), Window::Count(_)));
        assert_eq!(
            b.metrics().calls,
            0,
            "the window of count(3) came back empty"
        );
    }
}
