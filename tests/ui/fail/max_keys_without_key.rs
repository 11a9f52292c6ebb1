use resilience_runtime::{circuit_breaker, rate_limit};

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(max_keys = 100)]
async fn breaker(_tenant: &str) -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "10/s", max_keys = 100)]
async fn limiter(_tenant: &str) -> Result<(), E> {
    Ok(())
}

fn main() {}
