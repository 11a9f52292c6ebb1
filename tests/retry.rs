//! `#[retry]` end to end, under paused tokio time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::retry;
use tokio::time::Instant;

#[derive(Debug, Clone, PartialEq)]
struct Flaky(u32);

static CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(max_attempts = 4, backoff = fixed("100ms"), jitter = none)]
async fn fails_twice(tag: String) -> Result<String, Flaky> {
    let n = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if n < 3 {
        return Err(Flaky(n));
    }
    Ok(format!("{tag}:{n}"))
}

#[tokio::test(start_paused = true)]
async fn retries_until_success_with_fixed_delays() {
    let start = Instant::now();
    assert_eq!(fails_twice("x".to_string()).await, Ok("x:3".to_string()));
    assert_eq!(CALLS.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), Duration::from_millis(200));
}
