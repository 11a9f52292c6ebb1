use resilience_runtime::{retry, timeout};

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[timeout("5 parsecs")]
async fn unknown_unit() -> Result<(), E> {
    Ok(())
}

#[timeout("5")]
async fn no_unit() -> Result<(), E> {
    Ok(())
}

#[retry(max_elapsed = "10sec")]
fn almost() -> Result<(), E> {
    Ok(())
}

fn main() {}
