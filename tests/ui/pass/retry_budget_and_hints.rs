#![deny(warnings)]

use std::time::Duration;

use resilience_runtime::retry;

#[derive(Debug)]
struct E;

fn hint(_: &E) -> Option<Duration> {
    None
}

#[retry(budget)]
async fn defaults() -> Result<(), E> {
    Ok(())
}

#[retry(budget(ratio = 0.5, min_per_sec = 0, window = "1m"), retry_after = hint)]
async fn settings() -> Result<(), E> {
    Ok(())
}

const RATIO: f64 = 0.1 * 2.0;

#[retry(budget(ratio = RATIO, window = (Duration::from_secs(5))), retry_after = hint)]
fn blocking() -> Result<(), E> {
    Ok(())
}

struct Client;

impl Client {
    fn hint(_: &E) -> Option<Duration> {
        Some(Duration::from_millis(1))
    }

    #[retry(budget(min_per_sec = 1), retry_after = Self::hint)]
    async fn method(&self) -> Result<(), E> {
        Ok(())
    }
}

fn main() {
    let _ = (defaults(), settings(), blocking(), Client.method());
}
