use resilience_runtime::cache;

#[derive(Debug)]
struct E;

#[cache(key = ratio, ttl = "1s")]
async fn scaled(ratio: f64) -> Result<f64, E> {
    Ok(ratio * 2.0)
}

fn main() {}
