use resilience_runtime::retry;

#[derive(Debug)]
struct E;

#[retry(max_attempts = 0)]
async fn never() -> Result<(), E> {
    Ok(())
}

fn main() {}
