//! `reqwest::Resilience` (feature `reqwest`) against real axum servers on 127.0.0.1:
//! which requests are retried, `Retry-After` in both forms, bodies that cannot be
//! cloned, per-attempt timeouts, and one breaker per host. Real time (the client's
//! sockets do not follow a paused clock), every wait short and bounded.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::any;
use reqwest_middleware::ClientWithMiddleware;
use resilience_runtime::backoff::Fixed;
use resilience_runtime::events::{self, EventKind, PolicyKind};
use resilience_runtime::reqwest::Resilience;
use resilience_runtime::{CircuitBreaker, CircuitState, Jitter, Rejection, Retry, registry};

/// A server on a free port of 127.0.0.1 whose `n`th request (from 1) is answered by
/// `answer(n)`; counts requests.
async fn server<F, Fut>(answer: F) -> (SocketAddr, Arc<AtomicU32>)
where
    F: Fn(u32) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output: IntoResponse> + Send + 'static,
{
    let count = Arc::new(AtomicU32::new(0));
    // Every path and method.
    let app = Router::new().fallback(any({
        let count = count.clone();
        move || {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            answer(n)
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, count)
}

fn client(resilience: Resilience) -> ClientWithMiddleware {
    let inner = reqwest::Client::builder()
        .timeout(Duration::from_secs(20)) // a bound on every test's wait
        .build()
        .unwrap();
    reqwest_middleware::ClientBuilder::new(inner)
        .with(resilience)
        .build()
}

fn retry(name: &'static str, attempts: u32) -> resilience_runtime::retry::RetryBuilder<Fixed> {
    Retry::builder()
        .name(name)
        .max_attempts(attempts)
        .backoff(Fixed::new(Duration::from_millis(10)))
        .jitter(Jitter::None)
}

fn rejection(err: &reqwest_middleware::Error) -> &Rejection {
    match err {
        reqwest_middleware::Error::Middleware(e) => e
            .downcast_ref::<Rejection>()
            .unwrap_or_else(|| panic!("expected a Rejection, got {e:?}")),
        other => panic!("expected a Rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn a_503_then_200_is_retried_and_succeeds() {
    let (addr, count) = server(|n| async move {
        if n == 1 {
            (StatusCode::SERVICE_UNAVAILABLE, "busy")
        } else {
            (StatusCode::OK, "fine")
        }
    })
    .await;
    let resilience = Resilience::builder()
        .retry(retry("reqwest-503", 3))
        .build()
        .unwrap();
    let response = client(resilience)
        .get(format!("http://{addr}/item"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "fine");
    assert_eq!(count.load(Ordering::SeqCst), 2);
    let snap = registry::snapshot()
        .into_iter()
        .find(|s| s.policy == PolicyKind::Retry && s.name == "reqwest-503")
        .expect("the retry counts under its builder's name");
    assert_eq!((snap.successes, snap.retries), (1, 1));
}

#[tokio::test]
async fn a_post_is_not_retried_and_the_last_response_is_returned() {
    let (addr, count) = server(|_| async { StatusCode::SERVICE_UNAVAILABLE }).await;
    let client = client(
        Resilience::builder()
            .retry(retry("reqwest-post", 3))
            .build()
            .unwrap(),
    );
    let response = client
        .post(format!("http://{addr}/orders"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(count.load(Ordering::SeqCst), 1, "POST is not idempotent");

    // The same failure on a GET is retried to the end, and the last 503 returned.
    let response = client
        .get(format!("http://{addr}/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(count.load(Ordering::SeqCst), 1 + 3);
}

#[tokio::test]
async fn only_the_listed_statuses_are_retried() {
    for (status, sent) in [
        (404, 1),
        (501, 1),
        (400, 1),
        (408, 2),
        (429, 2),
        (500, 2),
        (502, 2),
        (504, 2),
    ] {
        let (addr, count) =
            server(move |_| async move { StatusCode::from_u16(status).unwrap() }).await;
        let client = client(
            Resilience::builder()
                .retry(retry("reqwest-statuses", 2))
                .build()
                .unwrap(),
        );
        let response = client.get(format!("http://{addr}/")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        assert_eq!(count.load(Ordering::SeqCst), sent, "status {status}");
    }
}

#[tokio::test]
async fn a_body_that_cannot_be_cloned_is_never_retried() {
    let (addr, count) = server(|_| async { StatusCode::SERVICE_UNAVAILABLE }).await;
    let client = client(
        Resilience::builder()
            .retry(retry("reqwest-stream", 3))
            .build()
            .unwrap(),
    );
    // A streaming body: what was sent of it is gone, so a PUT made with it goes once.
    let body = reqwest::Body::wrap("streamed".to_string());
    let response = client
        .put(format!("http://{addr}/blob"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // A body of bytes can be cloned: the same PUT is retried.
    let response = client
        .put(format!("http://{addr}/blob"))
        .body("bytes")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(count.load(Ordering::SeqCst), 1 + 3);
}

fn too_many(retry_after: &str) -> axum::response::Response {
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", retry_after.parse().unwrap());
    (StatusCode::TOO_MANY_REQUESTS, headers, "slow down").into_response()
}

#[tokio::test]
async fn a_429_with_retry_after_2_waits_at_least_2s() {
    let (addr, count) = server(|n| async move {
        if n == 1 {
            too_many("2")
        } else {
            "fine".into_response()
        }
    })
    .await;
    let delays = Arc::new(Mutex::new(Vec::new()));
    let _events = {
        let delays = delays.clone();
        events::subscribe(move |e| {
            if let (true, EventKind::RetryScheduled { delay, .. }) =
                (e.name == "reqwest-429", &e.kind)
            {
                delays.lock().unwrap().push(*delay);
            }
        })
    };
    let client = client(
        Resilience::builder()
            .retry(retry("reqwest-429", 3))
            .build()
            .unwrap(),
    );
    let started = Instant::now();
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert!(took >= Duration::from_secs(2), "waited only {took:?}");
    assert!(took < Duration::from_secs(4), "waited {took:?}");
    assert_eq!(*delays.lock().unwrap(), [Duration::from_secs(2)]);
}

#[tokio::test]
async fn a_retry_after_date_is_a_lower_bound_and_junk_is_ignored() {
    // An HTTP date a little ahead (whole seconds: 2 to 3s from now).
    let (addr, count) = server(|n| async move {
        match n {
            1 => {
                let at = std::time::SystemTime::now() + Duration::from_secs(3);
                too_many(&httpdate::fmt_http_date(at))
            }
            2 => too_many("soon, maybe"),
            _ => "fine".into_response(),
        }
    })
    .await;
    let client = client(
        Resilience::builder()
            .retry(retry("reqwest-date", 3))
            .build()
            .unwrap(),
    );
    let started = Instant::now();
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(
        took >= Duration::from_millis(1_500),
        "the date was not waited for: {took:?}"
    );
    assert!(
        took < Duration::from_secs(6),
        "junk was not ignored: {took:?}"
    );
}

#[tokio::test]
async fn a_retry_after_past_max_elapsed_ends_the_retries_at_once() {
    let (addr, count) = server(|_| async { too_many("3600") }).await;
    let client = client(
        Resilience::builder()
            .retry(retry("reqwest-elapsed", 5).max_elapsed(Duration::from_secs(10)))
            .build()
            .unwrap(),
    );
    let started = Instant::now();
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "3600");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn each_attempt_has_its_own_timeout() {
    let (addr, count) = server(|n| async move {
        if n < 3 {
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        "fine"
    })
    .await;
    let client = client(
        Resilience::builder()
            .retry(retry("reqwest-timeout", 3))
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap(),
    );
    let started = Instant::now();
    // The first two attempts time out and are retried; the third answers.
    let response = client.get(format!("http://{addr}/")).send().await.unwrap();
    let took = started.elapsed();
    assert_eq!(response.text().await.unwrap(), "fine");
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(5),
        "{took:?}"
    );

    // Without retries left, the timeout is the error.
    let client2 = crate::client(
        Resilience::builder()
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap(),
    );
    let (slow, _) = server(|_| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        "late"
    })
    .await;
    let err = client2
        .get(format!("http://{slow}/"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(rejection(&err), Rejection::Timeout { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_dead_host_opens_its_own_breaker_and_not_another_hosts() {
    // A closed port on loopback: bound, then released.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (live, live_count) = server(|_| async { "alive" }).await;
    let resilience = Resilience::builder()
        .retry(retry("reqwest-hosts", 2))
        .circuit_breaker_per_host(
            CircuitBreaker::builder("reqwest-hosts")
                .consecutive_failures(3)
                .open_for(Duration::from_secs(60)),
        )
        .build()
        .unwrap();
    let client = client(resilience.clone());

    // Connection refused, retried: 2 attempts; a second call's first attempt is the
    // third failure in a row, which opens the breaker.
    let err = client
        .get(format!("http://{dead}/"))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let err = client
        .get(format!("http://{dead}/"))
        .send()
        .await
        .unwrap_err();
    let dead_key = dead.to_string();
    let breaker = resilience
        .breaker(&dead_key)
        .expect("the dead host has a breaker");
    assert_eq!(breaker.state(), CircuitState::Open, "after {err:?}");
    // The second call's first attempt was the third failure; its retry met the open
    // breaker, whose refusal is returned (and not retried).
    assert!(matches!(rejection(&err), Rejection::CircuitOpen { .. }));

    // Refused without a connection attempt, and not retried.
    let started = Instant::now();
    let err = client
        .get(format!("http://{dead}/"))
        .send()
        .await
        .unwrap_err();
    let Rejection::CircuitOpen { name, .. } = rejection(&err) else {
        panic!("{err:?}")
    };
    assert_eq!(name, "reqwest-hosts");
    assert!(started.elapsed() < Duration::from_millis(500));

    // The live host is unaffected.
    for _ in 0..3 {
        let response = client.get(format!("http://{live}/")).send().await.unwrap();
        assert_eq!(response.text().await.unwrap(), "alive");
    }
    assert_eq!(live_count.load(Ordering::SeqCst), 3);
    let live_breaker = resilience.breaker(&live.to_string()).unwrap();
    assert_eq!(live_breaker.state(), CircuitState::Closed);

    // One policy in listings, named after the builder, its state the worst host's.
    let snap = registry::snapshot()
        .into_iter()
        .find(|s| s.policy == PolicyKind::CircuitBreaker && s.name == "reqwest-hosts")
        .expect("the per-host breaker is registered under its builder's name");
    assert_eq!(snap.state, Some(CircuitState::Open));
    assert_eq!((snap.failures, snap.successes, snap.rejections), (3, 3, 2));
}
