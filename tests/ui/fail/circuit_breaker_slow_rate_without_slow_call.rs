use resilience_runtime::circuit_breaker;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(slow_call_rate = 0.5)]
async fn slow_share_without_threshold() -> Result<(), E> {
    Ok(())
}

fn main() {}
