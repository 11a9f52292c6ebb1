use resilience_runtime::circuit_breaker;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(open_for = "1s", open_for_factor = 1.5)]
async fn uncapped() -> Result<(), E> {
    Ok(())
}

fn main() {}
