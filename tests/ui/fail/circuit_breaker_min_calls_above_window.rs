//! `min_calls` above the calls a count window holds: the runtime would lower it to the
//! window's size.
use resilience_runtime::circuit_breaker;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[circuit_breaker(window = count(20), min_calls = 21)]
async fn above_the_window() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(min_calls = 101)]
fn above_the_default_window() -> Result<(), E> {
    Ok(())
}

fn main() {}
