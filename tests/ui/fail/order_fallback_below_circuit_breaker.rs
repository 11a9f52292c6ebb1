#![deny(deprecated)]

use resilience_runtime::{circuit_breaker, fallback};

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(name = "never_opens")]
#[fallback(default)]
async fn never_opens() -> Result<u32, E> {
    Err(E)
}

fn main() {
    let _ = never_opens();
}
