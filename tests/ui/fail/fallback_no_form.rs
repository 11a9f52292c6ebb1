use resilience_runtime::fallback;

#[derive(Debug)]
struct E;

fn is_transient(_: &E) -> bool {
    true
}

#[fallback]
fn bare() -> Result<u32, E> {
    Ok(1)
}

#[fallback(fallback_if = is_transient)]
fn only_a_condition() -> Result<u32, E> {
    Ok(1)
}

fn main() {}
