use resilience_runtime::rate_limit;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[rate_limit(rate = "100/s", cost = 0)]
async fn free() -> Result<(), E> {
    Ok(())
}

fn main() {}
