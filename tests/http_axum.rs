//! `Rejection` as an axum response (feature `axum`), over real HTTP on 127.0.0.1:
//! handlers carrying `#[rate_limit]`, `#[bulkhead]` and `#[timeout]` answer 429, 503
//! and 504 with `Retry-After` where the rejection knows when, and the diagnosis as a
//! `text/plain` body. Every request is bounded in time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use resilience_runtime::{Rejection, bulkhead, rate_limit, timeout};
use tokio::sync::Notify;

/// Serves `app` on a free port of 127.0.0.1 until the test ends.
async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    content_type: Option<String>,
    body: String,
}

async fn get_url(url: String) -> Answer {
    let client = reqwest::Client::new();
    let response = tokio::time::timeout(Duration::from_secs(10), client.get(url).send())
        .await
        .expect("the server answers within 10s")
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: response.status().as_u16(),
        retry_after: header("retry-after"),
        content_type: header("content-type"),
        body: response.text().await.unwrap(),
    }
}

#[rate_limit(rate = "1/min", burst = 1, name = "axum-limited")]
async fn limited() -> Result<&'static str, Rejection> {
    Ok("hello")
}

#[tokio::test]
async fn a_rate_limited_handler_answers_429_with_retry_after() {
    let addr = serve(Router::new().route("/limited", get(limited))).await;
    let url = format!("http://{addr}/limited");
    let first = get_url(url.clone()).await;
    assert_eq!((first.status, first.body.as_str()), (200, "hello"));

    let second = get_url(url).await;
    assert_eq!(second.status, 429);
    // The next slot is a minute after the first call, less the time since (a few ms;
    // more on a loaded machine): rounded up, 60 whole seconds.
    let secs: u64 = second.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((55..=60).contains(&secs), "Retry-After: {secs}");
    assert_eq!(
        second.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert!(
        second
            .body
            .starts_with("rate limit 'axum-limited' exceeded"),
        "{}",
        second.body
    );
    assert!(second.body.contains("next slot in"), "{}", second.body);
}

static GATE: std::sync::OnceLock<Arc<Notify>> = std::sync::OnceLock::new();

#[bulkhead(max_concurrent = 1, name = "axum-bulkhead")]
async fn guarded() -> Result<&'static str, Rejection> {
    GATE.get().unwrap().notified().await;
    Ok("done")
}

#[tokio::test]
async fn a_bulkheaded_handler_answers_503_while_full() {
    let gate = GATE.get_or_init(|| Arc::new(Notify::new())).clone();
    let addr = serve(Router::new().route("/guarded", get(guarded))).await;
    let url = format!("http://{addr}/guarded");
    let holding = tokio::spawn(get_url(url.clone()));
    // Wait (bounded) until the first request holds the slot.
    let bulkhead = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(b) = resilience_runtime::registry::bulkhead("axum-bulkhead") {
                if b.metrics().in_flight == 1 {
                    break b;
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the first request holds the slot within 10s");
    let refused = get_url(url.clone()).await;
    assert_eq!(refused.status, 503);
    assert_eq!(
        refused.retry_after, None,
        "a bulkhead cannot say when a slot frees"
    );
    assert!(
        refused.body.starts_with("bulkhead 'axum-bulkhead' is full"),
        "{}",
        refused.body
    );
    gate.notify_one();
    let held = tokio::time::timeout(Duration::from_secs(10), holding)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((held.status, held.body.as_str()), (200, "done"));
    assert_eq!(bulkhead.metrics().in_flight, 0);
}

#[timeout(after = "100ms", name = "axum-timeout")]
async fn slow() -> Result<&'static str, Rejection> {
    tokio::time::sleep(Duration::from_secs(30)).await;
    Ok("too late")
}

#[tokio::test]
async fn a_timed_out_handler_answers_504() {
    let addr = serve(Router::new().route("/slow", get(slow))).await;
    let started = std::time::Instant::now();
    let answer = get_url(format!("http://{addr}/slow")).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(answer.status, 504);
    assert_eq!(answer.retry_after, None);
    assert_eq!(
        answer.body,
        "'axum-timeout' timed out: no result within 100ms; the call was cancelled"
    );
}
