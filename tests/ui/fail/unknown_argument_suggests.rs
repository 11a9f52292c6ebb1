use resilience_runtime::{retry, timeout};

#[derive(Debug)]
struct E;

// A typo: the nearest valid argument is suggested, and all of them are listed.
#[retry(max_attemps = 3)]
async fn typo() -> Result<(), E> {
    Ok(())
}

// Nothing close: only the list.
#[timeout(after = "1s", deadline = "2s")]
async fn unrelated() -> Result<(), E> {
    Ok(())
}

// A bare value where `key = value` is expected: the list.
#[retry(5)]
fn number() -> Result<(), E> {
    Ok(())
}

// A bare name close to a valid key: the key is suggested.
#[retry(jitter)]
fn key_without_value() -> Result<(), E> {
    Ok(())
}

fn main() {}
