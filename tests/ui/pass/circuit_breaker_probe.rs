#![deny(warnings)]

use resilience_runtime::{Rejection, circuit_breaker};

async fn healthy() -> bool {
    true
}

struct Client;

impl Client {
    async fn up() -> bool {
        false
    }

    #[circuit_breaker(probe = Self::up, probe_every = "500ms", probe_timeout = "2s")]
    async fn call(&self) -> Result<(), Rejection> {
        Ok(())
    }
}

#[circuit_breaker(probe = healthy)]
async fn free() -> Result<(), Rejection> {
    Ok(())
}

fn main() {
    let _ = (free(), Client.call());
}
