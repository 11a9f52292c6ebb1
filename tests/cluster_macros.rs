//! `#[rate_limit(scope = "cluster")]` end to end, on a real Redis: before
//! `cluster::connect` the call is decided locally (and the `ClusterError` reported
//! once, as a `StoreUnavailable` event); after it, through Redis.

mod redis_support;

use std::sync::{Arc, Mutex};

use redis_support::RedisServer;
use resilience_runtime::events::{self, EventKind};
use resilience_runtime::{Rejection, cluster, rate_limit};

#[rate_limit(
    rate = "1/min",
    burst = 2,
    scope = "cluster",
    name = "macros-fleet",
    store_timeout = "100ms"
)]
async fn fleet_call() -> Result<(), Rejection> {
    Ok(())
}

#[tokio::test]
async fn scope_cluster_without_a_cluster_decides_locally_then_through_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let _sub = events::subscribe(move |e| {
        if e.name == "macros-fleet" {
            if let EventKind::StoreUnavailable { error } = &e.kind {
                sink.lock().unwrap().push(error.clone());
            }
        }
    });
    // No cluster yet: the local limiter (burst 2) decides, no call fails for it.
    assert!(fleet_call().await.is_ok());
    assert!(fleet_call().await.is_ok());
    assert!(matches!(
        fleet_call().await,
        Err(Rejection::RateLimited { .. })
    ));
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "reported once: {seen:?}");
        assert!(seen[0].contains("no cluster is connected"), "{}", seen[0]);
    }

    // Connected: decisions go through Redis (a fresh burst of 2, counted there).
    cluster::connect(&server.url()).await.unwrap();
    let before = server.calls("evalsha") + server.calls("eval");
    assert!(fleet_call().await.is_ok());
    assert!(fleet_call().await.is_ok());
    assert!(matches!(
        fleet_call().await,
        Err(Rejection::RateLimited { .. })
    ));
    // Three decisions by hash, the first answered NOSCRIPT (a new Redis), so the
    // script was loaded once and that decision sent again.
    assert_eq!(server.calls("evalsha") + server.calls("eval") - before, 4);
    assert_eq!(server.calls("script|load"), 1);
}
