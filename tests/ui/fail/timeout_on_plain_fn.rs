use resilience_runtime::{retry, timeout};

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[timeout("1s")]
fn plain() -> Result<(), E> {
    Ok(())
}

#[retry]
#[timeout("1s")]
fn plain_in_a_stack() -> Result<(), E> {
    Ok(())
}

fn main() {}
