use resilience_runtime::timeout;

#[derive(Debug)]
enum ApiError {
    Down,
}

#[timeout("1s")]
async fn fetch() -> Result<u32, ApiError> {
    Err(ApiError::Down)
}

fn main() {}
