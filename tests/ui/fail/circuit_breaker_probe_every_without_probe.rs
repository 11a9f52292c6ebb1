use resilience_runtime::{Rejection, circuit_breaker};

#[circuit_breaker(probe_every = "1s", probe_timeout = "500ms")]
async fn call() -> Result<(), Rejection> {
    Ok(())
}

fn main() {}
