use resilience_runtime::retry;

#[derive(Debug)]
struct E;

#[retry(jitter = random)]
fn unknown() -> Result<(), E> {
    Ok(())
}

#[retry(jitter = "full")]
fn quoted() -> Result<(), E> {
    Ok(())
}

fn main() {}
