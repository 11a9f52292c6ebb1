use resilience_runtime::fallback;

#[derive(Debug)]
struct E;

fn backup(_: E) -> Result<u32, E> {
    Ok(0)
}

#[fallback(default, value = 7)]
fn default_and_value() -> Result<u32, E> {
    Ok(1)
}

#[fallback(backup, default)]
fn path_and_default() -> Result<u32, E> {
    Ok(1)
}

fn main() {}
