//! `max_concurrent` and the bounds of `adaptive(..)` above `bulkhead::MAX_CONCURRENT`
//! (4294967295).
use resilience_runtime::bulkhead;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[bulkhead(max_concurrent = 4294967296)]
async fn fixed() -> Result<(), E> {
    Ok(())
}

#[bulkhead(max_concurrent = adaptive(initial = 10, min = 1, max = 4294967296))]
fn adaptive_max() -> Result<(), E> {
    Ok(())
}

fn main() {}
