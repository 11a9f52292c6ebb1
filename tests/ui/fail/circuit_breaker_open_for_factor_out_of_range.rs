use resilience_runtime::circuit_breaker;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(open_for = "1s", open_for_max = "1m", open_for_factor = 1.0)]
async fn no_growth() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(open_for = "1s", open_for_max = "1m", open_for_factor = 0.5)]
async fn shrinking() -> Result<(), E> {
    Ok(())
}

fn main() {}
