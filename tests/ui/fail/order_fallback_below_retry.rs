#![deny(deprecated)]

use resilience_runtime::{fallback, retry};

#[derive(Debug)]
struct E;

#[retry(max_attempts = 3, backoff = none)]
#[fallback(default)]
fn never_retried() -> Result<u32, E> {
    Err(E)
}

fn main() {
    let _ = never_retried();
}
