use resilience_runtime::{Rejection, circuit_breaker};

async fn healthy(_host: &str) -> bool {
    true
}

#[circuit_breaker(probe = healthy)]
async fn call() -> Result<(), Rejection> {
    Ok(())
}

fn main() {}
