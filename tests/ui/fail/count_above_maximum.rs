//! Whole-number settings the runtime takes as `u32`, above 4294967295 (`max_attempts`
//! is in `integer_not_whole.rs`).
use resilience_runtime::{circuit_breaker, rate_limit};

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(window = time("60s"), min_calls = 4294967296, consecutive_failures = 4294967296)]
async fn breaker_counts() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(key = k, max_keys = 4294967296)]
fn breaker_keys(k: u8) -> Result<u8, E> {
    Ok(k)
}

#[rate_limit(rate = "10/s", key = k, max_keys = 4294967296)]
fn limiter_keys(k: u8) -> Result<u8, E> {
    Ok(k)
}

fn main() {}
