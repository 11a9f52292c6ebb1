use resilience_runtime::retry;

#[derive(Debug)]
struct E;

// A bare value where `key = value` is expected.
#[retry(5)]
fn number() -> Result<(), E> {
    Ok(())
}

// A bare name close to a valid key.
#[retry(jitter)]
fn key_without_value() -> Result<(), E> {
    Ok(())
}

fn main() {}
