use resilience_runtime::retry;

#[derive(Debug)]
struct E;

trait Api {
    #[retry]
    async fn get(&self) -> Result<u32, E>;
}

fn main() {}
