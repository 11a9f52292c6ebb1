use resilience_runtime::cache;

#[derive(Debug)]
struct E;

#[cache(key = id, tll = "30s")]
async fn price(id: u64) -> Result<u64, E> {
    Ok(id)
}

#[cache(ttl = "30 secs")]
async fn other(id: u64) -> Result<u64, E> {
    Ok(id)
}

#[cache(max_keys = 10)]
async fn unkeyed(id: u64) -> Result<u64, E> {
    Ok(id)
}

fn main() {}
