//! Adaptive concurrency limits, driven deterministically by paused `tokio` time: the
//! load is a crowd of tasks calling through the bulkhead in a loop, each call taking a
//! latency (and an outcome) the test sets per phase.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use resilience_runtime::bulkhead::{Adaptive, AdaptiveAlgorithm};
use resilience_runtime::{Bulkhead, Rejection, registry};

const MIN: usize = 2;
const MAX: usize = 40;
const INITIAL: usize = 10;

fn adaptive(name: &'static str, algorithm: AdaptiveAlgorithm) -> Bulkhead {
    Bulkhead::builder(name)
        .adaptive(Adaptive::new(INITIAL, MIN, MAX).algorithm(algorithm))
        .max_wait(Duration::MAX)
        .register()
        .unwrap()
}

/// The behaviour of the service behind the bulkhead, changed between phases.
#[derive(Default)]
struct Service {
    latency_ms: AtomicU64,
    failing: AtomicBool,
}

/// Runs `tasks` tasks, each making `calls` calls in a row, until all are done, while
/// a monitor records the limit every millisecond. Returns the recorded limits.
async fn phase(bh: &Bulkhead, service: &Arc<Service>, tasks: usize, calls: usize) -> Vec<usize> {
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (bh, service) = (bh.clone(), service.clone());
        handles.push(tokio::spawn(async move {
            for _ in 0..calls {
                let _ = bh
                    .call(async {
                        let ms = service.latency_ms.load(Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        if service.failing.load(Ordering::Relaxed) {
                            Err(Rejection::ShuttingDown {
                                name: "backend".into(),
                            })
                        } else {
                            Ok(())
                        }
                    })
                    .await;
            }
        }));
    }
    let mut trace = vec![bh.limit()];
    while !handles.iter().all(|h| h.is_finished()) {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let limit = bh.limit();
        assert!(
            (MIN..=MAX).contains(&limit),
            "limit {limit} left [{MIN}, {MAX}]"
        );
        assert!(
            bh.metrics().in_flight <= limit.max(*trace.last().unwrap()),
            "more calls run than the limit allows"
        );
        trace.push(limit);
    }
    for h in handles {
        h.await.unwrap();
    }
    trace
}

fn service(latency_ms: u64) -> Arc<Service> {
    let s = Arc::new(Service::default());
    s.latency_ms.store(latency_ms, Ordering::Relaxed);
    s
}

async fn steady_fast_calls_raise_the_limit_to_max(name: &'static str, alg: AdaptiveAlgorithm) {
    let bh = adaptive(name, alg);
    assert_eq!(bh.limit(), INITIAL);
    let trace = phase(&bh, &service(10), MAX + 10, 40).await;
    assert!(
        trace.windows(2).all(|w| w[0] <= w[1]),
        "the limit only grows while latency is steady: {trace:?}"
    );
    assert_eq!(bh.limit(), MAX, "{trace:?}");
    // It got there well before the end: the load kept it at max.
    let first_max = trace.iter().position(|&l| l == MAX).unwrap();
    assert!(first_max < trace.len() / 2, "{trace:?}");
}

#[tokio::test(start_paused = true)]
async fn gradient_steady_fast_calls_raise_the_limit_to_max() {
    steady_fast_calls_raise_the_limit_to_max("a-grow-gradient", AdaptiveAlgorithm::Gradient).await;
}

#[tokio::test(start_paused = true)]
async fn aimd_steady_fast_calls_raise_the_limit_to_max() {
    steady_fast_calls_raise_the_limit_to_max("a-grow-aimd", AdaptiveAlgorithm::Aimd).await;
}

#[tokio::test(start_paused = true)]
async fn the_default_algorithm_is_gradient() {
    assert_eq!(
        Adaptive::new(1, 1, 2).get_algorithm(),
        AdaptiveAlgorithm::Gradient
    );
}

async fn a_latency_spike_lowers_the_limit(name: &'static str, alg: AdaptiveAlgorithm) {
    let bh = adaptive(name, alg);
    let svc = service(10);
    phase(&bh, &svc, MAX + 10, 30).await;
    assert_eq!(bh.limit(), MAX);

    svc.latency_ms.store(100, Ordering::Relaxed);
    let trace = phase(&bh, &svc, MAX + 10, 2).await;
    let lowest = *trace.iter().min().unwrap();
    assert!(
        lowest <= MAX / 4,
        "a 10x latency spike cut the limit from {MAX} to only {lowest}: {trace:?}"
    );
    assert!(lowest >= MIN);
}

#[tokio::test(start_paused = true)]
async fn gradient_a_latency_spike_lowers_the_limit() {
    a_latency_spike_lowers_the_limit("a-spike-gradient", AdaptiveAlgorithm::Gradient).await;
}

#[tokio::test(start_paused = true)]
async fn aimd_a_latency_spike_lowers_the_limit() {
    a_latency_spike_lowers_the_limit("a-spike-aimd", AdaptiveAlgorithm::Aimd).await;
}

#[tokio::test(start_paused = true)]
async fn gradient_tolerates_a_small_latency_rise() {
    let bh = adaptive("a-tolerance", AdaptiveAlgorithm::Gradient);
    let svc = service(10);
    phase(&bh, &svc, MAX + 10, 30).await;
    assert_eq!(bh.limit(), MAX);
    svc.latency_ms.store(14, Ordering::Relaxed); // 1.4x: within the 1.5x tolerance
    let trace = phase(&bh, &svc, MAX + 10, 5).await;
    assert!(trace.iter().all(|&l| l == MAX), "{trace:?}");
}

async fn failures_lower_the_limit_to_min(name: &'static str, alg: AdaptiveAlgorithm) {
    let bh = adaptive(name, alg);
    let svc = service(10);
    phase(&bh, &svc, MAX + 10, 30).await;
    assert_eq!(bh.limit(), MAX);

    svc.failing.store(true, Ordering::Relaxed);
    let trace = phase(&bh, &svc, MAX + 10, 5).await;
    assert!(
        trace.windows(2).all(|w| w[0] >= w[1]),
        "failures only lower the limit: {trace:?}"
    );
    assert_eq!(bh.limit(), MIN, "{trace:?}");

    // Recovery: healthy fast calls raise it again.
    svc.failing.store(false, Ordering::Relaxed);
    phase(&bh, &svc, MAX + 10, 40).await;
    assert_eq!(bh.limit(), MAX);
}

#[tokio::test(start_paused = true)]
async fn gradient_failures_lower_the_limit_to_min() {
    failures_lower_the_limit_to_min("a-fail-gradient", AdaptiveAlgorithm::Gradient).await;
}

#[tokio::test(start_paused = true)]
async fn aimd_failures_lower_the_limit_to_min() {
    failures_lower_the_limit_to_min("a-fail-aimd", AdaptiveAlgorithm::Aimd).await;
}

#[tokio::test(start_paused = true)]
async fn an_underused_bulkhead_does_not_grow() {
    for (name, alg) in [
        ("a-idle-gradient", AdaptiveAlgorithm::Gradient),
        ("a-idle-aimd", AdaptiveAlgorithm::Aimd),
    ] {
        let bh = adaptive(name, alg);
        // 3 callers never use more than 3 of the 10 slots.
        let trace = phase(&bh, &service(10), 3, 100).await;
        assert!(trace.iter().all(|&l| l == INITIAL), "{alg:?}: {trace:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_current_limit_is_visible_through_the_registry() {
    let bh = adaptive("a-registry", AdaptiveAlgorithm::Aimd);
    let handle = registry::bulkhead("a-registry").unwrap();
    assert_eq!(handle.limit(), INITIAL);
    assert_eq!(handle.adaptive().unwrap().max(), MAX);
    phase(&bh, &service(10), MAX + 10, 40).await;
    assert_eq!(handle.limit(), MAX);
    assert_eq!(handle.metrics().limit, MAX);
}

#[tokio::test(start_paused = true)]
async fn a_raised_limit_lets_waiters_in_at_once() {
    // From 1 slot: the crowd waits in line, and each raise of the limit admits more.
    let bh = Bulkhead::builder("a-raise")
        .adaptive(Adaptive::new(1, 1, 8).algorithm(AdaptiveAlgorithm::Aimd))
        .max_wait(Duration::MAX)
        .build()
        .unwrap();
    let peak = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..20 {
        let (bh, peak) = (bh.clone(), peak.clone());
        handles.push(tokio::spawn(async move {
            for _ in 0..5 {
                bh.call(async {
                    peak.fetch_max(bh.metrics().in_flight as u64, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Ok::<_, Rejection>(())
                })
                .await
                .unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(bh.limit(), 8);
    assert_eq!(
        peak.load(Ordering::Relaxed),
        8,
        "waiters filled the raised limit"
    );
}

#[tokio::test(start_paused = true)]
async fn cancelled_calls_are_not_samples() {
    let bh = adaptive("a-cancel", AdaptiveAlgorithm::Aimd);
    // Saturate with calls that are all cancelled by a timeout: no sample, no change.
    let mut handles = Vec::new();
    for _ in 0..(MAX + 10) {
        let bh = bh.clone();
        handles.push(tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_millis(5),
                bh.call(async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    Ok::<_, Rejection>(())
                }),
            )
            .await;
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(bh.limit(), INITIAL);
    assert_eq!(bh.metrics().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn permits_report_outcomes() {
    let bh = Bulkhead::builder("a-permits")
        .adaptive(Adaptive::new(10, 1, 20).algorithm(AdaptiveAlgorithm::Aimd))
        .build()
        .unwrap();
    let held: Vec<_> = (0..10).map(|_| bh.try_acquire().unwrap()).collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Released one by one: +1 for each success while at least half the limit is busy
    // (10 of 10, 9 of 11, 8 of 12, 7 of 13), then no growth (6 of 14 ...).
    drop(held);
    assert_eq!(bh.limit(), 14);
    let p = bh.try_acquire().unwrap();
    p.failed();
    assert_eq!(
        bh.limit(),
        12,
        "a failure multiplies the limit by 0.9 (12.6)"
    );
}
