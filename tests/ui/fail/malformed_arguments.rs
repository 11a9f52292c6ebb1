use resilience_runtime::retry;

#[derive(Debug)]
struct E;

#[retry(max_attempts = )]
fn missing_value() -> Result<(), E> {
    Ok(())
}

fn main() {}
