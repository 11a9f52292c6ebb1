use resilience_runtime::circuit_breaker;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(max_wait_in_half_open = "0s")]
async fn never_waits() -> Result<(), E> {
    Ok(())
}

fn main() {}
