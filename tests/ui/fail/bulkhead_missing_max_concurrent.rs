use resilience_runtime::bulkhead;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[bulkhead(max_wait = "1s")]
async fn unbounded() -> Result<(), E> {
    Ok(())
}

#[bulkhead(max_concurrent = 0)]
async fn zero() -> Result<(), E> {
    Ok(())
}

fn main() {}
