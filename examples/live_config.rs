//! Settings changed without a restart: a service whose policies read a settings file
//! (feature `config`), which the example edits itself partway through.
//!
//! `cargo run --example live_config` runs for about three seconds: clients call a
//! search endpoint limited to 5 calls a second and a payments backend that fails one
//! call in three behind a breaker that opens at 90% failures. After a second the file
//! is rewritten (rate 50/s, breaker threshold 30%); `config::watch` applies it within
//! its polling interval, and the printed figures change while the same policies keep
//! running.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::{Rejection, circuit_breaker, config, rate_limit, registry};

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("backend failed")]
    Backend,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

#[rate_limit(name = "search", rate = "100/s")]
async fn search() -> Result<(), ApiError> {
    Ok(())
}

static PAYMENTS: AtomicU32 = AtomicU32::new(0);

#[circuit_breaker(name = "payments", window = count(20), min_calls = 10, open_for = "10s")]
async fn pay() -> Result<(), ApiError> {
    if PAYMENTS.fetch_add(1, Ordering::Relaxed) % 3 == 0 {
        Err(ApiError::Backend)
    } else {
        Ok(())
    }
}

const BEFORE: &str = r#"
[rate_limit.search]
rate = "5/s"

[circuit_breaker.payments]
failure_rate = 0.9
"#;

const AFTER: &str = r#"
[rate_limit.search]
rate = "50/s"

[circuit_breaker.payments]
failure_rate = 0.3
"#;

/// Calls `search` for `period` at about 100 a second; returns how many were admitted.
async fn search_for(period: Duration) -> u32 {
    let end = tokio::time::Instant::now() + period;
    let mut admitted = 0;
    while tokio::time::Instant::now() < end {
        if search().await.is_ok() {
            admitted += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    admitted
}

async fn pay_a_few() -> String {
    let mut outcomes = String::new();
    for _ in 0..12 {
        outcomes.push(match pay().await {
            Ok(()) => '.',
            Err(ApiError::Backend) => 'x',
            Err(ApiError::Rejected(_)) => 'R',
        });
    }
    outcomes
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("live_config-{}.toml", std::process::id()));
    std::fs::write(&path, BEFORE)?;
    let watch = config::watch(&path)?;
    println!("settings file {}:{BEFORE}", path.display());

    let admitted = search_for(Duration::from_millis(600)).await;
    println!("search: {admitted} of ~60 calls admitted in 600ms (limit 5/s, burst 5)");
    let outcomes = pay_a_few().await;
    let state = registry::circuit_breaker("payments").map(|b| b.state());
    println!("payments: {outcomes} -> breaker {state:?} (opens at 90% failures)");

    std::fs::write(&path, AFTER)?;
    println!("\nthe file is edited, no restart:{AFTER}");
    let end = tokio::time::Instant::now() + Duration::from_secs(2);
    while registry::rate_limiter("search").map(|l| l.rate().count()) != Some(50) {
        assert!(
            tokio::time::Instant::now() < end,
            "the edit was not applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("applied ({} applies so far)", watch.applied());

    // The limiter's schedule goes on: the slots already taken stay taken.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let admitted = search_for(Duration::from_millis(600)).await;
    println!("search: {admitted} of ~60 calls admitted in 600ms (limit now 50/s)");
    let outcomes = pay_a_few().await;
    let state = registry::circuit_breaker("payments").map(|b| b.state());
    println!("payments: {outcomes} -> breaker {state:?} (opens at 30% failures, same window)");

    drop(watch);
    let _ = std::fs::remove_file(&path);
    Ok(())
}
