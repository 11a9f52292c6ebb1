use resilience_runtime::{fallback, retry};

#[derive(Debug)]
struct E;

struct Request {
    body: Vec<u8>,
}

// Each attempt needs its own `Request`.
#[retry(max_attempts = 2, backoff = none)]
async fn send(request: Request) -> Result<usize, E> {
    Ok(request.body.len())
}

fn backup(request: Request, _: E) -> Result<usize, E> {
    Ok(request.body.len())
}

// The fallback function gets the arguments again.
#[fallback(backup)]
fn send_or_backup(request: Request) -> Result<usize, E> {
    Ok(request.body.len())
}

// A reference needs no copy.
#[retry(max_attempts = 2, backoff = none)]
async fn send_ref(request: &Request) -> Result<usize, E> {
    Ok(request.body.len())
}

impl Request {
    // An owned receiver is an owned argument too.
    #[retry(max_attempts = 2, backoff = none)]
    fn send_self(self) -> Result<usize, E> {
        Ok(self.body.len())
    }
}

fn main() {}
