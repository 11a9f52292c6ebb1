//! The bulkhead and rate limiter used by hand (no attribute): `Bulkhead::call`,
//! `try_acquire`, `RateLimiter::check` and `call`, `KeyedRateLimiter::check`, next to
//! tokio's `Semaphore` and governor's `check`. One thread, then two threads sharing one
//! instance, through the same harness as the `overhead` suite.
//!
//! ```text
//! cargo bench -p resilience-bench --bench limits
//! ```

use std::hint::black_box;
use std::sync::LazyLock;

use resilience_bench::batch;
use resilience_bench::cases::{BenchError, KEYS, PERMITS, RATE, Role, anchors, case};
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

fn main() {
    let cases = [
        case(
            "bulkhead",
            "hand_bulkhead_call",
            "Bulkhead::call",
            Role::Ours,
            batch!(|i| { BULKHEAD.call(async { Ok::<_, BenchError>(black_box(i)) }) }),
        )
        .shared(),
        case(
            "bulkhead",
            "hand_bulkhead_try_acquire",
            "Bulkhead::try_acquire + drop",
            Role::Ours,
            batch!(
                sync | i | {
                    BULKHEAD
                        .try_acquire()
                        .map(|_permit| black_box(i))
                        .map_err(rejected)
                }
            ),
        )
        .shared(),
        case(
            "bulkhead",
            "hand_semaphore_try_acquire",
            "tokio Semaphore::try_acquire + drop",
            Role::Anchor,
            batch!(
                sync | i | {
                    anchors::SEMAPHORE
                        .try_acquire()
                        .map(|_permit| black_box(i))
                        .map_err(|_| BenchError::Anchor)
                }
            ),
        )
        .shared(),
        case(
            "rate limit",
            "hand_rate_limiter_call",
            "RateLimiter::call",
            Role::Ours,
            batch!(|i| { LIMITER.call(async { Ok::<_, BenchError>(black_box(i)) }) }),
        )
        .shared(),
        case(
            "rate limit",
            "hand_rate_limiter_check",
            "RateLimiter::check",
            Role::Ours,
            batch!(sync | i | { LIMITER.check().map(|()| black_box(i)).map_err(rejected) }),
        )
        .shared(),
        case(
            "rate limit",
            "hand_governor_check",
            "governor check",
            Role::Anchor,
            batch!(
                sync | i | {
                    anchors::GOVERNOR
                        .check()
                        .map(|()| black_box(i))
                        .map_err(|_| BenchError::Anchor)
                }
            ),
        )
        .shared(),
        case(
            "rate limit (keyed)",
            "hand_keyed_check",
            "KeyedRateLimiter::check",
            Role::Ours,
            batch!(
                sync | i | {
                    KEYED
                        .check(&(i % KEYS))
                        .map(|()| black_box(i))
                        .map_err(rejected)
                }
            ),
        )
        .shared(),
        case(
            "rate limit (keyed)",
            "hand_governor_keyed_check",
            "governor check_key",
            Role::Anchor,
            batch!(
                sync | i | {
                    anchors::GOVERNOR_KEYED
                        .check_key(&(i % KEYS))
                        .map(|()| black_box(i))
                        .map_err(|_| BenchError::Anchor)
                }
            ),
        )
        .shared(),
    ];
    for case in &cases {
        resilience_bench::harness::time_one(case.make, 1_000);
    }
    let mut c = suite::criterion();
    suite::one_thread(&mut c, &cases);
    suite::two_threads(&mut c, &cases);
    suite::save_overlap_stats();
    c.final_summary();
}
