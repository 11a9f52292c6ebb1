use resilience_runtime::retry;

#[derive(Debug)]
struct E;

#[retry(budget(min_per_sec = 2.5))]
async fn call() -> Result<(), E> {
    Ok(())
}

fn main() {}
