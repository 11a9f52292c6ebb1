//! `crate = path` for users who reach the runtime under another name: a re-export
//! module, an `extern crate` rename, an absolute path.
#![deny(warnings)]

extern crate resilience_runtime as renamed;

/// A facade crate's re-export, as a user's own `prelude` module would be.
mod rt {
    pub use resilience_runtime::*;
}

mod facade {
    pub mod resilience {
        pub use ::renamed::*;
    }
}

use rt::{fallback, retry, timeout};

#[derive(Debug, PartialEq)]
struct E;

impl From<rt::Rejection> for E {
    fn from(_: rt::Rejection) -> Self {
        E
    }
}

#[retry(crate = crate::rt, max_attempts = 2, backoff = none)]
fn through_module(calls: &mut u32) -> Result<u32, E> {
    *calls += 1;
    if *calls < 2 { Err(E) } else { Ok(*calls) }
}

#[fallback(crate = renamed, value = 9)]
#[retry(max_attempts = 2, backoff = fixed("1ms"))]
#[timeout("1s")]
async fn through_extern_crate_rename(calls: &mut u32) -> Result<u32, E> {
    *calls += 1;
    Err(E)
}

#[renamed::retry(crate = ::renamed, max_attempts = 2, backoff = none)]
#[renamed::timeout(after = "1s", crate = ::renamed)]
async fn absolute(calls: &mut u32) -> Result<u32, E> {
    *calls += 1;
    Ok(*calls)
}

#[retry(crate = self::facade::resilience, max_attempts = 2, backoff = none)]
fn through_nested_module(owned: String) -> Result<usize, E> {
    Ok(owned.len())
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let mut calls = 0;
    assert_eq!(through_module(&mut calls), Ok(2));
    let mut calls = 0;
    assert_eq!(through_extern_crate_rename(&mut calls).await, Ok(9));
    assert_eq!(calls, 2);
    let mut calls = 0;
    assert_eq!(absolute(&mut calls).await, Ok(1));
    assert_eq!(through_nested_module("ab".into()), Ok(2));
}
