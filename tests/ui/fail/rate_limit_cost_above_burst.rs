use resilience_runtime::rate_limit;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[rate_limit(rate = "100/s", burst = 100, cost = 500)]
async fn explicit_burst() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "10/s", cost = 11)]
fn default_burst() -> Result<(), E> {
    Ok(())
}

fn main() {}
