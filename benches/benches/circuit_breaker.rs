//! The circuit breaker used by hand (no attribute), in the configurations the
//! `overhead` suite does not cover: the async and blocking call paths, a time window,
//! slow-call tracking, one call in 100 failing (the window always holds a failure),
//! and a control where each thread has a breaker of its own (nothing shared: the
//! machine's own two-thread slowdown). Next to recloser and failsafe's default policy.
//! One thread, then two threads sharing one breaker, through the shared harness.
//!
//! ```text
//! cargo bench -p resilience-bench --bench circuit_breaker
//! ```

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Duration;

use resilience_bench::batch;
use resilience_bench::cases::{BenchError, Out, Role, anchors, case};
use resilience_bench::suite;
use resilience_runtime::CircuitBreaker;
use resilience_runtime::circuit_breaker::{CircuitBreakerBuilder, Window};

fn build(builder: CircuitBreakerBuilder) -> CircuitBreaker {
    builder.build().expect("valid settings")
}

fn time_window() -> Window {
    Window::Time(Duration::from_secs(60))
}

static COUNT: LazyLock<CircuitBreaker> =
    LazyLock::new(|| build(CircuitBreaker::builder("bench-count")));
static OWN: LazyLock<[CircuitBreaker; 2]> = LazyLock::new(|| {
    [
        build(CircuitBreaker::builder("bench-own-0")),
        build(CircuitBreaker::builder("bench-own-1")),
    ]
});
static TIME: LazyLock<CircuitBreaker> =
    LazyLock::new(|| build(CircuitBreaker::builder("bench-time").window(time_window())));
static SLOW: LazyLock<CircuitBreaker> = LazyLock::new(|| {
    build(CircuitBreaker::builder("bench-slow").slow_call(Duration::from_secs(1)))
});
static COUNT_FAILING: LazyLock<CircuitBreaker> =
    LazyLock::new(|| build(CircuitBreaker::builder("bench-count-failing")));
static TIME_FAILING: LazyLock<CircuitBreaker> =
    LazyLock::new(|| build(CircuitBreaker::builder("bench-time-failing").window(time_window())));
static RECLOSER_FAILING: LazyLock<recloser::Recloser> = LazyLock::new(anchors::recloser);
/// failsafe's default policy: a success rate over a time window, or else 5 failures
/// in a row.
type FailsafeDefault = failsafe::StateMachine<
    failsafe::failure_policy::OrElse<
        failsafe::failure_policy::SuccessRateOverTimeWindow<failsafe::backoff::EqualJittered>,
        failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::EqualJittered>,
    >,
    (),
>;
static FAILSAFE_DEFAULT: LazyLock<FailsafeDefault> =
    LazyLock::new(|| failsafe::Config::new().build());

/// The body: one call in 100 fails when `failing`.
#[inline(always)]
fn body(i: u64, failing: bool) -> Out {
    if failing && i % 100 == 0 {
        Err(BenchError::Anchor)
    } else {
        Ok(black_box(i))
    }
}

async fn call(i: u64) -> Out {
    COUNT.call(async { body(i, false) }).await
}

fn blocking(breaker: &CircuitBreaker, i: u64) -> Out {
    breaker.call_blocking(|| body(i, false))
}

/// The harness gives the second thread arguments from 7919 on: it picks breaker 1.
fn unshared(i: u64) -> Out {
    blocking(&OWN[usize::from(i >= 7919)], i)
}

fn failing(breaker: &CircuitBreaker, i: u64) -> Out {
    Ok(breaker.call_blocking(|| body(i, true)).unwrap_or(0))
}

fn recloser_failing(i: u64) -> Out {
    Ok(RECLOSER_FAILING.call(|| body(i, true)).unwrap_or(0))
}

fn failsafe_default(i: u64) -> Out {
    failsafe::CircuitBreaker::call(&*FAILSAFE_DEFAULT, || body(i, false))
        .map_err(|_| BenchError::Anchor)
}

fn main() {
    use Role::{Anchor, Ours};
    let g = "circuit breaker";
    let cases = [
        case(
            g,
            "hand_breaker_call",
            "CircuitBreaker::call",
            Ours,
            batch!(|i| call(i)),
        ),
        case(
            g,
            "hand_breaker_blocking",
            "CircuitBreaker::call_blocking",
            Ours,
            batch!(sync, |i| blocking(&COUNT, i)),
        ),
        case(
            g,
            "hand_breaker_unshared",
            "call_blocking, a breaker per thread",
            Ours,
            batch!(sync, |i| unshared(i)),
        ),
        case(
            g,
            "hand_breaker_time60s",
            "call_blocking, time(60s) window",
            Ours,
            batch!(sync, |i| blocking(&TIME, i)),
        ),
        case(
            g,
            "hand_breaker_slow_call",
            "call_blocking, slow_call = 1s",
            Ours,
            batch!(sync, |i| blocking(&SLOW, i)),
        ),
        case(
            g,
            "hand_breaker_1pct_failures",
            "call_blocking, 1% failures",
            Ours,
            batch!(sync, |i| failing(&COUNT_FAILING, i)),
        ),
        case(
            g,
            "hand_breaker_time60s_1pct_failures",
            "call_blocking, time(60s), 1% failures",
            Ours,
            batch!(sync, |i| failing(&TIME_FAILING, i)),
        ),
        case(
            g,
            "hand_recloser_1pct_failures",
            "recloser, 1% failures",
            Anchor,
            batch!(sync, |i| recloser_failing(i)),
        ),
        case(
            g,
            "hand_failsafe_default",
            "failsafe, default policy",
            Anchor,
            batch!(sync, |i| failsafe_default(i)),
        ),
    ]
    .map(|c| c.shared());
    suite::run(&cases);
}
