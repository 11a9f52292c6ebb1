#![deny(deprecated)]

use resilience_runtime::{rate_limit, retry};

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[rate_limit(rate = "10/s")]
#[retry(max_attempts = 3)]
async fn retries_bypass_the_limit() -> Result<u32, E> {
    Err(E)
}

fn main() {
    let _ = retries_bypass_the_limit();
}
