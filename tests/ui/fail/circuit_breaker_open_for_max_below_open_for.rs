use resilience_runtime::circuit_breaker;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(open_for = "30s", open_for_max = "10s")]
async fn given() -> Result<(), E> {
    Ok(())
}

// `open_for` defaults to 60s.
#[circuit_breaker(open_for_max = "30s")]
async fn below_the_default() -> Result<(), E> {
    Ok(())
}

fn main() {}
