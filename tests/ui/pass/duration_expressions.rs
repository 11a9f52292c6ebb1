//! Durations written as parenthesised expressions (API.md: "or a parenthesised
//! expression of type `core::time::Duration`") compile without warnings.
#![deny(warnings)]

use std::time::Duration;

use resilience_runtime::{retry, timeout};

#[derive(Debug, PartialEq)]
struct E;

impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

const LIMIT: Duration = Duration::from_millis(50);

fn budget() -> Duration {
    Duration::from_secs(1)
}

#[retry(
    max_attempts = 3,
    backoff = fixed((Duration::from_millis(10))),
    jitter = none,
    max_elapsed = (budget())
)]
#[timeout(after = (LIMIT))]
async fn expressions(calls: &mut u32) -> Result<u32, E> {
    *calls += 1;
    if *calls < 3 { Err(E) } else { Ok(*calls) }
}

#[retry(
    max_attempts = 3,
    backoff = exponential(initial = (Duration::from_millis(1)), factor = 2.0, max = (LIMIT)),
    jitter = none
)]
fn inside_forms(calls: &mut u32) -> Result<u32, E> {
    *calls += 1;
    if *calls < 3 { Err(E) } else { Ok(*calls) }
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let start = tokio::time::Instant::now();
    let mut calls = 0;
    assert_eq!(expressions(&mut calls).await, Ok(3));
    assert_eq!(start.elapsed(), Duration::from_millis(20));
    let mut calls = 0;
    assert_eq!(inside_forms(&mut calls), Ok(3));
}
