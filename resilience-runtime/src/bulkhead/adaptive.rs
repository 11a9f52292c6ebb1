//! Adaptive concurrency: a limit that follows the latency and the failures of the calls.
//! The algorithms are described in the module docs of [`bulkhead`](super).

use std::time::Duration;

/// Samples in the baseline latency's moving average (Netflix's `Gradient2Limit` uses 600).
pub const BASELINE_WINDOW: u32 = 600;
/// Samples averaged plainly before the moving average starts.
pub const BASELINE_WARMUP: u32 = 10;
/// Gradient: latency up to this multiple of the baseline counts as no queuing.
pub const GRADIENT_TOLERANCE: f64 = 1.5;
/// Gradient: the share of the way to the target the limit moves per sample.
pub const GRADIENT_SMOOTHING: f64 = 0.2;
/// AIMD: latency above this multiple of the baseline lowers the limit.
pub const AIMD_TOLERANCE: f64 = 2.0;
/// The factor a failure (and, for AIMD, a slow call) multiplies the limit by.
pub const DECREASE_FACTOR: f64 = 0.9;

/// A concurrency limit that adapts to latency and failures, in place of a fixed
/// `max_concurrent`: `#[bulkhead(max_concurrent = adaptive(initial = 20, min = 1, max = 200))]`
/// or [`BulkheadBuilder::adaptive`](super::BulkheadBuilder::adaptive).
///
/// The limit starts at `initial`, grows while calls stay about as fast as usual and
/// shrinks when they slow down or fail, never leaving `[min, max]`. See
/// [`AdaptiveAlgorithm`] for the two algorithms and why gradient is the default. The
/// current limit is [`Bulkhead::limit`](super::Bulkhead::limit), also through
/// [`registry::bulkhead`](crate::registry::bulkhead).
///
/// ```
/// use resilience_runtime::bulkhead::{Adaptive, AdaptiveAlgorithm, Bulkhead};
///
/// let bulkhead = Bulkhead::builder("search")
///     .adaptive(Adaptive::new(20, 1, 200).algorithm(AdaptiveAlgorithm::Aimd))
///     .build()
///     .unwrap();
/// assert_eq!(bulkhead.limit(), 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adaptive {
    pub(crate) initial: usize,
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) algorithm: AdaptiveAlgorithm,
}

impl Adaptive {
    /// Starts at `initial`, stays within `[min, max]`; the gradient algorithm.
    /// `build()` requires `1 <= min <= initial <= max`.
    pub const fn new(initial: usize, min: usize, max: usize) -> Self {
        Adaptive {
            initial,
            min,
            max,
            algorithm: AdaptiveAlgorithm::Gradient,
        }
    }

    /// Chooses the algorithm. Default [`AdaptiveAlgorithm::Gradient`].
    pub const fn algorithm(mut self, algorithm: AdaptiveAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The starting limit.
    pub const fn initial(&self) -> usize {
        self.initial
    }

    /// The lowest limit.
    pub const fn min(&self) -> usize {
        self.min
    }

    /// The highest limit.
    pub const fn max(&self) -> usize {
        self.max
    }

    /// The algorithm that moves the limit.
    pub const fn get_algorithm(&self) -> AdaptiveAlgorithm {
        self.algorithm
    }

    /// The same bounds made valid: `min` at least 1, `max` at least `min` (and at most
    /// [`MAX_CONCURRENT`](super::MAX_CONCURRENT)), `initial` within `[min, max]`.
    pub(crate) fn clamped(self) -> Self {
        let min = self.min.clamp(1, super::MAX_CONCURRENT);
        let max = self.max.clamp(min, super::MAX_CONCURRENT);
        Adaptive {
            initial: self.initial.clamp(min, max),
            min,
            max,
            algorithm: self.algorithm,
        }
    }
}

/// How an [`Adaptive`] limit moves; the module docs of
/// [`bulkhead`](mod@crate::bulkhead) give the formulas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AdaptiveAlgorithm {
    /// Proportional to how far latency rose above its baseline (Netflix's gradient
    /// limit); failures cut the limit by 10%. The default: no threshold to tune, and it
    /// settles rather than oscillates.
    #[default]
    Gradient,
    /// Additive increase (+1 per sample), multiplicative decrease (×0.9 on a failure or
    /// a latency above twice the baseline), as Netflix's `AIMDLimit` and TCP congestion
    /// control do.
    Aimd,
}

/// The moving state of an adaptive limit; updated under a lock that no call waits for
/// (a sample that finds it taken is skipped).
#[derive(Debug)]
pub(crate) struct Estimator {
    algorithm: AdaptiveAlgorithm,
    min: f64,
    max: f64,
    limit: f64,
    baseline: f64,
    samples: u32,
}

impl Estimator {
    pub(crate) fn new(config: &Adaptive) -> Self {
        Estimator {
            algorithm: config.algorithm,
            min: config.min as f64,
            max: config.max as f64,
            limit: config.initial as f64,
            baseline: 0.0,
            samples: 0,
        }
    }

    /// New bounds (feature `config`): the limit is kept, brought within them;
    /// returns it. The baseline and the samples seen stay.
    #[cfg(feature = "config")]
    pub(crate) fn set_bounds(&mut self, min: usize, max: usize) -> usize {
        self.min = min as f64;
        self.max = max as f64;
        self.limit = self.limit.clamp(self.min, self.max);
        self.limit as usize
    }

    /// Takes one finished call into account; returns the new limit.
    pub(crate) fn sample(&mut self, latency: Duration, ok: bool, in_flight: usize) -> usize {
        let latency = latency.as_secs_f64();
        let busy = in_flight as f64 * 2.0 >= self.limit;
        if !ok {
            self.limit *= DECREASE_FACTOR;
        } else {
            let baseline = self.update_baseline(latency);
            match self.algorithm {
                AdaptiveAlgorithm::Gradient => {
                    let gradient = if latency <= 0.0 {
                        1.0
                    } else {
                        (GRADIENT_TOLERANCE * baseline / latency).clamp(0.5, 1.0)
                    };
                    if gradient < 1.0 || busy {
                        let headroom = if gradient >= 1.0 {
                            self.limit.sqrt()
                        } else {
                            0.0
                        };
                        let target = self.limit * gradient + headroom;
                        self.limit += (target - self.limit) * GRADIENT_SMOOTHING;
                    }
                }
                AdaptiveAlgorithm::Aimd => {
                    if latency > AIMD_TOLERANCE * baseline {
                        self.limit *= DECREASE_FACTOR;
                    } else if busy {
                        self.limit += 1.0;
                    }
                }
            }
        }
        self.limit = self.limit.clamp(self.min, self.max);
        self.limit as usize
    }

    /// Adds a successful call's latency to the baseline; returns the baseline the
    /// sample is judged against.
    fn update_baseline(&mut self, latency: f64) -> f64 {
        self.samples = self.samples.saturating_add(1);
        if self.samples <= BASELINE_WARMUP {
            self.baseline += (latency - self.baseline) / f64::from(self.samples);
        } else {
            self.baseline += (latency - self.baseline) * 2.0 / f64::from(BASELINE_WINDOW + 1);
        }
        if self.baseline > 2.0 * latency {
            self.baseline *= 0.95;
        }
        self.baseline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn warm_up_averages_plainly() {
        let mut e = Estimator::new(&Adaptive::new(10, 1, 100));
        e.sample(10 * MS, true, 10);
        e.sample(20 * MS, true, 10);
        assert!((e.baseline - 0.015).abs() < 1e-12, "{}", e.baseline);
    }

    #[test]
    fn idle_bulkhead_does_not_grow() {
        for algorithm in [AdaptiveAlgorithm::Gradient, AdaptiveAlgorithm::Aimd] {
            let mut e = Estimator::new(&Adaptive::new(10, 1, 100).algorithm(algorithm));
            for _ in 0..100 {
                assert_eq!(e.sample(10 * MS, true, 4), 10);
            }
        }
    }

    #[test]
    fn zero_latency_is_no_queuing() {
        let mut e = Estimator::new(&Adaptive::new(10, 1, 100));
        for _ in 0..100 {
            e.sample(Duration::ZERO, true, 100);
        }
        assert_eq!(e.limit as usize, 100);
    }
}
