//! Bounds of `adaptive(..)` that leave a default outside them (`initial` 20, `max` 200):
//! the runtime would move the default into them.
use resilience_runtime::bulkhead;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[bulkhead(max_concurrent = adaptive(max = 10))]
async fn max_below_the_default_initial() -> Result<(), E> {
    Ok(())
}

#[bulkhead(max_concurrent = adaptive(min = 50, max = 100))]
async fn min_above_the_default_initial() -> Result<(), E> {
    Ok(())
}

#[bulkhead(max_concurrent = adaptive(initial = 300, min = 300))]
async fn min_above_the_default_max() -> Result<(), E> {
    Ok(())
}

fn main() {}
