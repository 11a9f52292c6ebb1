//! Building a bulkhead: its settings, checked by `build()` or clamped for the macros.

use std::borrow::Cow;
use std::time::Duration;

use super::adaptive::Adaptive;
use super::{Bulkhead, MAX_CONCURRENT, MAX_WAITING};
use crate::config::ConfigError;

/// The concurrency limit: fixed, or adaptive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Limit {
    Fixed(usize),
    Adaptive(Adaptive),
}

/// Builds a [`Bulkhead`], checking each setting as `#[bulkhead]` does at compile time.
///
/// `max_concurrent` (or `adaptive`) has no default; `max_wait` defaults to zero (a call
/// that finds every slot taken is refused at once) and `max_waiting` to no limit.
#[derive(Debug, Clone)]
#[must_use]
pub struct BulkheadBuilder {
    pub(crate) name: Cow<'static, str>,
    pub(crate) limit: Option<Limit>,
    pub(crate) max_wait: Duration,
    pub(crate) max_waiting: usize,
}

impl BulkheadBuilder {
    pub(crate) fn new(name: Cow<'static, str>) -> Self {
        BulkheadBuilder {
            name,
            limit: None,
            max_wait: Duration::ZERO,
            max_waiting: MAX_WAITING,
        }
    }

    /// At most `n` calls run at once (1 ..= [`MAX_CONCURRENT`]). No default. Replaces
    /// an earlier [`adaptive`](Self::adaptive).
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.limit = Some(Limit::Fixed(n));
        self
    }

    /// A limit that adapts to latency and failures instead of a fixed one. Replaces an
    /// earlier [`max_concurrent`](Self::max_concurrent).
    pub fn adaptive(mut self, adaptive: Adaptive) -> Self {
        self.limit = Some(Limit::Adaptive(adaptive));
        self
    }

    /// [`adaptive`](Self::adaptive), keeping the algorithm an earlier `adaptive`
    /// chose: configuration (feature `config`) gives bounds, not an algorithm.
    #[cfg(feature = "config")]
    pub(crate) fn adaptive_bounds(self, adaptive: Adaptive) -> Self {
        let adaptive = match self.limit {
            Some(Limit::Adaptive(old)) => adaptive.algorithm(old.algorithm),
            _ => adaptive,
        };
        self.adaptive(adaptive)
    }

    /// How long a call may wait for a slot when all are taken; waiters are served first
    /// come, first served. Default zero: refused at once, like Resilience4j's
    /// `maxWaitDuration = 0`. `Duration::MAX` waits without a time limit.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// At most `n` calls wait at once (0 ..= [`MAX_WAITING`]); a call that would be
    /// one more is refused at once. Default: no limit (Resilience4j's semaphore
    /// bulkhead has none either). Only matters with a non-zero `max_wait`.
    pub fn max_waiting(mut self, n: usize) -> Self {
        self.max_waiting = n;
        self
    }

    /// The bulkhead, or what is wrong with its settings. Not registered: see
    /// [`register`](Self::register) for one shared by name.
    pub fn build(self) -> Result<Bulkhead, ConfigError> {
        self.check()?;
        Ok(Bulkhead::from_builder(self))
    }

    /// The bulkhead registered under this name, or this one, built and registered now
    /// (the first configuration registered under a name wins). Registered bulkheads
    /// can be looked up with [`registry::bulkhead`](crate::registry::bulkhead), and
    /// their rejections tell how full they were.
    pub fn register(self) -> Result<Bulkhead, ConfigError> {
        let this = self.configured();
        this.check()?;
        Ok(this.register_unchecked())
    }

    /// With the settings configuration gives this name over these (feature `config`).
    #[inline]
    fn configured(self) -> Self {
        #[cfg(feature = "config")]
        if let Some(s) = crate::integrations::config::bulkhead(&self.name) {
            return s.over(self);
        }
        self
    }

    /// For the `#[bulkhead]` macro: like [`register`](Self::register), but never fails.
    /// Out-of-range values are clamped to the nearest valid one: `max_concurrent` to
    /// `1 ..= MAX_CONCURRENT` (none at all is taken as 1), adaptive bounds as
    /// `min >= 1`, `max >= min`, `min <= initial <= max`, `max_waiting` to at most
    /// `MAX_WAITING`.
    #[doc(hidden)]
    pub fn register_clamped(self) -> Bulkhead {
        let mut this = self.configured();
        this.clamp_limits();
        this.register_unchecked()
    }

    fn clamp_limits(&mut self) {
        self.limit = Some(match self.limit {
            None => Limit::Fixed(1),
            Some(Limit::Fixed(n)) => Limit::Fixed(n.clamp(1, MAX_CONCURRENT)),
            Some(Limit::Adaptive(a)) => Limit::Adaptive(a.clamped()),
        });
        self.max_waiting = self.max_waiting.min(MAX_WAITING);
    }

    fn register_unchecked(self) -> Bulkhead {
        let name = self.name.clone();
        let settings = format!("{self:?}");
        super::BULKHEADS.register("bulkhead", name, settings, || Bulkhead::from_builder(self))
    }

    fn check(&self) -> Result<(), ConfigError> {
        let err = |field, reason: String| Err(ConfigError::new("bulkhead", field, reason));
        match self.limit {
            None => {
                return err(
                    "max_concurrent",
                    "has no default: set `max_concurrent(n)` or `adaptive(Adaptive::new(initial, min, max))`".into(),
                );
            }
            Some(Limit::Fixed(0)) => {
                return err(
                    "max_concurrent",
                    "must be at least 1 (0 would refuse every call)".into(),
                );
            }
            Some(Limit::Fixed(n)) if n > MAX_CONCURRENT => {
                return err(
                    "max_concurrent",
                    format!("must be at most {MAX_CONCURRENT}, not {n}"),
                );
            }
            Some(Limit::Fixed(_)) => {}
            Some(Limit::Adaptive(a)) => {
                if a.min == 0 {
                    return err("adaptive", "`min` must be at least 1".into());
                }
                if a.max > MAX_CONCURRENT {
                    return err(
                        "adaptive",
                        format!("`max` must be at most {MAX_CONCURRENT}, not {}", a.max),
                    );
                }
                if !(a.min <= a.initial && a.initial <= a.max) {
                    return err(
                        "adaptive",
                        format!(
                            "needs min <= initial <= max, not initial = {}, min = {}, max = {}",
                            a.initial, a.min, a.max
                        ),
                    );
                }
            }
        }
        if self.max_waiting > MAX_WAITING {
            return err(
                "max_waiting",
                format!("must be at most {MAX_WAITING}, not {}", self.max_waiting),
            );
        }
        Ok(())
    }
}
