use resilience_runtime::retry;

#[derive(Debug)]
struct E;

#[retry(budget(rato = 0.2))]
async fn call() -> Result<(), E> {
    Ok(())
}

fn main() {}
