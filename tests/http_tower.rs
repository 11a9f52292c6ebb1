//! Every policy as a tower layer (feature `tower`): `ServiceBuilder` stacks, the
//! services' readiness contract (no slot held between `poll_ready` and `call`), an
//! axum router limited and bulkheaded inbound, and layers sharing state with the
//! attributes of the same name. Paused tokio time throughout.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use axum::{Router, extract::ConnectInfo};
use resilience_runtime::backoff::Fixed;
use resilience_runtime::events::{self, EventKind, PolicyKind};
use resilience_runtime::{
    Bulkhead, CircuitBreaker, CircuitState, Jitter, KeyedRateLimiter, Rate, RateLimiter, Rejection,
    Retry, Timeout, bulkhead, circuit_breaker, registry,
};
use tokio::sync::Notify;
use tower::{BoxError, Layer, Service, ServiceBuilder, ServiceExt, service_fn};

const MS: Duration = Duration::from_millis(1);

fn rejection(err: &BoxError) -> &Rejection {
    err.downcast_ref::<Rejection>()
        .unwrap_or_else(|| panic!("expected a Rejection, got {err:?}"))
}

/// A service that counts its calls and fails while `fail` says so.
fn counting(
    calls: Arc<AtomicU32>,
    fail_first: u32,
) -> impl Service<u32, Response = u32, Error = BoxError, Future: Send> + Clone {
    service_fn(move |n: u32| {
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if call <= fail_first {
                Err::<u32, BoxError>(format!("backend failed (call {call})").into())
            } else {
                Ok(n * 2)
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_service_builder_stack_opens_its_breaker_and_stops_calling() {
    let calls = Arc::new(AtomicU32::new(0));
    let breaker = CircuitBreaker::builder("tower-stack")
        .consecutive_failures(3)
        .open_for(Duration::from_secs(30))
        .build()
        .unwrap();
    let bulkhead = Bulkhead::builder("tower-stack")
        .max_concurrent(4)
        .build()
        .unwrap();
    let mut service = ServiceBuilder::new()
        .layer(breaker.layer())
        .layer(Timeout::new("tower-stack", Duration::from_secs(1)).layer())
        .layer(bulkhead.layer())
        .service(counting(calls.clone(), u32::MAX));

    for _ in 0..3 {
        let err = service.ready().await.unwrap().call(1).await.unwrap_err();
        assert!(err.to_string().starts_with("backend failed"), "{err}");
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    let err = service.ready().await.unwrap().call(1).await.unwrap_err();
    let Rejection::CircuitOpen { name, retry_after } = rejection(&err) else {
        panic!("{err}")
    };
    assert_eq!(
        (name.as_ref(), *retry_after),
        ("tower-stack", Duration::from_secs(30))
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "an open breaker never calls the inner service's future"
    );
    assert_eq!(bulkhead.metrics().in_flight, 0);

    // After the open period a trial succeeds (the inner service now does) and closes it.
    tokio::time::advance(Duration::from_secs(30)).await;
    let breaker = CircuitBreaker::builder("tower-stack-2")
        .half_open_calls(1)
        .consecutive_failures(1)
        .open_for(Duration::from_secs(5))
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let mut service = breaker.layer().layer(counting(calls.clone(), 1));
    assert!(service.ready().await.unwrap().call(1).await.is_err());
    assert_eq!(breaker.state(), CircuitState::Open);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(service.ready().await.unwrap().call(21).await.unwrap(), 42);
    assert_eq!(breaker.state(), CircuitState::Closed);
}

/// Polls `future` once.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    let waker = std::task::Waker::noop();
    future.poll(&mut Context::from_waker(waker))
}

#[tokio::test(start_paused = true)]
async fn a_bulkhead_slot_is_taken_in_the_call_future_not_in_poll_ready() {
    let bulkhead = Bulkhead::builder("tower-slots")
        .max_concurrent(1)
        .build()
        .unwrap();
    let gate = Arc::new(Notify::new());
    let inner = {
        let gate = gate.clone();
        service_fn(move |_: ()| {
            let gate = gate.clone();
            async move {
                gate.notified().await;
                Ok::<_, BoxError>("done")
            }
        })
    };
    let layer = bulkhead.layer();

    // Polled ready, then dropped without a call: nothing held.
    for _ in 0..5 {
        let mut service = layer.layer(inner.clone());
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .unwrap();
        drop(service);
    }
    assert_eq!(bulkhead.metrics().in_flight, 0);

    // Ready but never called, kept alive: still nothing held, others are admitted.
    let mut idle = layer.layer(inner.clone());
    std::future::poll_fn(|cx| idle.poll_ready(cx))
        .await
        .unwrap();

    // Called, its future dropped before it was polled: nothing held.
    let mut service = layer.layer(inner.clone());
    let unpolled = service.ready().await.unwrap().call(());
    assert_eq!(bulkhead.metrics().in_flight, 0);
    drop(unpolled);

    // A polled call holds the one slot while it runs ...
    let mut running = pin!(service.ready().await.unwrap().call(()));
    assert!(poll_once(running.as_mut()).is_pending());
    assert_eq!(bulkhead.metrics().in_flight, 1);
    // ... so a second one is refused ...
    let err = service.ready().await.unwrap().call(()).await.unwrap_err();
    assert!(matches!(
        rejection(&err),
        Rejection::BulkheadFull {
            max_concurrent: 1,
            ..
        }
    ));
    // ... and the slot comes back when it completes.
    gate.notify_one();
    assert_eq!(running.await.unwrap(), "done");
    assert_eq!(bulkhead.metrics().in_flight, 0);

    // A running call whose future is dropped (cancelled) gives its slot back.
    {
        let mut cancelled = pin!(service.ready().await.unwrap().call(()));
        assert!(poll_once(cancelled.as_mut()).is_pending());
        assert_eq!(bulkhead.metrics().in_flight, 1);
    }
    assert_eq!(bulkhead.metrics().in_flight, 0);
    drop(idle);
}

#[tokio::test(start_paused = true)]
async fn a_rate_limit_slot_is_taken_when_the_call_runs() {
    let limiter = RateLimiter::builder("tower-rate")
        .rate(Rate::per_second(10))
        .burst(2)
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let mut service = limiter.layer().layer(counting(calls.clone(), 0));
    // Readiness alone spends nothing.
    for _ in 0..10 {
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .unwrap();
    }
    assert_eq!(limiter.available(), 2);
    // Nor does a call whose future is never polled.
    drop(service.call(1));
    assert_eq!(limiter.available(), 2);

    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 2);
    assert_eq!(service.ready().await.unwrap().call(2).await.unwrap(), 4);
    let err = service.ready().await.unwrap().call(3).await.unwrap_err();
    let Rejection::RateLimited { name, retry_after } = rejection(&err) else {
        panic!("{err}")
    };
    assert_eq!((name.as_ref(), *retry_after), ("tower-rate", MS * 100));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "a refused call never runs the inner future"
    );
    tokio::time::advance(MS * 100).await;
    assert_eq!(service.ready().await.unwrap().call(3).await.unwrap(), 6);
}

#[tokio::test(start_paused = true)]
async fn a_keyed_rate_limit_keys_by_a_function_of_the_request() {
    let per_user = KeyedRateLimiter::builder("tower-keyed")
        .rate(Rate::per_minute(1))
        .build()
        .unwrap();
    let mut service = ServiceBuilder::new()
        .layer(per_user.layer(|(user, _): &(&'static str, u32)| *user))
        .service(service_fn(|(_, n): (&'static str, u32)| async move {
            Ok::<_, BoxError>(n)
        }));
    assert_eq!(
        service
            .ready()
            .await
            .unwrap()
            .call(("ann", 1))
            .await
            .unwrap(),
        1
    );
    let err = service
        .ready()
        .await
        .unwrap()
        .call(("ann", 2))
        .await
        .unwrap_err();
    assert!(
        matches!(rejection(&err), Rejection::RateLimited { .. }),
        "{err}"
    );
    assert_eq!(
        service
            .ready()
            .await
            .unwrap()
            .call(("bob", 3))
            .await
            .unwrap(),
        3
    );
    assert_eq!(per_user.keys(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_layer_drops_the_inner_future() {
    let dropped = Arc::new(AtomicU32::new(0));
    struct OnDrop(Arc<AtomicU32>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let inner = {
        let dropped = dropped.clone();
        service_fn(move |work: Duration| {
            let guard = OnDrop(dropped.clone());
            async move {
                tokio::time::sleep(work).await;
                drop(guard);
                Ok::<_, BoxError>(work)
            }
        })
    };
    let timeout = Timeout::new("tower-timeout", MS * 100);
    let mut service = timeout.layer().layer(inner);
    assert_eq!(
        service.ready().await.unwrap().call(MS * 99).await.unwrap(),
        MS * 99
    );
    let start = tokio::time::Instant::now();
    let err = service
        .ready()
        .await
        .unwrap()
        .call(Duration::from_secs(10))
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), MS * 100);
    let Rejection::Timeout { name, after } = rejection(&err) else {
        panic!("{err}")
    };
    assert_eq!((name.as_ref(), *after), ("tower-timeout", MS * 100));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        2,
        "the timed-out call's future was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_layer_sends_clones_of_the_request_until_one_succeeds() {
    let calls = Arc::new(AtomicU32::new(0));
    let retry = Retry::builder()
        .name("tower-retry")
        .max_attempts(4)
        .backoff(Fixed::new(MS * 50))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let scheduled = Arc::new(AtomicU32::new(0));
    let _events = {
        let scheduled = scheduled.clone();
        events::subscribe(move |e| {
            if e.name == "tower-retry" && matches!(e.kind, EventKind::RetryScheduled { .. }) {
                scheduled.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let mut service = ServiceBuilder::new()
        .layer(retry.layer())
        .service(counting(calls.clone(), 2));
    let start = tokio::time::Instant::now();
    assert_eq!(service.ready().await.unwrap().call(5).await.unwrap(), 10);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), MS * 100, "two backoff sleeps of 50ms");
    assert_eq!(scheduled.load(Ordering::SeqCst), 2);
    let snapshot = registry::snapshot();
    let mine = snapshot
        .iter()
        .find(|s| s.policy == PolicyKind::Retry && s.name == "tower-retry")
        .expect("the layer's retry is in the snapshot");
    assert_eq!((mine.successes, mine.retries), (1, 2));

    // Every attempt failing: the last error comes back as it is.
    let calls = Arc::new(AtomicU32::new(0));
    let mut failing = retry.layer().layer(counting(calls.clone(), u32::MAX));
    let err = failing.ready().await.unwrap().call(1).await.unwrap_err();
    assert_eq!(err.to_string(), "backend failed (call 4)");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[derive(Debug, thiserror::Error)]
enum DbError {
    #[error("database down")]
    Down,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

#[circuit_breaker(
    name = "tower-shared-breaker",
    consecutive_failures = 2,
    open_for = "30s"
)]
async fn load(fail: bool) -> Result<u32, DbError> {
    if fail { Err(DbError::Down) } else { Ok(7) }
}

#[bulkhead(name = "tower-shared-bulkhead", max_concurrent = 1)]
async fn hold(gate: Arc<Notify>) -> Result<(), Rejection> {
    gate.notified().await;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn layers_share_state_with_the_attributes_of_the_same_name() {
    // The attribute opens the breaker; the layer made from the registry's breaker
    // refuses at once, and its own calls count in the same breaker.
    assert_eq!(load(false).await.unwrap(), 7);
    let breaker = registry::circuit_breaker("tower-shared-breaker").unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let mut service = breaker.layer().layer(counting(calls.clone(), u32::MAX));
    assert!(service.ready().await.unwrap().call(1).await.is_err()); // one failure via the layer
    assert!(matches!(load(true).await, Err(DbError::Down))); // the second, via the attribute
    assert_eq!(breaker.state(), CircuitState::Open);
    let err = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert!(matches!(rejection(&err), Rejection::CircuitOpen { .. }));
    assert!(matches!(
        load(false).await,
        Err(DbError::Rejected(Rejection::CircuitOpen { .. }))
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let snap = breaker.snapshot();
    assert_eq!((snap.successes, snap.failures, snap.rejections), (1, 2, 2));

    // A bulkhead slot held by the attribute's call is the layer's slot too.
    let gate = Arc::new(Notify::new());
    let held = tokio::spawn(hold(gate.clone()));
    tokio::task::yield_now().await;
    let bulkhead = registry::bulkhead("tower-shared-bulkhead").unwrap();
    assert_eq!(bulkhead.metrics().in_flight, 1);
    let mut service = bulkhead
        .layer()
        .layer(counting(Arc::new(AtomicU32::new(0)), 0));
    let err = service.ready().await.unwrap().call(1).await.unwrap_err();
    assert!(matches!(rejection(&err), Rejection::BulkheadFull { .. }));
    gate.notify_one();
    held.await.unwrap().unwrap();
    assert_eq!(service.ready().await.unwrap().call(1).await.unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_axum_route_rate_limited_per_client_and_bulkheaded() {
    let per_client = KeyedRateLimiter::builder("tower-axum-clients")
        .rate(Rate::per_second(1))
        .burst(2)
        .build()
        .unwrap();
    let bulkhead = Bulkhead::builder("tower-axum-bulkhead")
        .max_concurrent(1)
        .build()
        .unwrap();
    let gate = Arc::new(Notify::new());
    let handler = {
        let gate = gate.clone();
        move |req: Request<Body>| {
            let gate = gate.clone();
            async move {
                if req.uri().query() == Some("slow") {
                    gate.notified().await;
                }
                "ok"
            }
        }
    };
    let app = Router::new().route(
        "/work",
        get(handler).layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(
                    resilience_runtime::axum::handle_error,
                ))
                .layer(per_client.layer(|req: &Request<Body>| {
                    req.extensions()
                        .get::<ConnectInfo<std::net::SocketAddr>>()
                        .map(|c| c.0.ip())
                }))
                .layer(bulkhead.layer()),
        ),
    );
    let request = |client: [u8; 4], query: &str| {
        let mut req = Request::get(format!("/work?{query}"))
            .body(Body::empty())
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(std::net::SocketAddr::from((client, 4000))));
        req
    };

    let ok = app
        .clone()
        .oneshot(request([10, 0, 0, 1], "fast"))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    // A slow call holds the bulkhead's one slot: another client is refused with 503.
    let slow = tokio::spawn(app.clone().oneshot(request([10, 0, 0, 1], "slow")));
    tokio::task::yield_now().await;
    assert_eq!(bulkhead.metrics().in_flight, 1);
    let full = app
        .clone()
        .oneshot(request([10, 0, 0, 2], "fast"))
        .await
        .unwrap();
    assert_eq!(full.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = axum::body::to_bytes(full.into_body(), 1 << 16)
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&body).starts_with("bulkhead 'tower-axum-bulkhead' is full"));
    gate.notify_one();
    assert_eq!(slow.await.unwrap().unwrap().status(), StatusCode::OK);

    // The first client spent its burst of 2: 429 with Retry-After; the second has its own.
    let limited = app
        .clone()
        .oneshot(request([10, 0, 0, 1], "fast"))
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["retry-after"], "1");
    let other = app
        .clone()
        .oneshot(request([10, 0, 0, 2], "fast"))
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(bulkhead.metrics().in_flight, 0);
}

#[tokio::test(start_paused = true)]
async fn rejections_through_a_layer_are_events_and_counts_of_the_policy() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let _events = {
        let seen = seen.clone();
        events::subscribe(move |e| {
            if e.name == "tower-events" {
                seen.lock()
                    .unwrap()
                    .push((e.policy, format!("{:?}", e.kind)));
            }
        })
    };
    let limiter = RateLimiter::builder("tower-events")
        .rate(Rate::per_second(1))
        .burst(1)
        .register()
        .unwrap();
    let mut service = limiter
        .layer()
        .layer(counting(Arc::new(AtomicU32::new(0)), 0));
    service.ready().await.unwrap().call(1).await.unwrap();
    service.ready().await.unwrap().call(1).await.unwrap_err();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, PolicyKind::RateLimit);
    assert!(seen[0].1.starts_with("Rejected"), "{seen:?}");
    let snap = registry::snapshot()
        .into_iter()
        .find(|s| s.policy == PolicyKind::RateLimit && s.name == "tower-events")
        .unwrap();
    assert_eq!((snap.successes, snap.rejections), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn waits_happen_in_the_call_future_and_a_dropped_waiter_leaves_the_line() {
    let bulkhead = Bulkhead::builder("tower-waiting")
        .max_concurrent(1)
        .max_wait(MS * 100)
        .build()
        .unwrap();
    let gate = Arc::new(Notify::new());
    let inner = {
        let gate = gate.clone();
        service_fn(move |_: ()| {
            let gate = gate.clone();
            async move {
                gate.notified().await;
                Ok::<_, BoxError>(())
            }
        })
    };
    let mut service = bulkhead.layer().layer(inner);
    let mut running = pin!(service.ready().await.unwrap().call(()));
    assert!(poll_once(running.as_mut()).is_pending());
    {
        let mut waiting = pin!(service.ready().await.unwrap().call(()));
        assert!(poll_once(waiting.as_mut()).is_pending());
        assert_eq!(bulkhead.metrics().waiting, 1);
    }
    assert_eq!(
        bulkhead.metrics().waiting,
        0,
        "a dropped waiter leaves the line"
    );
    assert_eq!(bulkhead.metrics().in_flight, 1);
    gate.notify_one();
    running.await.unwrap();
    assert_eq!(bulkhead.metrics().in_flight, 0);

    // A rate-limited call within max_wait sleeps in its future until its slot.
    let limiter = RateLimiter::builder("tower-waiting")
        .rate(Rate::per_second(10))
        .burst(1)
        .max_wait(MS * 200)
        .build()
        .unwrap();
    let mut service = limiter
        .layer()
        .layer(counting(Arc::new(AtomicU32::new(0)), 0));
    let start = tokio::time::Instant::now();
    service.ready().await.unwrap().call(1).await.unwrap();
    service.ready().await.unwrap().call(2).await.unwrap();
    assert_eq!(
        start.elapsed(),
        MS * 100,
        "the second call waited for its slot"
    );
}
