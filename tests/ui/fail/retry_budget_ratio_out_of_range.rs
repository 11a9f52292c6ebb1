use resilience_runtime::retry;

#[derive(Debug)]
struct E;

#[retry(budget(ratio = 10.5))]
async fn call() -> Result<(), E> {
    Ok(())
}

fn main() {}
