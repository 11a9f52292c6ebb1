//! Each policy's tower layer (feature `tower`) around the trivial service, next to the
//! same policy called directly, to tower's own layer for the same job
//! (`ConcurrencyLimit`, `Timeout`, `Retry`) and to tower-resilience's (circuit breaker,
//! bulkhead, time limiter, retry), in the same run. A tower call is
//! `ready().await` then `call(i).await`, on a clone of the service held per batch, as
//! a tower user holds theirs.
//!
//! ```text
//! cargo bench -p resilience-bench --bench tower
//! ```

use std::hint::black_box;
use std::sync::LazyLock;

use resilience_bench::batch;
use resilience_bench::cases::anchors::{self, Echo};
use resilience_bench::cases::{KEYS, Out, PERMITS, RATE, Role, TIMEOUT, case};
use resilience_bench::suite;
use resilience_runtime::backoff::{Exponential, NoBackoff};
use resilience_runtime::tower::{
    BulkheadService, CircuitBreakerService, KeyedRateLimitService, RateLimitService, RetryService,
    TimeoutService,
};
use resilience_runtime::{
    Bulkhead, CircuitBreaker, Jitter, KeyedRateLimiter, Rate, RateLimiter, Retry, Timeout,
};
use tower::Layer;

/// The trivial service with an error type that is `Clone` (tower-resilience's retry
/// needs one).
#[derive(Debug, Clone, Copy)]
struct CloneEcho;

#[derive(Debug, Clone)]
struct CloneError;

impl std::fmt::Display for CloneError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("never")
    }
}

impl std::error::Error for CloneError {}

impl tower::Service<u64> for CloneEcho {
    type Response = u64;
    type Error = CloneError;
    type Future = std::future::Ready<Result<u64, CloneError>>;

    #[inline]
    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), CloneError>> {
        std::task::Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, i: u64) -> Self::Future {
        std::future::ready(Ok(black_box(i)))
    }
}

static TR_BREAKER: LazyLock<
    <tower_resilience_circuitbreaker::CircuitBreakerLayer as Layer<Echo>>::Service,
> = LazyLock::new(|| {
    tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .build()
        .unwrap()
        .layer(Echo)
});
static TR_BULKHEAD: LazyLock<<tower_resilience_bulkhead::BulkheadLayer as Layer<Echo>>::Service> =
    LazyLock::new(|| {
        tower_resilience_bulkhead::BulkheadLayer::builder()
            .max_concurrent_calls(PERMITS)
            .build()
            .unwrap()
            .layer(Echo)
    });
static TR_TIMEOUT: LazyLock<
    <tower_resilience_timelimiter::TimeLimiterLayer as Layer<Echo>>::Service,
> = LazyLock::new(|| {
    tower_resilience_timelimiter::TimeLimiterLayer::builder()
        .timeout_duration(TIMEOUT)
        .build()
        .layer(Echo)
});
static TR_RETRY: LazyLock<
    <tower_resilience_retry::RetryLayer<u64, u64, CloneError> as Layer<CloneEcho>>::Service,
> = LazyLock::new(|| {
    tower_resilience_retry::RetryLayer::<u64, u64, CloneError>::builder()
        .max_attempts(3)
        .exponential_backoff(std::time::Duration::from_millis(100))
        .build()
        .layer(CloneEcho)
});

static BREAKER: LazyLock<CircuitBreaker> =
    LazyLock::new(|| CircuitBreaker::builder("bench-tower").build().unwrap());
static BULKHEAD: LazyLock<Bulkhead> = LazyLock::new(|| {
    Bulkhead::builder("bench-tower")
        .max_concurrent(PERMITS)
        .build()
        .unwrap()
});
static LIMITER: LazyLock<RateLimiter> = LazyLock::new(|| {
    RateLimiter::builder("bench-tower")
        .rate(Rate::per_second(RATE))
        .build()
        .unwrap()
});
static KEYED: LazyLock<KeyedRateLimiter> = LazyLock::new(|| {
    KeyedRateLimiter::builder("bench-tower-keyed")
        .rate(Rate::per_second(RATE))
        .build()
        .unwrap()
});
static TIMEOUT_POLICY: LazyLock<Timeout> = LazyLock::new(|| Timeout::new("bench-tower", TIMEOUT));
/// `#[retry]`'s default schedule (3 attempts, exponential, full jitter), as the
/// direct and layer cases both use it; every call succeeds at once.
static RETRY: LazyLock<Retry<Exponential>> = LazyLock::new(|| {
    Retry::builder()
        .name("bench-tower")
        .jitter(Jitter::Full)
        .build()
        .unwrap()
});
static RETRY_NONE: LazyLock<Retry<NoBackoff>> = LazyLock::new(|| {
    Retry::builder()
        .name("bench-tower-none")
        .backoff(NoBackoff)
        .build()
        .unwrap()
});

static BREAKER_LAYER: LazyLock<CircuitBreakerService<Echo>> =
    LazyLock::new(|| BREAKER.layer().layer(Echo));
static BULKHEAD_LAYER: LazyLock<BulkheadService<Echo>> =
    LazyLock::new(|| BULKHEAD.layer().layer(Echo));
static LIMITER_LAYER: LazyLock<RateLimitService<Echo>> =
    LazyLock::new(|| LIMITER.layer().layer(Echo));
type KeyFn = fn(&u64) -> u64;
static KEYED_LAYER: LazyLock<KeyedRateLimitService<Echo, KeyFn>> = LazyLock::new(|| {
    let key: KeyFn = |i| i % KEYS;
    KEYED.layer(key).layer(Echo)
});
static TIMEOUT_LAYER: LazyLock<TimeoutService<Echo>> =
    LazyLock::new(|| TIMEOUT_POLICY.layer().layer(Echo));
static RETRY_LAYER: LazyLock<RetryService<Echo, NoBackoff>> =
    LazyLock::new(|| RETRY_NONE.layer().layer(Echo));

async fn breaker_call(i: u64) -> Out {
    BREAKER.call(async { Ok(black_box(i)) }).await
}

async fn bulkhead_call(i: u64) -> Out {
    BULKHEAD.call(async { Ok(black_box(i)) }).await
}

async fn limiter_call(i: u64) -> Out {
    LIMITER.call(async { Ok(black_box(i)) }).await
}

async fn keyed_call(i: u64) -> Out {
    KEYED.call(i % KEYS, async { Ok(black_box(i)) }).await
}

async fn timeout_call(i: u64) -> Out {
    TIMEOUT_POLICY.call(async { Ok(black_box(i)) }).await
}

async fn retry_call(i: u64) -> Out {
    RETRY_NONE.call(|| async { Ok(black_box(i)) }).await
}

async fn retry_default_call(i: u64) -> Out {
    RETRY.call(|| async { Ok(black_box(i)) }).await
}

fn main() {
    use Role::{Anchor, Floor, Ours};
    let cases = [
        case(
            "floor",
            "tower_echo",
            "tower service Echo, no layer",
            Floor,
            batch!(service, LazyLock::new(|| Echo)),
        ),
        case(
            "circuit breaker",
            "tower_breaker_direct",
            "CircuitBreaker::call",
            Ours,
            batch!(|i| breaker_call(i)),
        ),
        case(
            "circuit breaker",
            "tower_breaker_layer",
            "CircuitBreaker::layer",
            Ours,
            batch!(service, BREAKER_LAYER),
        ),
        case(
            "circuit breaker",
            "tower_resilience_breaker",
            "tower-resilience CircuitBreaker",
            Anchor,
            batch!(service, TR_BREAKER),
        ),
        case(
            "bulkhead",
            "tower_bulkhead_direct",
            "Bulkhead::call",
            Ours,
            batch!(|i| bulkhead_call(i)),
        ),
        case(
            "bulkhead",
            "tower_bulkhead_layer",
            "Bulkhead::layer",
            Ours,
            batch!(service, BULKHEAD_LAYER),
        )
        .vs("tower_concurrency_limit"),
        case(
            "bulkhead",
            "tower_concurrency_limit",
            "tower ConcurrencyLimit",
            Anchor,
            batch!(service, anchors::TOWER_LIMIT),
        ),
        case(
            "bulkhead",
            "tower_resilience_bulkhead",
            "tower-resilience Bulkhead",
            Anchor,
            batch!(service, TR_BULKHEAD),
        ),
        case(
            "rate limit",
            "tower_limiter_direct",
            "RateLimiter::call",
            Ours,
            batch!(|i| limiter_call(i)),
        ),
        case(
            "rate limit",
            "tower_limiter_layer",
            "RateLimiter::layer",
            Ours,
            batch!(service, LIMITER_LAYER),
        ),
        case(
            "rate limit (keyed)",
            "tower_keyed_direct",
            "KeyedRateLimiter::call",
            Ours,
            batch!(|i| keyed_call(i)),
        ),
        case(
            "rate limit (keyed)",
            "tower_keyed_layer",
            "KeyedRateLimiter::layer",
            Ours,
            batch!(service, KEYED_LAYER),
        ),
        case(
            "timeout",
            "tower_timeout_direct",
            "Timeout::call",
            Ours,
            batch!(|i| timeout_call(i)),
        ),
        case(
            "timeout",
            "tower_timeout_layer",
            "Timeout::layer",
            Ours,
            batch!(service, TIMEOUT_LAYER),
        )
        .vs("tower_timeout"),
        case(
            "timeout",
            "tower_timeout",
            "tower Timeout",
            Anchor,
            batch!(service, anchors::TOWER_TIMEOUT),
        ),
        case(
            "timeout",
            "tower_resilience_timelimiter",
            "tower-resilience TimeLimiter",
            Anchor,
            batch!(service, TR_TIMEOUT),
        ),
        case(
            "retry",
            "tower_retry_direct",
            "Retry::call (no backoff)",
            Ours,
            batch!(|i| retry_call(i)),
        ),
        case(
            "retry",
            "tower_retry_default_direct",
            "Retry::call (default schedule)",
            Ours,
            batch!(|i| retry_default_call(i)),
        ),
        case(
            "retry",
            "tower_retry_layer",
            "Retry::layer",
            Ours,
            batch!(service, RETRY_LAYER),
        )
        .vs("tower_retry"),
        case(
            "retry",
            "tower_retry",
            "tower Retry",
            Anchor,
            batch!(service, anchors::TOWER_RETRY),
        ),
        case(
            "retry",
            "tower_resilience_retry",
            "tower-resilience Retry",
            Anchor,
            batch!(service, TR_RETRY),
        ),
    ];
    suite::run(&cases);
}
