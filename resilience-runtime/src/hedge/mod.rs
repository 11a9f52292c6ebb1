//! Hedge: when a call is slow, start a copy of it, and take the first `Ok`.
//!
//! `#[hedge(delay = "50ms", max_hedges = 1, name = "...")]` on an async function, or by
//! hand:
//!
//! ```
//! use std::time::Duration;
//! use resilience_runtime::hedge::Hedge;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let hedge = Hedge::builder("search")
//!     .delay(Duration::from_millis(50))
//!     .max_hedges(1)
//!     .build()
//!     .unwrap();
//! let mut copy = 0;
//! let answer: Result<&str, String> = hedge
//!     .call(|| {
//!         copy += 1;
//!         let slow = copy == 1; // the first copy hangs; the hedge answers
//!         async move {
//!             let took = if slow { 10_000 } else { 5 };
//!             tokio::time::sleep(Duration::from_millis(took)).await;
//!             Ok(if slow { "first" } else { "hedge" })
//!         }
//!     })
//!     .await;
//! assert_eq!(answer, Ok("hedge"));
//! # }
//! ```
//!
//! - The call's first copy starts at once. If no copy has answered `delay` after the
//!   last one started, the next starts, up to `max_hedges` copies after the first (1 to
//!   [`MAX_HEDGES`]): with no errors, copy `k` starts at `k × delay`. An error from a
//!   running copy starts the next one at once (the next delay counts from then).
//! - The first `Ok` is returned, and every other copy is dropped at that moment
//!   (cancelled at its `.await`). When every copy has failed and no more may start, the
//!   last error to arrive is returned.
//! - `delay = 0` starts every copy at once.
//! - [`HedgeDelay::Percentile`]: the delay is the P-th percentile (1 to 99) of this
//!   hedge's recent successful latencies (each the winning copy's, from its start),
//!   kept in bounded memory (two rotating HDR histograms of 1 000 latencies); until
//!   [`MIN_SAMPLES`] latencies are recorded nothing is hedged, not even on an error.
//! - Each copy after the first emits
//!   [`EventKind::Hedged`](crate::events::EventKind::Hedged) and is counted in
//!   `resilience_hedges_total`.
//!
//! A call whose first copy answers before the delay costs what `tokio::time::timeout`
//! costs (one timer, armed on the first poll that finds the copy pending; none if it
//! answers in its first poll) and allocates nothing. Once a second copy is due, the
//! race's state is boxed once and each later copy once. Time is `tokio::time`'s.

mod call;
mod latency;

pub use call::HedgeCall;
pub use latency::MIN_SAMPLES;

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::config::ConfigError;
use crate::events::PolicyKind;
use crate::stats::Stats;

/// The most copies after the first (`max_hedges`).
pub const MAX_HEDGES: u32 = 10;

/// When the next copy starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HedgeDelay {
    /// This long after the previous copy started.
    Fixed(Duration),
    /// The given percentile (1 to 99) of recent successful latencies.
    Percentile(u8),
}

/// Runs copies of a slow call and takes the first `Ok`; see the [module docs](self).
#[derive(Clone)]
pub struct Hedge {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) stats: &'static Stats,
    pub(crate) delay: HedgeDelay,
    pub(crate) max_hedges: u32,
    pub(crate) latencies: Option<latency::Latencies>,
}

impl std::fmt::Debug for Hedge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hedge")
            .field("name", &self.name())
            .field("delay", &self.inner.delay)
            .field("max_hedges", &self.inner.max_hedges)
            .finish()
    }
}

impl Hedge {
    /// A builder for a hedge named `name`: `delay` 0 unless set, `max_hedges` 1.
    pub fn builder(name: impl Into<Cow<'static, str>>) -> HedgeBuilder {
        HedgeBuilder {
            name: name.into(),
            delay: HedgeDelay::Fixed(Duration::ZERO),
            max_hedges: 1,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.inner.stats.name
    }

    /// When copies start.
    pub fn delay(&self) -> HedgeDelay {
        self.inner.delay
    }

    /// The most copies after the first.
    pub fn max_hedges(&self) -> u32 {
        self.inner.max_hedges
    }

    /// The delay a call starting now would wait before its next copy; `None` while a
    /// percentile has too few latencies (nothing is hedged).
    pub fn current_delay(&self) -> Option<Duration> {
        self.inner.current_delay()
    }

    /// Runs the call `copy()` makes, and more copies of it as the [module docs](self)
    /// say; `copy` is called once per copy.
    pub fn call<T, E, M, F>(&self, copy: M) -> HedgeCall<'_, M, F>
    where
        M: FnMut() -> F,
        F: Future<Output = Result<T, E>>,
    {
        HedgeCall::new(&self.inner, copy)
    }
}

impl Inner {
    #[inline]
    pub(crate) fn current_delay(&self) -> Option<Duration> {
        match self.delay {
            HedgeDelay::Fixed(d) => Some(d),
            HedgeDelay::Percentile(_) => self.latencies.as_ref()?.delay(),
        }
    }
}

/// Settings of a [`Hedge`]; [`Hedge::builder`] makes one.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` or `register`"]
pub struct HedgeBuilder {
    name: Cow<'static, str>,
    delay: HedgeDelay,
    max_hedges: u32,
}

impl HedgeBuilder {
    /// A fixed delay between copies (zero: every copy at once).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = HedgeDelay::Fixed(delay);
        self
    }

    /// The delay is the `percentile` (1 to 99) of recent successful latencies.
    pub fn percentile(mut self, percentile: u8) -> Self {
        self.delay = HedgeDelay::Percentile(percentile);
        self
    }

    /// The most copies after the first, 1 to [`MAX_HEDGES`]. Default 1.
    pub fn max_hedges(mut self, max_hedges: u32) -> Self {
        self.max_hedges = max_hedges;
        self
    }

    /// The hedge, or what is wrong with its settings. Not registered: see
    /// [`register`](Self::register).
    pub fn build(self) -> Result<Hedge, ConfigError> {
        self.check()?;
        Ok(self.make())
    }

    /// The hedge registered under this name, or this one, built and registered now.
    pub fn register(self) -> Result<Hedge, ConfigError> {
        self.check()?;
        Ok(self.register_unchecked())
    }

    /// For the `#[hedge]` macro: like [`register`](Self::register), but never fails;
    /// `max_hedges` is clamped to 1..=[`MAX_HEDGES`], a percentile to 1..=99.
    #[doc(hidden)]
    pub fn register_clamped(mut self) -> Hedge {
        self.max_hedges = self.max_hedges.clamp(1, MAX_HEDGES);
        if let HedgeDelay::Percentile(p) = &mut self.delay {
            *p = (*p).clamp(1, 99);
        }
        self.register_unchecked()
    }

    fn check(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_HEDGES).contains(&self.max_hedges) {
            return Err(ConfigError::new(
                "hedge",
                "max_hedges",
                format!(
                    "must be from 1 to {MAX_HEDGES}, not {}: the copies started after the first",
                    self.max_hedges
                ),
            ));
        }
        if let HedgeDelay::Percentile(p) = self.delay {
            if !(1..=99).contains(&p) {
                return Err(ConfigError::new(
                    "hedge",
                    "percentile",
                    format!("must be from 1 to 99, not {p}"),
                ));
            }
        }
        Ok(())
    }

    fn register_unchecked(self) -> Hedge {
        static HEDGES: crate::named::Registry<Hedge> = crate::named::Registry::new();
        let name = self.name.clone();
        let described = format!("delay: {:?}, max_hedges: {}", self.delay, self.max_hedges);
        HEDGES.register("hedge", name, described, || self.make())
    }

    fn make(self) -> Hedge {
        let latencies = match self.delay {
            HedgeDelay::Percentile(p) => Some(latency::Latencies::new(p)),
            HedgeDelay::Fixed(_) => None,
        };
        Hedge {
            inner: Arc::new(Inner {
                stats: crate::stats::register(PolicyKind::Hedge, self.name),
                delay: self.delay,
                max_hedges: self.max_hedges,
                latencies,
            }),
        }
    }
}
