use resilience_runtime::coalesce;

#[derive(Debug, Clone)]
struct E;

#[coalesce(key = id)]
fn profile(id: u64) -> Result<u64, E> {
    Ok(id)
}

fn main() {
    let _ = profile(1);
}
