use resilience_runtime::rate_limit;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[rate_limit(burst = 10)]
async fn unlimited() -> Result<(), E> {
    Ok(())
}

#[rate_limit]
async fn bare() -> Result<(), E> {
    Ok(())
}

fn main() {}
