#![deny(warnings)]

use resilience_runtime::{Rejection, circuit_breaker, rate_limit};

#[rate_limit(
    rate = "100/s",
    scope = "cluster",
    batch = 1,
    on_store_error = "local",
    store_timeout = "50ms"
)]
async fn fleet_wide() -> Result<(), Rejection> {
    Ok(())
}

#[rate_limit(rate = "5/s", scope = "cluster", batch = 20, on_store_error = "deny", key = user.to_owned())]
async fn per_user(user: &str) -> Result<(), Rejection> {
    let _ = user;
    Ok(())
}

#[rate_limit(rate = "5/s", scope = "local")]
async fn local_only() -> Result<(), Rejection> {
    Ok(())
}

#[circuit_breaker(name = "payments", scope = "cluster", quorum = 2)]
async fn payments() -> Result<(), Rejection> {
    Ok(())
}

fn main() {
    let _ = (fleet_wide(), per_user("a"), local_only(), payments());
}
