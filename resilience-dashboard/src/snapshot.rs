//! `GET /snapshot.json`: the registry snapshot, as the page polls it.

use axum::Json;
use axum::http::header;
use axum::response::IntoResponse;
use resilience_runtime::registry;

/// `{"policies": [...]}`, each policy as `PolicySnapshot` serializes (sorted by policy
/// kind, then name). Never cached: it is a reading of now.
pub(crate) async fn snapshot() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "policies": registry::snapshot() })),
    )
}
