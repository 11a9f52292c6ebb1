use resilience_runtime::retry;

#[derive(Debug)]
struct E;

#[retry(max_attempts = 3, backoff = none, max_attempts = 5)]
fn twice() -> Result<(), E> {
    Ok(())
}

fn main() {}
