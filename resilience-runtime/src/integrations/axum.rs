//! [`Rejection`] as an axum response (feature `axum`).
//!
//! With this feature `Rejection` implements
//! [`axum::response::IntoResponse`](axum_core::response::IntoResponse), so an axum
//! handler can carry `#[rate_limit]`, `#[bulkhead]`, `#[timeout]` or
//! `#[circuit_breaker]` and return `Result<_, Rejection>` (or an error type whose
//! `IntoResponse` delegates to it):
//!
//! | rejection | status |
//! |---|---|
//! | `RateLimited` | `429 Too Many Requests` |
//! | `CircuitOpen`, `BulkheadFull`, `ShuttingDown` | `503 Service Unavailable` |
//! | `Timeout` | `504 Gateway Timeout` |
//!
//! Where the rejection knows when to retry (`RateLimited` and `CircuitOpen`), the
//! response has a `Retry-After` header in whole seconds, rounded up (`1.2s` is `2`), and
//! at least `1` (a half-open breaker whose trials are all running says "now", which would
//! only be refused again). A rejection that can never pass by waiting
//! (`retry_after` = `Duration::MAX`: a breaker forced open, a cost above the burst)
//! has none. The body is the rejection's diagnosis, as `text/plain`.
//!
//! ```
//! use axum::{Router, routing::get};
//! use resilience_runtime::{Rejection, rate_limit};
//!
//! #[rate_limit(rate = "10/s")]
//! async fn search() -> Result<&'static str, Rejection> {
//!     Ok("results")
//! }
//!
//! let app: Router = Router::new().route("/search", get(search));
//! ```
//!
//! For the tower layers of feature `tower`, whose services fail with a boxed error,
//! [`handle_error`] turns that error back into this response (inside axum's
//! `HandleErrorLayer`).

use std::time::Duration;

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use crate::Rejection;

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status = status_of(&self);
        let retry_after = self.retry_after().and_then(retry_after_header);
        let mut response = Response::new(Body::from(self.to_string()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Some(value) = retry_after {
            headers.insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// The status a rejection answers with.
fn status_of(rejection: &Rejection) -> StatusCode {
    match rejection {
        Rejection::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        Rejection::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        Rejection::CircuitOpen { .. }
        | Rejection::BulkheadFull { .. }
        | Rejection::ShuttingDown { .. } => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// `Retry-After` for a wait of `wait`: whole seconds rounded up, at least 1; none for
/// `Duration::MAX` (waiting will not help).
fn retry_after_header(wait: Duration) -> Option<HeaderValue> {
    if wait == Duration::MAX {
        return None;
    }
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Some(HeaderValue::from(secs.max(1)))
}

/// The response for a tower layer's error: the [`Rejection`]'s response when the error
/// is one, else `500 Internal Server Error` with the error's text. Meant for axum's
/// `HandleErrorLayer`, around the layers of feature `tower`:
///
/// ```
/// # #[cfg(feature = "tower")] {
/// use axum::{Router, error_handling::HandleErrorLayer, routing::get};
/// use resilience_runtime::{Bulkhead, axum::handle_error};
/// use tower::ServiceBuilder;
///
/// let bulkhead = Bulkhead::builder("reports").max_concurrent(4).build().unwrap();
/// let app: Router = Router::new().route(
///     "/reports",
///     get(|| async { "report" }).layer(
///         ServiceBuilder::new()
///             .layer(HandleErrorLayer::new(handle_error))
///             .layer(bulkhead.layer()),
///     ),
/// );
/// # }
/// ```
pub async fn handle_error(error: Box<dyn std::error::Error + Send + Sync>) -> Response {
    error_response(error)
}

/// The synchronous form of [`handle_error`].
pub fn error_response(error: Box<dyn std::error::Error + Send + Sync>) -> Response {
    match error.downcast::<Rejection>() {
        Ok(rejection) => rejection.into_response(),
        Err(other) => {
            let mut response = Response::new(Body::from(other.to_string()));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(r: &Response) -> Option<&str> {
        r.headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap())
    }

    #[test]
    fn statuses_and_retry_after() {
        let limited = Rejection::RateLimited {
            name: "api".into(),
            retry_after: Duration::from_millis(1_200),
        }
        .into_response();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&limited), Some("2"));
        assert_eq!(
            limited.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );

        let open = Rejection::CircuitOpen {
            name: "db".into(),
            retry_after: Duration::from_secs(27),
        }
        .into_response();
        assert_eq!(open.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&open), Some("27"));

        let forced = Rejection::CircuitOpen {
            name: "db".into(),
            retry_after: Duration::MAX,
        }
        .into_response();
        assert_eq!(header(&forced), None);

        let half_open = Rejection::CircuitOpen {
            name: "db".into(),
            retry_after: Duration::ZERO,
        }
        .into_response();
        assert_eq!(header(&half_open), Some("1"));

        let full = Rejection::BulkheadFull {
            name: "pool".into(),
            max_concurrent: 4,
        }
        .into_response();
        assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&full), None);

        let down = Rejection::ShuttingDown { name: "x".into() }.into_response();
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);

        let slow = Rejection::Timeout {
            name: "slow".into(),
            after: Duration::from_secs(2),
        }
        .into_response();
        assert_eq!(slow.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(header(&slow), None);
    }

    #[test]
    fn other_errors_are_500() {
        let response = error_response("boom".into());
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let wrapped: Box<dyn std::error::Error + Send + Sync> =
            Box::new(Rejection::ShuttingDown { name: "x".into() });
        assert_eq!(
            error_response(wrapped).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
