use resilience_runtime::rate_limit;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

// A key must be `Hash + Eq + Clone + Send + Sync + 'static`: one limiter per value.
#[rate_limit(rate = "10/s", key = price)]
async fn by_price(price: f64) -> Result<f64, E> {
    Ok(price)
}

// A borrowed key does not live long enough to be kept.
#[rate_limit(rate = "10/s", key = tenant)]
async fn by_borrowed(tenant: &str) -> Result<usize, E> {
    Ok(tenant.len())
}

fn main() {}
