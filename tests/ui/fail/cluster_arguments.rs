use resilience_runtime::{circuit_breaker, rate_limit};

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[rate_limit(rate = "100/s", scope = "fleet")]
async fn bad_scope() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "100/s", batch = 10)]
async fn batch_without_scope() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "100/s", on_store_error = "local")]
async fn on_store_error_without_scope() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "100/s", store_timeout = "50ms")]
async fn store_timeout_without_scope() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "100/s", scope = "cluster", batch = 0)]
async fn batch_zero() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "100/s", scope = "cluster", batch = 1001)]
async fn batch_too_large() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "100/s", scope = "cluster", on_store_error = "ignore")]
async fn bad_mode() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "100/s", scope = "cluster", store_timeout = "0ms")]
async fn zero_store_timeout() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(quorum = 2)]
async fn quorum_without_scope() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(scope = "cluster", quorum = 0)]
async fn quorum_zero() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(scope = "cluster", key = id)]
async fn keyed_cluster_breaker(id: u32) -> Result<(), E> {
    let _ = id;
    Ok(())
}

#[circuit_breaker(scope = "everywhere")]
async fn bad_breaker_scope() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "100/s", scope = "cluster")]
fn plain_fn() -> Result<(), E> {
    Ok(())
}

fn main() {}
