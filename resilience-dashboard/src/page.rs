//! `GET /`: the page, one self-contained document (see `page.html`).

use axum::http::header;
use axum::response::IntoResponse;

/// The page's source: HTML with its CSS and JS inline, no external URL.
const PAGE: &str = include_str!("page.html");

/// The page, as HTML.
pub(crate) async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            // The browser enforces what the page promises: nothing loaded from elsewhere.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'",
            ),
        ],
        PAGE,
    )
}
