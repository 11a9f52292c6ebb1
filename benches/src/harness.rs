//! Timing a case: on one thread, or on two threads sharing one instance.
//!
//! Every case is a loop of calls packed into one future (a [`Batch`]); the runtime is
//! entered once per batch (`block_on`), never per call, so the figures are the cost of
//! the calls, not of entering tokio. The runtime is a multi-thread one, as most
//! services run, and the batch runs on the measuring thread itself (`block_on` from
//! outside the workers), so two measuring threads share the runtime's handle and
//! timer the way two workers of a real service do.
//!
//! # Two threads on a shared machine
//!
//! On a 2-core machine shared with other work, "two threads" only means something if
//! both really ran at the same time. Each thread records its wall-clock span and its
//! own CPU time ([`thread_cpu_time`]). The time both surely ran at once is at least
//! the overlap of the two spans minus the time each thread spent descheduled inside
//! its span (wall minus CPU time); [`Overlap`] is that lower bound over the longer
//! span. A sample whose overlap is below [`MIN_OVERLAP`] is dropped and taken again
//! (up to [`MAX_TRIES`] times; if none reaches it, the best is kept and counted as
//! forced). [`overlap_stats`] gives the tally per case for the report.

use std::collections::BTreeMap;
use std::future::Future;
use std::hint::spin_loop;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

/// One batch of calls of a case, ready to be awaited.
pub type Batch = Pin<Box<dyn Future<Output = ()>>>;

/// Makes the batch of a case: `(calls, seed)`; call `n` gets the argument `seed + n`.
pub type MakeBatch = fn(u64, u64) -> Batch;

/// A sample of two threads is kept when both surely ran at once for at least this
/// share of the longer thread's span.
pub const MIN_OVERLAP: f64 = 0.9;

/// Samples taken at most for one kept two-thread sample.
pub const MAX_TRIES: u32 = 20;

/// The argument offset of the second thread, so that keyed cases see other keys too.
const SECOND_THREAD_SEED: u64 = 7919;

/// The runtime every batch runs in: multi-thread, time enabled, one idle worker.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .expect("a tokio runtime")
    });
    &RUNTIME
}

/// Runs `calls` calls of a case on this thread, the runtime entered once, and returns
/// the time they took.
pub fn time_one(make: MakeBatch, calls: u64) -> Duration {
    let batch = make(calls, 0);
    runtime().block_on(async move {
        let start = Instant::now();
        batch.await;
        start.elapsed()
    })
}

/// This thread's CPU time (user and system), from `CLOCK_THREAD_CPUTIME_ID`.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What one thread of a two-thread sample saw.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: Instant,
    end: Instant,
    cpu: Duration,
}

impl Span {
    fn wall(&self) -> Duration {
        self.end - self.start
    }

    /// Time inside the span the thread was not running.
    fn off_cpu(&self) -> Duration {
        self.wall().saturating_sub(self.cpu)
    }
}

/// How much of a two-thread sample both threads surely ran at once: a lower bound, as
/// a share (0 to 1) of the longer thread's span.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Overlap(pub f64);

fn overlap(a: &Span, b: &Span) -> Overlap {
    let start = a.start.max(b.start);
    let end = a.end.min(b.end);
    let shared = end.saturating_duration_since(start);
    let sure = shared.saturating_sub(a.off_cpu() + b.off_cpu());
    let longer = a.wall().max(b.wall());
    if longer.is_zero() {
        return Overlap(0.0);
    }
    Overlap(sure.as_secs_f64() / longer.as_secs_f64())
}

/// Both threads wait here, spinning (yielding now and then), so that they start
/// within a fraction of a microsecond of each other.
struct SpinBarrier {
    arrived: AtomicUsize,
}

impl SpinBarrier {
    fn wait(&self, parties: usize) {
        self.arrived.fetch_add(1, Ordering::AcqRel);
        let mut spins = 0u32;
        while self.arrived.load(Ordering::Acquire) < parties {
            spins = spins.wrapping_add(1);
            if spins % 1024 == 0 {
                std::thread::yield_now();
            } else {
                spin_loop();
            }
        }
    }
}

/// One two-thread sample: both threads run `calls` calls of the case at once on one
/// shared instance.
fn sample_two(make: MakeBatch, calls: u64) -> (Duration, Overlap) {
    let barrier = SpinBarrier {
        arrived: AtomicUsize::new(0),
    };
    let spans: Vec<Span> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2u64)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    let batch = make(calls, t * SECOND_THREAD_SEED);
                    runtime().block_on(async move {
                        barrier.wait(2);
                        let cpu = thread_cpu_time();
                        let start = Instant::now();
                        batch.await;
                        let end = Instant::now();
                        Span {
                            start,
                            end,
                            cpu: thread_cpu_time() - cpu,
                        }
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a benchmark thread panicked"))
            .collect()
    });
    let per_thread = (spans[0].wall() + spans[1].wall()) / 2;
    (per_thread, overlap(&spans[0], &spans[1]))
}

/// Two-thread samples shorter than this (criterion's first warm-up batches, too short
/// for the threads to start together) are not tallied.
pub const MIN_TALLIED_SPAN: Duration = Duration::from_micros(200);

/// The tally of two-thread samples of one case (those of at least
/// [`MIN_TALLIED_SPAN`]).
#[derive(Debug, Clone, Default)]
pub struct OverlapStats {
    /// Samples kept (their overlap reached [`MIN_OVERLAP`]).
    pub kept: u64,
    /// Samples dropped because the threads did not run at once.
    pub dropped: u64,
    /// Samples kept below [`MIN_OVERLAP`] because no try reached it.
    pub forced: u64,
    /// The sum of the kept and forced samples' overlaps (for the mean).
    pub overlap_sum: f64,
    /// The time per call on each thread of every kept sample, in ns.
    pub kept_ns: Vec<f64>,
}

impl OverlapStats {
    /// The mean overlap of the samples kept (forced ones included).
    pub fn mean_overlap(&self) -> f64 {
        let n = self.kept + self.forced;
        if n == 0 {
            0.0
        } else {
            self.overlap_sum / n as f64
        }
    }

    /// The median time per call on each thread over the kept samples only, in ns.
    pub fn median_kept_ns(&self) -> Option<f64> {
        let mut v = self.kept_ns.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        Some(if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        })
    }
}

static STATS: Mutex<BTreeMap<String, OverlapStats>> = Mutex::new(BTreeMap::new());

/// Runs `calls` calls of a case on each of two threads at once, sharing the case's
/// instance; returns the mean time a thread took (so `time / calls` is the per-thread
/// time per call). Samples where the threads did not run at once are dropped and
/// taken again; the tally goes under `id` in [`overlap_stats`], with the time per
/// call of each kept sample (criterion cannot drop a sample: when no try overlaps, it
/// gets the best one, which the tally counts as forced and leaves out of its median).
pub fn time_two(id: &str, make: MakeBatch, calls: u64) -> Duration {
    let mut best: Option<(Duration, Overlap)> = None;
    let mut dropped = 0;
    for _ in 0..MAX_TRIES {
        let (time, overlap) = sample_two(make, calls);
        if overlap.0 >= MIN_OVERLAP {
            record(id, time, |s| {
                s.kept += 1;
                s.dropped += dropped;
                s.overlap_sum += overlap.0;
                s.kept_ns.push(time.as_nanos() as f64 / calls as f64);
            });
            return time;
        }
        dropped += 1;
        if best.is_none_or(|(_, o)| overlap > o) {
            best = Some((time, overlap));
        }
    }
    let (time, overlap) = best.expect("MAX_TRIES is at least 1");
    record(id, time, |s| {
        s.forced += 1;
        s.dropped += dropped - 1;
        s.overlap_sum += overlap.0;
    });
    time
}

fn record(id: &str, span: Duration, f: impl FnOnce(&mut OverlapStats)) {
    if span < MIN_TALLIED_SPAN {
        return;
    }
    let mut stats = STATS.lock().unwrap_or_else(|e| e.into_inner());
    f(stats.entry(id.to_owned()).or_default());
}

/// The two-thread tally of every case timed so far, by case id.
pub fn overlap_stats() -> BTreeMap<String, OverlapStats> {
    STATS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Clears the tally of `id` (before its measurement starts).
pub fn reset_overlap_stats(id: &str) {
    STATS.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(base: Instant, start_us: u64, end_us: u64, cpu_us: u64) -> Span {
        Span {
            start: base + Duration::from_micros(start_us),
            end: base + Duration::from_micros(end_us),
            cpu: Duration::from_micros(cpu_us),
        }
    }

    #[test]
    fn threads_running_side_by_side_overlap_fully() {
        let t = Instant::now();
        let o = overlap(&span(t, 0, 1000, 1000), &span(t, 0, 1000, 1000));
        assert!((o.0 - 1.0).abs() < 1e-9, "{o:?}");
    }

    #[test]
    fn threads_running_one_after_the_other_do_not_overlap() {
        let t = Instant::now();
        let o = overlap(&span(t, 0, 1000, 1000), &span(t, 1000, 2000, 1000));
        assert_eq!(o.0, 0.0);
    }

    #[test]
    fn descheduled_time_counts_against_the_overlap() {
        // Both spans cover the same millisecond, but one thread ran only half of it
        // (the other half it waited for a core): at least half was surely shared.
        let t = Instant::now();
        let o = overlap(&span(t, 0, 1000, 1000), &span(t, 0, 1000, 500));
        assert!((o.0 - 0.5).abs() < 1e-9, "{o:?}");
    }

    #[test]
    fn a_late_start_shortens_the_overlap() {
        let t = Instant::now();
        let o = overlap(&span(t, 0, 1000, 1000), &span(t, 250, 1100, 850));
        assert!((o.0 - 750.0 / 1000.0).abs() < 1e-9, "{o:?}");
    }

    #[test]
    fn the_thread_cpu_clock_advances_with_work() {
        let before = thread_cpu_time();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        assert!(thread_cpu_time() > before);
    }
}
