use resilience_runtime::retry;

#[derive(Debug)]
struct E;

#[retry(max_attempts = 2.5)]
fn fraction() -> Result<(), E> {
    Ok(())
}

#[retry(max_attempts = "3")]
fn string() -> Result<(), E> {
    Ok(())
}

#[retry(max_attempts = 5000000000)]
fn too_large() -> Result<(), E> {
    Ok(())
}

fn main() {}
