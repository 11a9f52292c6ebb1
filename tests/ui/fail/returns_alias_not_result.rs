use resilience_runtime::retry;

type Answer = Option<u32>;

// The macro cannot see through an alias: the compiler checks it, at the return type.
#[retry]
async fn answer() -> Answer {
    Some(42)
}

fn main() {}
