//! `window = count(N)` above `circuit_breaker::MAX_WINDOW_CALLS` (1 000 000).
use resilience_runtime::circuit_breaker;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(window = count(1_000_001))]
async fn too_many_calls() -> Result<(), E> {
    Ok(())
}

fn main() {}
