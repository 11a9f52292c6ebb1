use resilience_runtime::{Rejection, circuit_breaker};

async fn healthy() -> bool {
    true
}

#[circuit_breaker(probe = healthy)]
fn call() -> Result<(), Rejection> {
    Ok(())
}

fn main() {}
