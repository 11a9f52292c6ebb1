use resilience_runtime::{fallback, retry};

#[derive(Debug)]
struct E;

#[fallback(default)]
#[retry = 3]
fn stacked() -> Result<u32, E> {
    Ok(1)
}

#[retry = 3]
fn alone() -> Result<u32, E> {
    Ok(1)
}

fn main() {}
