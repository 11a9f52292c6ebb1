use resilience_runtime::circuit_breaker;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(failure_rate = 1.5)]
async fn above_one() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(failure_rate = 0.0)]
async fn zero() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(failure_rate = "50%")]
async fn percent() -> Result<(), E> {
    Ok(())
}

fn main() {}
