//! Bulkhead and rate limiter hot paths against what users would pick instead:
//! tokio's `Semaphore`, tower's `ConcurrencyLimit`, governor's direct and keyed limiters.
//!
//! Every async call is polled once with a no-op waker (each completes on its first
//! poll), so the figures are the policies' own cost, not an executor's. Each group runs
//! on one thread, then on two threads sharing one instance (`2 threads`: the time per
//! call on each thread).
//!
//! Run: `cargo bench -p resilience-bench --bench limits -- --warm-up-time 1 --measurement-time 2`

use std::future::Future;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::pin::pin;
use std::sync::Barrier;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use resilience_runtime::rate_limit::{KeyedRateLimiter, Rate, RateLimiter};
use resilience_runtime::{Bulkhead, Rejection};
use tower::{Service, ServiceExt};

/// Polls a future that completes on its first poll.
#[inline(always)]
fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the benchmarked call did not complete at once"),
    }
}

/// Runs `op` `iters` times on each of `threads` threads at once; returns the mean time
/// a thread took, so criterion reports the time per call on each thread.
fn on_threads(threads: usize, iters: u64, op: &(impl Fn(u64) + Sync)) -> Duration {
    if threads == 1 {
        let start = Instant::now();
        for i in 0..iters {
            op(i);
        }
        return start.elapsed();
    }
    let barrier = Barrier::new(threads);
    let total: Duration = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        op(i.wrapping_add(t as u64 * 7919));
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total / threads as u32
}

fn bench_group(c: &mut Criterion, name: &str, threads: usize, op: &(impl Fn(u64) + Sync)) {
    let label = if threads == 1 {
        "1 thread".to_owned()
    } else {
        format!("{threads} threads")
    };
    c.bench_function(&format!("{name}/{label}"), |b| {
        b.iter_custom(|iters| on_threads(threads, iters, op))
    });
}

const KEYS: u64 = 64;

fn concurrency(c: &mut Criterion) {
    let bulkhead = Bulkhead::builder("bench")
        .max_concurrent(1_000)
        .build()
        .unwrap();
    let semaphore = tokio::sync::Semaphore::new(1_000);
    let tower_limit = tower::limit::ConcurrencyLimit::new(
        tower::service_fn(|x: u64| async move { Ok::<_, Rejection>(x) }),
        1_000,
    );
    for threads in [1, 2] {
        bench_group(c, "bare call", threads, &|i| {
            black_box(ready(async { Ok::<_, Rejection>(black_box(i)) })).unwrap();
        });
        bench_group(c, "bulkhead slot", threads, &|i| {
            black_box(ready(
                bulkhead.call(async { Ok::<_, Rejection>(black_box(i)) }),
            ))
            .unwrap();
        });
        bench_group(c, "bulkhead try_acquire+drop", threads, &|i| {
            let _permit = bulkhead.try_acquire().unwrap();
            black_box(i);
        });
        bench_group(c, "tokio Semaphore acquire+release", threads, &|i| {
            black_box(ready(async {
                let _permit = semaphore.acquire().await.unwrap();
                Ok::<_, Rejection>(black_box(i))
            }))
            .unwrap();
        });
        // tower services are `&mut self`: each thread clones the limit (as tower users
        // do), sharing its semaphore.
        bench_group(c, "tower ConcurrencyLimit", threads, &|i| {
            let mut svc = tower_limit.clone();
            black_box(ready(async { svc.ready().await?.call(black_box(i)).await })).unwrap();
        });
    }
}

fn rate_limits(c: &mut Criterion) {
    // Fast enough that every call is admitted: the admitted path is the hot one.
    let per_second = 1_000_000_000;
    let ours = RateLimiter::builder("bench")
        .rate(Rate::per_second(per_second))
        .build()
        .unwrap();
    let ours_keyed = KeyedRateLimiter::builder("bench-keyed")
        .rate(Rate::per_second(per_second))
        .build()
        .unwrap();
    let quota = governor::Quota::per_second(NonZeroU32::new(per_second).unwrap());
    let governor_direct = governor::RateLimiter::direct(quota);
    let governor_keyed = governor::RateLimiter::<u64, _, _>::keyed(quota);
    for k in 0..KEYS {
        ours_keyed.check(&k).unwrap();
        governor_keyed.check_key(&k).unwrap();
    }
    for threads in [1, 2] {
        bench_group(c, "rate limiter check", threads, &|_| {
            black_box(ours.check()).unwrap();
        });
        bench_group(c, "rate limiter call", threads, &|i| {
            black_box(ready(ours.call(async { Ok::<_, Rejection>(black_box(i)) }))).unwrap();
        });
        bench_group(c, "governor direct check", threads, &|_| {
            black_box(governor_direct.check()).unwrap();
        });
        bench_group(c, "keyed rate limiter check", threads, &|i| {
            black_box(ours_keyed.check(&(i % KEYS))).unwrap();
        });
        bench_group(c, "governor keyed check", threads, &|i| {
            black_box(governor_keyed.check_key(&(i % KEYS))).unwrap();
        });
    }
}

criterion_group!(benches, concurrency, rate_limits);
criterion_main!(benches);
