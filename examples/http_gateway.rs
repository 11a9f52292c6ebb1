//! An HTTP gateway with every way in: tower layers on its inbound routes, an attribute
//! on a handler, and the reqwest middleware on its calls to an upstream.
//!
//! ```text
//! cargo run --example http_gateway            # until Ctrl-C
//! cargo run --example http_gateway -- 30      # for 30 seconds (also "30s", "2m")
//! ```
//!
//! It starts two servers on 127.0.0.1: an upstream price service (in this process,
//! flaky: one request in four answers 503, and it can be switched down), and the
//! gateway, whose routes are
//!
//! - `GET /price/{sku}`: rate-limited per client address (5/s, bursts of 5) and
//!   bulkheaded (8 at once) by tower layers; it asks the upstream through
//!   `reqwest_middleware` with `resilience_runtime::reqwest::Resilience`: 3 attempts of
//!   500ms each, and a breaker per upstream host that opens after 5 failures in a row;
//! - `GET /report`: a handler carrying `#[bulkhead(max_concurrent = 2)]` that takes 2s;
//! - `POST /admin/upstream/down` and `/up`: switch the upstream off and on;
//! - `/resilience/`: the live dashboard of every policy (crate `resilience-dashboard`).
//!
//! Refusals answer as `Rejection`'s `IntoResponse` does: 429 with `Retry-After` for
//! the rate limit, 503 for a full bulkhead or an open breaker (with `Retry-After`), 504
//! for a timeout. It prints curl lines to try.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, body::Body};
use reqwest_middleware::ClientWithMiddleware;
use resilience_runtime::backoff::Exponential;
use resilience_runtime::reqwest::Resilience;
use resilience_runtime::{
    Bulkhead, CircuitBreaker, Jitter, KeyedRateLimiter, Rate, Rejection, Retry, bulkhead,
};
use tower::ServiceBuilder;

/// The upstream's switch and request count.
#[derive(Clone, Default)]
struct Upstream {
    down: Arc<AtomicBool>,
    requests: Arc<AtomicU32>,
}

/// `GET /price/{sku}` of the upstream: a price, except one request in four (and every
/// request while it is down) answers 503.
async fn upstream_price(State(up): State<Upstream>, Path(sku): Path<String>) -> Response {
    let n = up.requests.fetch_add(1, Ordering::Relaxed) + 1;
    if up.down.load(Ordering::Relaxed) || n % 4 == 0 {
        return (StatusCode::SERVICE_UNAVAILABLE, "upstream busy").into_response();
    }
    let cents = 100 + sku.bytes().map(u32::from).sum::<u32>() % 900;
    format!("{sku}: {cents} cents (upstream request {n})").into_response()
}

/// The gateway's state: its client of the upstream.
#[derive(Clone)]
struct Gateway {
    client: ClientWithMiddleware,
    upstream: String,
    switch: Upstream,
}

/// `GET /price/{sku}`: the upstream's answer, through the middleware.
async fn price(State(gw): State<Gateway>, Path(sku): Path<String>) -> Response {
    let url = format!("{}/price/{sku}", gw.upstream);
    match gw.client.get(url).send().await {
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            (status, body).into_response()
        }
        // A policy refused (the upstream's breaker is open) or timed the call out.
        Err(reqwest_middleware::Error::Middleware(error)) => match error.downcast::<Rejection>() {
            Ok(rejection) => rejection.into_response(),
            Err(other) => (StatusCode::BAD_GATEWAY, other.to_string()).into_response(),
        },
        Err(error) => (StatusCode::BAD_GATEWAY, format!("upstream: {error}")).into_response(),
    }
}

/// `GET /report`: slow, at most two at once.
#[bulkhead(max_concurrent = 2, name = "gateway-report")]
async fn report() -> Result<&'static str, Rejection> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok("report ready\n")
}

/// `POST /admin/upstream/{up|down}`.
async fn set_upstream(State(gw): State<Gateway>, Path(to): Path<String>) -> Response {
    match to.as_str() {
        "down" => gw.switch.down.store(true, Ordering::Relaxed),
        "up" => gw.switch.down.store(false, Ordering::Relaxed),
        _ => return (StatusCode::NOT_FOUND, "use /admin/upstream/up or /down\n").into_response(),
    }
    format!("upstream is {to}\n").into_response()
}

/// How long to run: the first argument, in seconds (`30`, `30s`) or minutes (`2m`).
fn run_for() -> Result<Option<Duration>, String> {
    let Some(arg) = std::env::args().nth(1) else {
        return Ok(None);
    };
    let (number, unit) = match arg.strip_suffix('m') {
        Some(n) => (n, 60),
        None => (arg.strip_suffix('s').unwrap_or(&arg), 1),
    };
    number
        .parse::<u64>()
        .map(|n| Some(Duration::from_secs(n * unit)))
        .map_err(|_| format!("usage: http_gateway [SECONDS | 30s | 2m], not {arg:?}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let run_for = run_for()?;

    // The upstream, on a port of its own.
    let switch = Upstream::default();
    let upstream_app = Router::new()
        .route("/price/{sku}", get(upstream_price))
        .with_state(switch.clone());
    let upstream_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let upstream = format!("http://{}", upstream_listener.local_addr()?);
    tokio::spawn(async move { axum::serve(upstream_listener, upstream_app).await });

    // Outbound: the reqwest middleware.
    let resilience = Resilience::builder()
        .retry(
            Retry::builder()
                .name("gateway-upstream")
                .max_attempts(3)
                .backoff(Exponential::new(
                    Duration::from_millis(50),
                    2.0,
                    Duration::from_secs(1),
                ))
                .jitter(Jitter::Full)
                .max_elapsed(Duration::from_secs(5)),
        )
        .circuit_breaker_per_host(
            CircuitBreaker::builder("gateway-upstream")
                .consecutive_failures(5)
                .open_for(Duration::from_secs(10))
                .half_open_calls(2),
        )
        .timeout(Duration::from_millis(500))
        .build()?;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(resilience)
        .build();

    // Inbound: per-client rate limit and a bulkhead, as tower layers.
    let per_client = KeyedRateLimiter::builder("gateway-per-client")
        .rate(Rate::per_second(5))
        .burst(5)
        .register()?;
    let bulkhead = Bulkhead::builder("gateway-price")
        .max_concurrent(8)
        .register()?;
    let inbound = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(
            resilience_runtime::axum::handle_error,
        ))
        .layer(per_client.layer(|request: &Request<Body>| {
            request
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip())
        }))
        .layer(bulkhead.layer());

    let gateway = Gateway {
        client,
        upstream,
        switch,
    };
    let app = Router::new()
        .route("/price/{sku}", get(price).layer(inbound))
        .route("/report", get(report))
        .route("/admin/upstream/{to}", post(set_upstream))
        .with_state(gateway)
        .nest_service("/resilience", resilience_dashboard::router());

    let listener = match tokio::net::TcpListener::bind("127.0.0.1:3000").await {
        Ok(listener) => listener,
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await?,
    };
    let base = format!("http://{}", listener.local_addr()?);
    println!("gateway on {base}; try:");
    println!("  curl -i {base}/price/sku-1");
    println!(
        "  for i in $(seq 8); do curl -s -o /dev/null -w '%{{http_code}} ' {base}/price/sku-1; done; echo   # 429 past the burst of 5"
    );
    println!(
        "  for i in 1 2 3; do curl -s -w ' %{{http_code}}\\n' {base}/report & done; wait   # the third: 503"
    );
    println!(
        "  curl -X POST {base}/admin/upstream/down; for i in $(seq 3); do curl -s -i {base}/price/sku-1 | head -1; sleep 0.3; done   # 503s, then the breaker is open"
    );
    println!("  curl -si {base}/price/sku-1 | grep -i retry-after   # how long it stays open");
    println!("  curl -X POST {base}/admin/upstream/up");
    println!("  open {base}/resilience/   # the dashboard: states, rejections, events");
    println!("  curl -s {base}/resilience/metrics | grep resilience_calls_total");
    match run_for {
        Some(d) => println!("running for {d:?} (or until Ctrl-C)"),
        None => println!("running until Ctrl-C"),
    }

    let stop = async move {
        match run_for {
            Some(d) => tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = tokio::signal::ctrl_c() => {}
            },
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await?;
    println!("stopped");
    Ok(())
}
