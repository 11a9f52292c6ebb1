use resilience_runtime::retry;

#[retry]
fn lookup(key: &str) -> Option<u32> {
    key.parse().ok()
}

fn main() {}
