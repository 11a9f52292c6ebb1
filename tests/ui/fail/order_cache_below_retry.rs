#![deny(deprecated)]

use resilience_runtime::{cache, retry};

#[derive(Debug)]
struct E;

#[retry(max_attempts = 3, backoff = none)]
#[cache(stale_if_error = "10m")]
fn stops_at_the_first_failure() -> Result<u32, E> {
    Err(E)
}

fn main() {
    let _ = stops_at_the_first_failure();
}
