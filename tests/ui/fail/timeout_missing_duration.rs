use resilience_runtime::timeout;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[timeout]
async fn bare() -> Result<(), E> {
    Ok(())
}

#[timeout(name = "slow")]
async fn named_only() -> Result<(), E> {
    Ok(())
}

fn main() {}
