//! The cost of a closed circuit breaker per call, against a bare call and against
//! recloser and failsafe, on one thread and with two threads sharing one breaker.
//!
//! ```text
//! cargo bench -p resilience-bench --bench circuit_breaker -- --warm-up-time 1 --measurement-time 2
//! ```
//!
//! Every call succeeds (the breaker stays closed). `two_threads/*` reports the time
//! per call of each thread while both call the same breaker at once; compare it with
//! `one_thread/*`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use failsafe::CircuitBreaker as _;
use resilience_runtime::circuit_breaker::Window;
use resilience_runtime::{CircuitBreaker, Rejection};

/// A call through some breaker.
trait Guarded: Sync + Send {
    fn run(&self, x: u64) -> u64;
}

/// No breaker at all.
struct Bare;

impl Guarded for Bare {
    #[inline]
    fn run(&self, x: u64) -> u64 {
        black_box(x)
    }
}

/// No breaker, through the same async harness as [`OursAsync`].
struct BareAsync;

impl Guarded for BareAsync {
    #[inline]
    fn run(&self, x: u64) -> u64 {
        let future = pin!(async move { Ok::<_, Rejection>(black_box(x)) });
        match future.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result.unwrap(),
            Poll::Pending => unreachable!(),
        }
    }
}

/// Ours, through the blocking call path.
struct Ours(CircuitBreaker);

impl Guarded for Ours {
    #[inline]
    fn run(&self, x: u64) -> u64 {
        self.0
            .call_blocking(|| Ok::<_, Rejection>(black_box(x)))
            .unwrap()
    }
}

/// Ours, one call in 100 failing (the window always holds a failure).
struct OursSomeFailures(CircuitBreaker);

impl Guarded for OursSomeFailures {
    #[inline]
    fn run(&self, x: u64) -> u64 {
        let r = self.0.call_blocking(|| {
            if x % 100 == 0 {
                Err(Rejection::ShuttingDown { name: "".into() })
            } else {
                Ok(black_box(x))
            }
        });
        r.unwrap_or(0)
    }
}

/// recloser, one call in 100 failing.
struct RecloserSomeFailures(recloser::Recloser);

impl Guarded for RecloserSomeFailures {
    #[inline]
    fn run(&self, x: u64) -> u64 {
        let r = self.0.call(|| {
            if x % 100 == 0 {
                Err(())
            } else {
                Ok(black_box(x))
            }
        });
        r.unwrap_or(0)
    }
}

thread_local! {
    /// Which of the two benchmark threads this is (0 outside `two_threads`).
    static THREAD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Control: each thread calls a breaker of its own (nothing shared), to tell the
/// machine's own two-thread slowdown from contention on a shared breaker.
struct OursUnshared([CircuitBreaker; 2]);

impl Guarded for OursUnshared {
    #[inline]
    fn run(&self, x: u64) -> u64 {
        self.0[THREAD.with(std::cell::Cell::get)]
            .call_blocking(|| Ok::<_, Rejection>(black_box(x)))
            .unwrap()
    }
}

/// Ours, through the async call path (polled once: the body never waits).
struct OursAsync(CircuitBreaker);

impl Guarded for OursAsync {
    #[inline]
    fn run(&self, x: u64) -> u64 {
        let future = pin!(self.0.call(async move { Ok::<_, Rejection>(black_box(x)) }));
        match future.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(result) => result.unwrap(),
            Poll::Pending => unreachable!(),
        }
    }
}

struct Recloser(recloser::Recloser);

impl Guarded for Recloser {
    #[inline]
    fn run(&self, x: u64) -> u64 {
        self.0.call(|| Ok::<_, ()>(black_box(x))).unwrap()
    }
}

struct Failsafe<P: failsafe::failure_policy::FailurePolicy + Send + Sync>(
    failsafe::StateMachine<P, ()>,
);

impl<P: failsafe::failure_policy::FailurePolicy + Send + Sync> Guarded for Failsafe<P> {
    #[inline]
    fn run(&self, x: u64) -> u64 {
        self.0.call(|| Ok::<_, ()>(black_box(x))).unwrap()
    }
}

/// Something done with each contender, monomorphized (no dynamic dispatch in the
/// measured loop).
trait Each {
    fn each<G: Guarded>(&mut self, name: &str, guarded: G);
}

fn contenders(e: &mut impl Each) {
    let ours = |b: resilience_runtime::circuit_breaker::CircuitBreakerBuilder| {
        b.build().expect("valid settings")
    };
    let time = || Window::Time(Duration::from_secs(60));
    e.each("bare", Bare);
    e.each("bare_async", BareAsync);
    e.each(
        "ours_count100",
        Ours(ours(CircuitBreaker::builder("bench-default"))),
    );
    e.each(
        "ours_count100_unshared",
        OursUnshared([
            ours(CircuitBreaker::builder("bench-own-0")),
            ours(CircuitBreaker::builder("bench-own-1")),
        ]),
    );
    e.each(
        "ours_count100_async",
        OursAsync(ours(CircuitBreaker::builder("bench-async"))),
    );
    e.each(
        "ours_consecutive5",
        Ours(ours(
            CircuitBreaker::builder("bench-streak").consecutive_failures(5),
        )),
    );
    e.each(
        "ours_time60s",
        Ours(ours(CircuitBreaker::builder("bench-time").window(time()))),
    );
    e.each(
        "ours_slow_call",
        Ours(ours(
            CircuitBreaker::builder("bench-slow").slow_call(Duration::from_secs(1)),
        )),
    );
    e.each("recloser", Recloser(recloser::Recloser::default()));
    e.each(
        "ours_count100_1pct_failures",
        OursSomeFailures(ours(CircuitBreaker::builder("bench-some-failures"))),
    );
    e.each(
        "ours_time60s_1pct_failures",
        OursSomeFailures(ours(
            CircuitBreaker::builder("bench-time-some-failures").window(time()),
        )),
    );
    e.each(
        "recloser_1pct_failures",
        RecloserSomeFailures(recloser::Recloser::default()),
    );
    e.each(
        "failsafe_default",
        Failsafe(failsafe::Config::new().build()),
    );
    e.each(
        "failsafe_consecutive5",
        Failsafe(
            failsafe::Config::new()
                .failure_policy(failsafe::failure_policy::consecutive_failures(
                    5,
                    failsafe::backoff::constant(Duration::from_secs(60)),
                ))
                .build(),
        ),
    );
}

struct OneThread<'g, 'c>(&'g mut BenchmarkGroup<'c, WallTime>);

impl Each for OneThread<'_, '_> {
    fn each<G: Guarded>(&mut self, name: &str, guarded: G) {
        one_thread_bench(self.0, name, guarded);
    }
}

struct TwoThreads<'g, 'c>(&'g mut BenchmarkGroup<'c, WallTime>);

impl Each for TwoThreads<'_, '_> {
    fn each<G: Guarded>(&mut self, name: &str, guarded: G) {
        two_threads_bench(self.0, name, guarded);
    }
}

fn one_thread_bench<G: Guarded>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, guarded: G) {
    // Warm up the window (the first 100 calls fill it).
    for i in 0..1_000 {
        guarded.run(i);
    }
    group.bench_function(name, |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            guarded.run(i)
        })
    });
}

fn two_threads_bench<G: Guarded>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str, guarded: G) {
    for i in 0..1_000 {
        guarded.run(i);
    }
    let guarded = &guarded;
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let barrier = Barrier::new(2);
            // Each thread times its own calls; the slower one is reported, per call.
            let times: Vec<Duration> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..2)
                    .map(|t| {
                        let barrier = &barrier;
                        s.spawn(move || {
                            THREAD.with(|cell| cell.set(t));
                            barrier.wait();
                            let start = Instant::now();
                            for i in 0..iters {
                                guarded.run(i);
                            }
                            start.elapsed()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            times.into_iter().max().unwrap()
        })
    });
}

fn one_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("one_thread");
    contenders(&mut OneThread(&mut group));
    group.finish();
}

fn two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("two_threads");
    contenders(&mut TwoThreads(&mut group));
    group.finish();
}

criterion_group!(benches, one_thread, two_threads);
criterion_main!(benches);
