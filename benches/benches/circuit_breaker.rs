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

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::CircuitBreaker as _;
use resilience_runtime::circuit_breaker::Window;
use resilience_runtime::{CircuitBreaker, Rejection};

/// A call through some breaker.
trait Guarded: Sync {
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

fn contenders() -> Vec<(&'static str, Box<dyn Guarded>)> {
    let ours = |b: resilience_runtime::circuit_breaker::CircuitBreakerBuilder| {
        b.build().expect("valid settings")
    };
    vec![
        ("bare", Box::new(Bare)),
        ("bare_async", Box::new(BareAsync)),
        (
            "ours_count100",
            Box::new(Ours(ours(CircuitBreaker::builder("bench-default")))),
        ),
        (
            "ours_count100_async",
            Box::new(OursAsync(ours(CircuitBreaker::builder("bench-async")))),
        ),
        (
            "ours_consecutive5",
            Box::new(Ours(ours(
                CircuitBreaker::builder("bench-streak").consecutive_failures(5),
            ))),
        ),
        (
            "ours_time60s",
            Box::new(Ours(ours(
                CircuitBreaker::builder("bench-time").window(Window::Time(Duration::from_secs(60))),
            ))),
        ),
        (
            "ours_slow_call",
            Box::new(Ours(ours(
                CircuitBreaker::builder("bench-slow").slow_call(Duration::from_secs(1)),
            ))),
        ),
        (
            "recloser",
            Box::new(Recloser(recloser::Recloser::default())),
        ),
        (
            "ours_count100_1pct_failures",
            Box::new(OursSomeFailures(ours(CircuitBreaker::builder(
                "bench-some-failures",
            )))),
        ),
        (
            "ours_time60s_1pct_failures",
            Box::new(OursSomeFailures(ours(
                CircuitBreaker::builder("bench-time-some-failures")
                    .window(Window::Time(Duration::from_secs(60))),
            ))),
        ),
        (
            "recloser_1pct_failures",
            Box::new(RecloserSomeFailures(recloser::Recloser::default())),
        ),
        (
            "failsafe_default",
            Box::new(Failsafe(failsafe::Config::new().build())),
        ),
        (
            "failsafe_consecutive5",
            Box::new(Failsafe(
                failsafe::Config::new()
                    .failure_policy(failsafe::failure_policy::consecutive_failures(
                        5,
                        failsafe::backoff::constant(Duration::from_secs(60)),
                    ))
                    .build(),
            )),
        ),
    ]
}

fn one_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("one_thread");
    for (name, guarded) in contenders() {
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
    group.finish();
}

fn two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("two_threads");
    for (name, guarded) in contenders() {
        for i in 0..1_000 {
            guarded.run(i);
        }
        let guarded = &*guarded;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let barrier = Barrier::new(2);
                // Each thread times its own calls; the slower one is reported, per call.
                let times: Vec<Duration> = std::thread::scope(|s| {
                    let handles: Vec<_> = (0..2)
                        .map(|_| {
                            let barrier = &barrier;
                            s.spawn(move || {
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
    group.finish();
}

criterion_group!(benches, one_thread, two_threads);
criterion_main!(benches);
