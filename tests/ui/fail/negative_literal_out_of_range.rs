use resilience_runtime::{circuit_breaker, retry};

#[derive(Debug)]
struct E;

#[retry(budget(ratio = -1.0))]
async fn budgeted() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(failure_rate = -0.5)]
fn guarded() -> Result<(), resilience_runtime::Rejection> {
    Ok(())
}

fn main() {}
