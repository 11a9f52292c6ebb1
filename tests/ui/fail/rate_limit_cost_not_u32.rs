use resilience_runtime::rate_limit;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[rate_limit(rate = "1000/s", cost = body.len())]
async fn upload(body: &[u8]) -> Result<(), E> {
    let _ = body;
    Ok(())
}

fn main() {}
