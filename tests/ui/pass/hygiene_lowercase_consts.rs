//! Generated `match` arms and `let`s bind names the user cannot see: lowercase
//! constants in scope named like them (`result`, `delay`, `outcome`, `error`) do not
//! turn the bindings into constant patterns.
#![deny(warnings)]
#![allow(non_upper_case_globals)]

use resilience_runtime::{fallback, retry, timeout};

#[derive(Debug, PartialEq)]
struct E(u32);

impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E(0)
    }
}

const result: u32 = 0;
const delay: u32 = 0;
const outcome: u32 = 0;
const error: u32 = 0;
const run: u32 = 0;
const policy: u32 = 0;

fn until(calls: &mut u32, n: u32) -> Result<u32, E> {
    *calls += 1;
    if *calls < n {
        Err(E(*calls))
    } else {
        Ok(*calls)
    }
}

#[retry(max_attempts = 2, backoff = none)]
fn plain(calls: &mut u32) -> Result<u32, E> {
    until(calls, 2)
}

#[fallback(value = 3)]
#[retry(max_attempts = 2, backoff = fixed("1ms"))]
#[timeout("1s")]
async fn stacked(calls: &mut u32) -> Result<u32, E> {
    until(calls, 99)
}

async fn backup(calls: &mut u32, err: E) -> Result<u32, E> {
    Ok(*calls * 100 + err.0)
}

#[fallback(backup)]
async fn with_path(calls: &mut u32) -> Result<u32, E> {
    until(calls, 99)
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let _ = (result, delay, outcome, error, run, policy);
    let mut calls = 0;
    assert_eq!(plain(&mut calls), Ok(2));
    let mut calls = 0;
    assert_eq!(stacked(&mut calls).await, Ok(3));
    assert_eq!(calls, 2);
    let mut calls = 0;
    assert_eq!(with_path(&mut calls).await, Ok(101));
}
