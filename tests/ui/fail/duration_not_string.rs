use resilience_runtime::{retry, timeout};

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

// A bare number has no unit.
#[timeout(after = 30)]
async fn number() -> Result<(), E> {
    Ok(())
}

// An expression must be parenthesised.
#[retry(max_elapsed = 2 * SECOND)]
fn unparenthesised() -> Result<(), E> {
    Ok(())
}

const SECOND: std::time::Duration = std::time::Duration::from_secs(1);

fn main() {}
