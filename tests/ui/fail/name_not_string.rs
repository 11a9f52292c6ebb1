use resilience_runtime::timeout;

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

#[timeout(after = "1s", name = payments)]
async fn ident() -> Result<(), E> {
    Ok(())
}

#[timeout(after = "1s", name = "")]
async fn empty() -> Result<(), E> {
    Ok(())
}

fn main() {}
