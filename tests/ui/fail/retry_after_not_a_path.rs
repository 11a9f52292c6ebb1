use resilience_runtime::retry;

#[derive(Debug)]
struct E;

#[retry(retry_after = 5)]
async fn call() -> Result<(), E> {
    Ok(())
}

fn main() {}
