use resilience_runtime::circuit_breaker;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(window = 100)]
async fn number() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(window = sliding(100))]
async fn unknown_form() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(window = count())]
async fn count_without_number() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(window = time())]
async fn time_without_period() -> Result<(), E> {
    Ok(())
}

fn main() {}
