//! The bulkhead and rate limiter used by hand (no attribute): `Bulkhead::call`,
//! `try_acquire`, `RateLimiter::check`, `check_n` and `call`, `KeyedRateLimiter::check`, next to
//! tokio's `Semaphore` and governor's `check`. One thread, then two threads sharing one
//! instance, through the same harness as the `overhead` suite.
//!
//! ```text
//! cargo bench -p resilience-bench --bench limits
//! ```

use std::hint::black_box;
use std::sync::LazyLock;

use resilience_bench::batch;
use resilience_bench::cases::{BenchError, KEYS, Out, PERMITS, RATE, Role, anchors, case};
use resilience_bench::suite;
use resilience_runtime::rate_limit::{KeyedRateLimiter, Rate, RateLimiter};
use resilience_runtime::{Bulkhead, Rejection};

static BULKHEAD: LazyLock<Bulkhead> = LazyLock::new(|| {
    Bulkhead::builder("bench-by-hand")
        .max_concurrent(PERMITS)
        .build()
        .expect("valid settings")
});

static LIMITER: LazyLock<RateLimiter> = LazyLock::new(|| {
    RateLimiter::builder("bench-by-hand")
        .rate(Rate::per_second(RATE))
        .build()
        .expect("valid settings")
});

static KEYED: LazyLock<KeyedRateLimiter> = LazyLock::new(|| {
    KeyedRateLimiter::builder("bench-by-hand-keyed")
        .rate(Rate::per_second(RATE))
        .build()
        .expect("valid settings")
});

fn rejected(r: Rejection) -> BenchError {
    BenchError::Rejected(r)
}

fn refused<E>(_: E) -> BenchError {
    BenchError::Anchor
}

async fn bulkhead_call(i: u64) -> Out {
    BULKHEAD.call(async { Ok(black_box(i)) }).await
}

fn bulkhead_try_acquire(i: u64) -> Out {
    let _permit = BULKHEAD.try_acquire().map_err(rejected)?;
    Ok(black_box(i))
}

fn semaphore_try_acquire(i: u64) -> Out {
    let _permit = anchors::SEMAPHORE.try_acquire().map_err(refused)?;
    Ok(black_box(i))
}

async fn rate_limiter_call(i: u64) -> Out {
    LIMITER.call(async { Ok(black_box(i)) }).await
}

fn rate_limiter_check(i: u64) -> Out {
    LIMITER.check().map_err(rejected)?;
    Ok(black_box(i))
}

/// A weighted check: three slots in the same one compare-and-swap.
fn rate_limiter_check_n(i: u64) -> Out {
    LIMITER.check_n(3).map_err(rejected)?;
    Ok(black_box(i))
}

fn governor_check(i: u64) -> Out {
    anchors::GOVERNOR.check().map_err(refused)?;
    Ok(black_box(i))
}

fn keyed_check(i: u64) -> Out {
    KEYED.check(&(i % KEYS)).map_err(rejected)?;
    Ok(black_box(i))
}

fn governor_keyed_check(i: u64) -> Out {
    anchors::GOVERNOR_KEYED
        .check_key(&(i % KEYS))
        .map_err(refused)?;
    Ok(black_box(i))
}

fn main() {
    use Role::{Anchor, Ours};
    let cases = [
        case(
            "bulkhead",
            "hand_bulkhead_call",
            "Bulkhead::call",
            Ours,
            batch!(|i| bulkhead_call(i)),
        ),
        case(
            "bulkhead",
            "hand_bulkhead_try_acquire",
            "Bulkhead::try_acquire + drop",
            Ours,
            batch!(sync, |i| bulkhead_try_acquire(i)),
        ),
        case(
            "bulkhead",
            "hand_semaphore_try_acquire",
            "tokio Semaphore::try_acquire + drop",
            Anchor,
            batch!(sync, |i| semaphore_try_acquire(i)),
        ),
        case(
            "rate limit",
            "hand_rate_limiter_call",
            "RateLimiter::call",
            Ours,
            batch!(|i| rate_limiter_call(i)),
        ),
        case(
            "rate limit",
            "hand_rate_limiter_check",
            "RateLimiter::check",
            Ours,
            batch!(sync, |i| rate_limiter_check(i)),
        ),
        case(
            "rate limit",
            "hand_rate_limiter_check_n",
            "RateLimiter::check_n(3)",
            Ours,
            batch!(sync, |i| rate_limiter_check_n(i)),
        ),
        case(
            "rate limit",
            "hand_governor_check",
            "governor check",
            Anchor,
            batch!(sync, |i| governor_check(i)),
        ),
        case(
            "rate limit (keyed)",
            "hand_keyed_check",
            "KeyedRateLimiter::check",
            Ours,
            batch!(sync, |i| keyed_check(i)),
        ),
        case(
            "rate limit (keyed)",
            "hand_governor_keyed_check",
            "governor check_key",
            Anchor,
            batch!(sync, |i| governor_keyed_check(i)),
        ),
    ]
    .map(|c| c.shared());
    suite::run(&cases);
}
