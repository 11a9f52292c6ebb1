//! `half_open_calls` above `circuit_breaker::MAX_HALF_OPEN_CALLS` (4095).
use resilience_runtime::circuit_breaker;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(half_open_calls = 4096)]
fn too_many_trials() -> Result<(), E> {
    Ok(())
}

fn main() {}
