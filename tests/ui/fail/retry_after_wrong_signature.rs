use std::time::Duration;

use resilience_runtime::retry;

#[derive(Debug)]
struct E;

fn hint(_: &E) -> Duration {
    Duration::from_secs(1)
}

#[retry(retry_after = hint)]
async fn call() -> Result<(), E> {
    Ok(())
}

fn main() {}
