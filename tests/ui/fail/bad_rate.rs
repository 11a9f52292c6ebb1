use resilience_runtime::rate_limit;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[rate_limit(rate = "100")]
async fn no_period() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "many/s")]
async fn not_a_count() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "10/fortnight")]
async fn unknown_period() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = "10/0s")]
async fn zero_period() -> Result<(), E> {
    Ok(())
}

#[rate_limit(rate = 100)]
async fn not_a_string() -> Result<(), E> {
    Ok(())
}

fn main() {}
