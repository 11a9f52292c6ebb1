use resilience_runtime::bulkhead;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[bulkhead(max_concurrent = adaptive(initial = 20, min = 50, max = 10))]
async fn inverted() -> Result<(), E> {
    Ok(())
}

#[bulkhead(max_concurrent = adaptive(initial = 500, min = 1, max = 200))]
async fn initial_outside() -> Result<(), E> {
    Ok(())
}

fn main() {}
