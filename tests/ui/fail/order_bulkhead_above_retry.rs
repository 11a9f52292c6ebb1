#![deny(deprecated)]

use resilience_runtime::{bulkhead, retry};

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[bulkhead(max_concurrent = 4)]
#[retry(max_attempts = 3)]
async fn holds_slot_while_sleeping() -> Result<u32, E> {
    Err(E)
}

fn main() {
    let _ = holds_slot_while_sleeping();
}
