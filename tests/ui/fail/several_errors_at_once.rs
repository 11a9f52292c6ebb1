use resilience_runtime::{fallback, retry, timeout};

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

// Every mistake of the stack is reported in one build, each at its own token.
#[fallback(default, value = 1)]
#[retry(max_attempts = 0, jitter = wild, backof = none)]
#[timeout("2 fortnights")]
async fn everything_wrong() -> Result<u32, E> {
    Ok(0)
}

fn main() {}
