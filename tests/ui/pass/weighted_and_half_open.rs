//! The arguments of issue 17 under `#![deny(warnings)]`: `cost` over the arguments
//! (a method, a retried call whose cost is taken per attempt, keyed, plain), and the
//! breaker's `max_wait_in_half_open` and `open_for_factor`, run under paused time.
#![deny(warnings)]

use std::time::Duration;

use resilience_runtime::{Rejection, circuit_breaker, rate_limit, retry};

#[derive(Debug, Clone, PartialEq)]
enum E {
    Backend,
    Rejected(Rejection),
}

impl From<Rejection> for E {
    fn from(r: Rejection) -> Self {
        E::Rejected(r)
    }
}

struct Model {
    per_token: u32,
}

impl Model {
    #[rate_limit(rate = "100/s", cost = prompt.len() as u32 * self.per_token)]
    async fn complete(&self, prompt: String) -> Result<usize, E> {
        Ok(prompt.len())
    }

    #[retry(max_attempts = 2, backoff = none)]
    #[rate_limit(rate = "100/s", max_wait = "1s", key = tenant.clone(), cost = rows)]
    async fn load(&self, tenant: String, rows: u32) -> Result<u32, E> {
        if rows > 0 { Ok(rows) } else { Err(E::Backend) }
    }
}

#[rate_limit(rate = "10/s", burst = 10, cost = 10)]
fn whole_burst() -> Result<(), E> {
    Ok(())
}

#[circuit_breaker(
    window = count(2),
    open_for = "1s",
    open_for_max = "1m",
    open_for_factor = 1.5,
    max_wait_in_half_open = "30s"
)]
async fn guarded(fail: bool) -> Result<(), E> {
    if fail { Err(E::Backend) } else { Ok(()) }
}

#[circuit_breaker(max_wait_in_half_open = (Duration::from_secs(5)), open_for_max = "10m", open_for_factor = 3)]
fn plain() -> Result<(), E> {
    Ok(())
}

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let model = Model { per_token: 2 };
    assert_eq!(model.complete("hello".to_owned()).await, Ok(5));
    assert_eq!(model.load("a".to_owned(), 7).await, Ok(7));
    assert_eq!(model.load("a".to_owned(), 0).await, Err(E::Backend));
    assert_eq!(whole_burst(), Ok(()));
    assert!(matches!(
        whole_burst(),
        Err(E::Rejected(Rejection::RateLimited { .. }))
    ));
    assert_eq!(guarded(false).await, Ok(()));
    assert_eq!(plain(), Ok(()));
}
