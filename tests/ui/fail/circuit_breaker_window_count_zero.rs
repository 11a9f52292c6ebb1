use resilience_runtime::circuit_breaker;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(window = count(0))]
async fn empty_window() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(window = time("0s"))]
async fn empty_period() -> Result<(), E> {
    Ok(())
}

fn main() {}
