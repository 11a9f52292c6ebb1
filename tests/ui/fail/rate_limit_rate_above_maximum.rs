//! A rate faster than the limiter can honour: it spaces calls by whole nanoseconds,
//! at least 1ns apart (at most 10^9 a second), and counts at most 4294967295 calls a
//! period. The runtime would clamp these without a word.
use resilience_runtime::rate_limit;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[rate_limit(rate = "4294967295/s")]
async fn u32_max_per_second() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "1000000001/s")]
async fn one_over_a_call_per_nanosecond() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "250000001/250ms")]
fn over_in_a_short_period() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "4294967296/min")]
fn more_calls_than_a_period_counts() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "1/18446744073709551616ns")]
fn a_period_longer_than_the_clock() -> Result<(), E> {
    Ok(())
}

fn main() {}
