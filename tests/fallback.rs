//! `#[fallback]` in every form, async and plain.

use std::sync::atomic::{AtomicU32, Ordering};

use resilience_runtime::{Rejection, fallback, retry};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ApiError {
    #[error("unavailable")]
    Unavailable,
    #[error("bad request")]
    BadRequest,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

fn is_unavailable(e: &ApiError) -> bool {
    matches!(e, ApiError::Unavailable)
}

async fn backup(
    sku: String,
    qty: &mut u32,
    cause: ApiError,
    error: ApiError,
) -> Result<String, ApiError> {
    assert_eq!(cause, error);
    *qty += 100;
    Ok(format!("backup {sku} x{qty} ({error})"))
}

#[fallback(backup)]
async fn with_path(sku: String, qty: &mut u32, error: ApiError) -> Result<String, ApiError> {
    *qty += 1;
    let _ = &sku;
    Err(error)
}

#[tokio::test]
async fn path_gets_the_same_arguments_then_the_error() {
    let mut qty = 0;
    assert_eq!(
        with_path("a".into(), &mut qty, ApiError::Unavailable).await,
        Ok("backup a x101 (unavailable)".to_string()),
        "the body ran once, then the fallback with the same (mutable) reference"
    );
    assert_eq!(qty, 101);
}

#[fallback(default)]
async fn with_default(fail: bool) -> Result<Vec<u32>, ApiError> {
    if fail {
        Err(ApiError::Unavailable)
    } else {
        Ok(vec![1])
    }
}

#[fallback(value = 42)]
fn with_value(fail: bool) -> Result<u32, ApiError> {
    if fail {
        Err(ApiError::BadRequest)
    } else {
        Ok(1)
    }
}

#[tokio::test]
async fn default_and_value_forms() {
    assert_eq!(with_default(false).await, Ok(vec![1]));
    assert_eq!(with_default(true).await, Ok(vec![]));
    assert_eq!(with_value(false), Ok(1));
    assert_eq!(with_value(true), Ok(42));
}

#[fallback(value = 0, fallback_if = is_unavailable)]
fn selective(error: ApiError) -> Result<u32, ApiError> {
    Err(error)
}

static BACKUP_CALLS: AtomicU32 = AtomicU32::new(0);

fn plain_backup(id: u32, cause: ApiError, error: ApiError) -> Result<u32, ApiError> {
    BACKUP_CALLS.fetch_add(1, Ordering::SeqCst);
    assert_eq!(cause, error);
    Ok(id * 2)
}

#[fallback(plain_backup, fallback_if = is_unavailable)]
fn plain_path(id: u32, error: ApiError) -> Result<u32, ApiError> {
    let _ = id;
    Err(error)
}

#[test]
fn fallback_if_returns_other_errors_as_they_are() {
    assert_eq!(selective(ApiError::Unavailable), Ok(0));
    assert_eq!(selective(ApiError::BadRequest), Err(ApiError::BadRequest));
    assert_eq!(plain_path(21, ApiError::Unavailable), Ok(42));
    assert_eq!(
        plain_path(21, ApiError::BadRequest),
        Err(ApiError::BadRequest)
    );
    assert_eq!(
        BACKUP_CALLS.load(Ordering::SeqCst),
        1,
        "called only for the accepted error"
    );
}

struct Cache {
    hits: AtomicU32,
}

impl Cache {
    #[fallback(Self::stale, fallback_if = is_unavailable)]
    #[retry(max_attempts = 2, backoff = none)]
    async fn fresh(&self, key: String) -> Result<String, ApiError> {
        let _ = key;
        Err(ApiError::Unavailable)
    }

    async fn stale(&self, key: String, error: ApiError) -> Result<String, ApiError> {
        self.hits.fetch_add(1, Ordering::SeqCst);
        Ok(format!("stale {key} after {error}"))
    }
}

#[tokio::test(start_paused = true)]
async fn methods_pass_the_receiver_first() {
    let cache = Cache {
        hits: AtomicU32::new(0),
    };
    assert_eq!(
        cache.fresh("k".into()).await,
        Ok("stale k after unavailable".to_string())
    );
    assert_eq!(cache.hits.load(Ordering::SeqCst), 1);
}

/// By hand, a fallback is a `match`; the attribute is a shorthand for it. The runtime's
/// `Rejection` converts like any error.
#[test]
fn rejection_converts_into_the_error() {
    let rejection = Rejection::ShuttingDown { name: "svc".into() };
    let error: ApiError = rejection.clone().into();
    assert_eq!(error, ApiError::Rejected(rejection));
}
