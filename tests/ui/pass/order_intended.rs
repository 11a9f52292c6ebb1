//! `order = "intended"` on either attribute of a risky pair silences the order warning:
//! this compiles under `#![deny(warnings)]`.
#![deny(warnings)]

use resilience_runtime::{fallback, retry};

#[derive(Debug, PartialEq)]
struct E;

/// Each attempt falls back on its own (on purpose): the retry never sees an error.
#[retry(max_attempts = 3, backoff = none, order = "intended")]
#[fallback(value = 1)]
fn on_the_upper(calls: &mut u32) -> Result<u32, E> {
    *calls += 1;
    Err(E)
}

#[retry(max_attempts = 3, backoff = none)]
#[fallback(default, order = "intended")]
async fn on_the_lower(calls: &mut u32) -> Result<u32, E> {
    *calls += 1;
    Err(E)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut calls = 0;
    assert_eq!(on_the_upper(&mut calls), Ok(1));
    assert_eq!(calls, 1, "the fallback answered the first attempt");
    let mut calls = 0;
    assert_eq!(on_the_lower(&mut calls).await, Ok(0));
    assert_eq!(calls, 1);
}
