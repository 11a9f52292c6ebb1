//! A burst the limiter cannot hold: a full burst is kept as burst × interval in 64-bit
//! nanoseconds (at `"1/h"`, at most 5124095 calls), and a burst is a `u32`.
use resilience_runtime::rate_limit;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[rate_limit(rate = "1/h", burst = 5124096)]
async fn a_burst_longer_than_the_clock() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "100/s", burst = 4294967296)]
fn more_than_a_burst_counts() -> Result<(), E> {
    Ok(())
}

fn main() {}
