use resilience_runtime::retry;

#[derive(Debug)]
struct E;

#[retry(budget(window = "0s"))]
async fn call() -> Result<(), E> {
    Ok(())
}

fn main() {}
