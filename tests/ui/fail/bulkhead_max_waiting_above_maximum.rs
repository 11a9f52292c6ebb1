//! `max_waiting` above `bulkhead::MAX_WAITING` (2^31 - 1).
use resilience_runtime::bulkhead;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[bulkhead(max_concurrent = 1, max_wait = "1s", max_waiting = 2_147_483_648)]
async fn too_many_waiting() -> Result<(), E> {
    Ok(())
}

fn main() {}
