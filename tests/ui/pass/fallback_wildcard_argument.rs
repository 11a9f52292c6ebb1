//! A `_` argument is still an argument of the fallback function (it gets every
//! argument, then the error).
#![deny(warnings)]

use resilience_runtime::fallback;

#[derive(Debug, PartialEq)]
struct E;

fn backup(id: u32, attempt: u64, err: E) -> Result<String, E> {
    assert_eq!(err, E);
    Ok(format!("backup {id} {attempt}"))
}

#[fallback(backup)]
fn lookup(id: u32, _: u64) -> Result<String, E> {
    let _ = id;
    Err(E)
}

async fn backup_ref(id: &str, _unused: &str, err: E) -> Result<String, E> {
    Ok(format!("{id} {err:?}"))
}

#[fallback(backup_ref)]
async fn lookup_ref(id: &str, _: &str) -> Result<String, E> {
    let _ = id;
    Err(E)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(lookup(1, 2), Ok("backup 1 2".to_string()));
    assert_eq!(lookup_ref("a", "b").await, Ok("a E".to_string()));
}
