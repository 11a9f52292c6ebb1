use resilience_runtime::retry;

#[derive(Debug)]
struct E;

#[retry]
const fn constant() -> Result<u32, E> {
    Ok(1)
}

fn main() {}
