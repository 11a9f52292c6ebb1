//! Every numeric and duration literal at the largest value the macros accept compiles
//! under `#![deny(warnings)]` and reaches its policy as written, not clamped; and the
//! runtime's constants have the values the macros check against (their copies are in
//! `resilience-macros/src/limits.rs`; the `*_above_maximum.rs` cases in `tests/ui/fail`
//! show that one more is refused).
#![deny(warnings)]

use std::time::Duration;

use resilience_runtime::rate_limit::Rate;
use resilience_runtime::{
    Rejection, bulkhead, circuit_breaker, rate_limit, registry, retry, timeout,
};

#[derive(Debug, PartialEq)]
struct E;

impl From<Rejection> for E {
    fn from(_: Rejection) -> Self {
        E
    }
}

const LONGEST: Duration = Duration::from_nanos(u64::MAX);

#[circuit_breaker(
    name = "max::count",
    window = count(1_000_000),
    min_calls = 1_000_000,
    half_open_calls = 4095,
    consecutive_failures = 4294967295,
    open_for = "18446744073709551615ns"
)]
fn breaker_count() -> Result<u32, E> {
    Ok(1)
}

#[circuit_breaker(
    name = "max::time",
    window = time("18446744073709551615ns"),
    min_calls = 4294967295,
    slow_call = "18446744073709551615ns",
    key = k,
    max_keys = 4294967295
)]
async fn breaker_time(k: u8) -> Result<u8, E> {
    Ok(k)
}

#[bulkhead(
    name = "max::bulkhead",
    max_concurrent = 4294967295,
    max_wait = "18446744073709551615ns",
    max_waiting = 2147483647
)]
async fn bulkhead_fixed() -> Result<u32, E> {
    Ok(2)
}

#[bulkhead(
    name = "max::adaptive",
    max_concurrent = adaptive(initial = 4294967295, min = 4294967295, max = 4294967295)
)]
fn bulkhead_adaptive() -> Result<u32, E> {
    Ok(3)
}

#[rate_limit(name = "max::per_second", rate = "1000000000/s")]
fn rate_per_second() -> Result<u32, E> {
    Ok(4)
}

#[rate_limit(name = "max::per_minute", rate = "4294967295/min")]
fn rate_per_minute() -> Result<u32, E> {
    Ok(5)
}

#[rate_limit(
    name = "max::burst",
    rate = "1/h",
    burst = 5124095,
    max_wait = "18446744073709551615ns"
)]
async fn rate_burst() -> Result<u32, E> {
    Ok(6)
}

#[retry(
    max_attempts = 4294967295,
    max_elapsed = "18446744073709551615ns",
    backoff = exponential(initial = "1ms", factor = 2.0, max = "18446744073709551615ns")
)]
#[timeout("18446744073709551615ns")]
async fn retry_and_timeout() -> Result<u32, E> {
    Ok(7)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    use resilience_runtime::{bulkhead as b, circuit_breaker as cb};
    assert_eq!(cb::MAX_WINDOW_CALLS, 1_000_000);
    assert_eq!(cb::MAX_HALF_OPEN_CALLS, 4_095);
    assert_eq!(b::MAX_CONCURRENT, 4_294_967_295);
    assert_eq!(b::MAX_WAITING, 2_147_483_647);

    assert_eq!(breaker_count(), Ok(1));
    assert_eq!(breaker_time(9).await, Ok(9));
    assert_eq!(bulkhead_fixed().await, Ok(2));
    assert_eq!(bulkhead_adaptive(), Ok(3));
    assert_eq!(rate_per_second(), Ok(4));
    assert_eq!(rate_per_minute(), Ok(5));
    assert_eq!(rate_burst().await, Ok(6));
    assert_eq!(retry_and_timeout().await, Ok(7));

    let fixed = registry::bulkhead("max::bulkhead").unwrap();
    assert_eq!(
        (fixed.limit(), fixed.max_waiting(), fixed.max_wait()),
        (4_294_967_295, 2_147_483_647, LONGEST)
    );
    let adaptive = registry::bulkhead("max::adaptive")
        .unwrap()
        .adaptive()
        .unwrap();
    let bounds = (adaptive.initial(), adaptive.min(), adaptive.max());
    assert_eq!(bounds, (4_294_967_295, 4_294_967_295, 4_294_967_295));

    let limiter = |name| registry::rate_limiter(name).unwrap();
    assert_eq!(
        limiter("max::per_second").rate(),
        Rate::per_second(1_000_000_000)
    );
    assert_eq!(
        limiter("max::per_minute").rate(),
        Rate::per_minute(u32::MAX)
    );
    let burst = limiter("max::burst");
    assert_eq!((burst.burst(), burst.max_wait()), (5_124_095, LONGEST));
    // The whole burst fits the limiter's clock: all but the call just made are left.
    assert_eq!(burst.available(), 5_124_094);
}
