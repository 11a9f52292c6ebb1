use resilience_runtime::{fallback, retry};

#[derive(Debug)]
struct E;

#[retry(order = intended)]
#[fallback(default)]
fn unquoted() -> Result<u32, E> {
    Ok(1)
}

#[retry(order = "outermost")]
#[fallback(default)]
fn other_word() -> Result<u32, E> {
    Ok(1)
}

fn main() {}
