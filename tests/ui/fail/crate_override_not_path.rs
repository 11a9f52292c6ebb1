use resilience_runtime::retry;

#[derive(Debug)]
struct E;

#[retry(crate = "resilience_runtime")]
fn quoted() -> Result<u32, E> {
    Ok(1)
}

fn main() {}
