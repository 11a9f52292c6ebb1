use resilience_runtime::{Rejection, circuit_breaker};

fn healthy() -> bool {
    true
}

#[circuit_breaker(probe = healthy)]
async fn call() -> Result<(), Rejection> {
    Ok(())
}

fn main() {}
