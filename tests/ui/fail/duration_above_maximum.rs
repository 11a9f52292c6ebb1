//! Durations longer than the policies count (64-bit nanoseconds, about 584 years), in
//! every attribute that takes one.
use resilience_runtime::{bulkhead, circuit_breaker, rate_limit, retry, timeout};

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[timeout("18446744073709551616ns")]
async fn timeout_after() -> Result<(), E> {
    Ok(())
}

#[retry(max_elapsed = "5124096h", backoff = exponential(initial = "1ms", max = "307445735m"))]
fn retry_durations() -> Result<(), E> {
    Ok(())
}

#[retry(backoff = fixed("18446744074s"))]
fn retry_fixed() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(window = time("5124096h"), open_for = "18446744074s", slow_call = "5124096h")]
fn breaker_durations() -> Result<(), E> {
    Ok(())
}

#[bulkhead(max_concurrent = 1, max_wait = "18446744073709551616ns")]
fn bulkhead_wait() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "1/s", max_wait = "5124096h")]
fn rate_limit_wait() -> Result<(), E> {
    Ok(())
}

fn main() {}
