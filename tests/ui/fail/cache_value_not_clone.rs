use resilience_runtime::cache;

#[derive(Debug)]
struct E;

/// Not `Clone`: the cache could not keep a copy and hand out another.
struct Quote {
    cents: u32,
}

#[cache(ttl = "30s")]
async fn quote() -> Result<Quote, E> {
    Ok(Quote { cents: 1 })
}

#[cache(ttl = "30s")]
fn plain_quote() -> Result<Quote, E> {
    Ok(Quote { cents: 2 })
}

fn main() {
    let _ = quote();
    let _ = plain_quote().map(|q| q.cents);
}
