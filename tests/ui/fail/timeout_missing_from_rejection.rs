use resilience_runtime::{bulkhead, rate_limit, timeout};

#[derive(Debug)]
enum ApiError {
    Down,
}

#[timeout("1s")]
async fn fetch() -> Result<u32, ApiError> {
    Err(ApiError::Down)
}

// Every policy that can refuse a call needs the same conversion.
#[bulkhead(max_concurrent = 4)]
async fn guarded() -> Result<u32, ApiError> {
    Err(ApiError::Down)
}

#[rate_limit(rate = "10/s")]
fn limited() -> Result<u32, ApiError> {
    Err(ApiError::Down)
}

fn main() {}
