use resilience_runtime::{fallback, retry};

#[derive(Debug)]
struct E;

#[retry(retry_if = |_e: &E| true)]
fn closure() -> Result<(), E> {
    Ok(())
}

#[retry(on_retry = "log")]
fn string() -> Result<(), E> {
    Ok(())
}

#[fallback("backup")]
fn fallback_string() -> Result<u32, E> {
    Ok(1)
}

fn main() {}
