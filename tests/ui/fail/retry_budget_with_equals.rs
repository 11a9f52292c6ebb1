use resilience_runtime::retry;

#[derive(Debug)]
struct E;

#[retry(budget = 0.2)]
async fn call() -> Result<(), E> {
    Ok(())
}

fn main() {}
