//! Every policy's metrics exported to Prometheus through `metrics-exporter-prometheus`
//! (the runtime's feature `metrics`).
//!
//! Run it with `cargo run --example prometheus [PORT]`. It installs the exporter's HTTP
//! listener on 127.0.0.1 (PORT, or a free port when none or 0 is given), spawns the
//! runtime's publisher, makes a known set of calls on annotated functions (a breaker
//! that opens, a retry sequence, a fallback, a full bulkhead, a timeout, a rate limit),
//! then fetches its own `/metrics` once over loopback, prints it, and exits: it takes
//! well under a second, so CI can run it. It exits with an error if the exposition
//! lacks the series the calls made.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::ExitCode;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use resilience_runtime::{
    Rejection, bulkhead, circuit_breaker, fallback, rate_limit, retry, timeout,
};
use tokio::time::sleep;

/// What the example's calls can fail with.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    /// The (pretend) backend failed.
    #[error("backend failed")]
    Backend,
    /// A policy refused the call.
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

/// A backend that always fails: four calls open its breaker, the fifth is refused.
#[circuit_breaker(name = "inventory", window = count(4), failure_rate = 0.5, open_for = "30s")]
async fn inventory() -> Result<u32, ApiError> {
    Err(ApiError::Backend)
}

/// Three attempts, 10ms apart, at a backend that always fails.
#[retry(name = "prices", max_attempts = 3, backoff = fixed("10ms"), jitter = none)]
async fn prices() -> Result<u32, ApiError> {
    Err(ApiError::Backend)
}

/// A recommendation, or an empty list when the backend fails.
#[fallback(default, name = "recommendations")]
async fn recommendations() -> Result<Vec<String>, ApiError> {
    Err(ApiError::Backend)
}

/// At most one report is rendered at a time.
#[bulkhead(max_concurrent = 1, name = "reports")]
async fn report(work: Duration) -> Result<(), ApiError> {
    sleep(work).await;
    Ok(())
}

/// A search that takes longer than its 20ms.
#[timeout(after = "20ms", name = "search")]
async fn search(work: Duration) -> Result<(), ApiError> {
    sleep(work).await;
    Ok(())
}

/// Two calls a second at most, none saved up beyond that.
#[rate_limit(rate = "2/s", name = "login")]
async fn login() -> Result<(), ApiError> {
    Ok(())
}

/// The port from the command line: none or `0` for a free one.
fn port() -> Result<u16, String> {
    let mut args = std::env::args().skip(1);
    let port = match args.next() {
        None => 0,
        Some(arg) => arg
            .parse::<u16>()
            .map_err(|e| format!("PORT must be a number from 0 to 65535, not {arg:?}: {e}"))?,
    };
    if let Some(extra) = args.next() {
        return Err(format!(
            "unexpected argument {extra:?}; usage: prometheus [PORT]"
        ));
    }
    if port != 0 {
        return Ok(port);
    }
    // The exporter does not tell which port it bound, so a free one is chosen first.
    let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
    probe
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// Makes the calls whose series the exposition then shows.
async fn calls() {
    for _ in 0..5 {
        let _ = inventory().await;
    }
    let _ = prices().await;
    let _ = recommendations().await;
    let running = tokio::spawn(report(Duration::from_millis(50)));
    sleep(Duration::from_millis(5)).await;
    let _ = report(Duration::ZERO).await; // refused: the one slot is taken
    let _ = running.await;
    let _ = search(Duration::from_millis(200)).await;
    for _ in 0..3 {
        let _ = login().await; // the third is refused
    }
}

async fn run() -> Result<(), String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port()?));
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| format!("cannot install the Prometheus exporter on {addr}: {e}"))?;
    let publisher = resilience_runtime::metrics::spawn_publisher(Duration::from_millis(100));

    calls().await;
    // Published every 100ms; once more now, so the scrape below sees every call.
    resilience_runtime::metrics::publish();

    let url = format!("http://{addr}/metrics");
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), resilience_tests::get(&url))
        .await
        .map_err(|_| format!("{url} did not answer within 5s"))?
        .map_err(|e| format!("GET {url}: {e}"))?;
    publisher.abort();
    if status != 200 {
        return Err(format!("GET {url} answered {status}: {body}"));
    }
    println!("# GET {url}\n{body}");

    let expected = [
        r#"resilience_circuit_state{name="inventory",state="open"} 1"#,
        r#"resilience_circuit_transitions_total{name="inventory",from="closed",to="open"} 1"#,
        r#"resilience_calls_total{policy="circuit_breaker",name="inventory",outcome="rejected"} 1"#,
        r#"resilience_retries_total{name="prices"} 2"#,
        r#"resilience_retries_exhausted_total{name="prices"} 1"#,
        r#"resilience_fallbacks_total{name="recommendations"} 1"#,
        r#"resilience_calls_total{policy="bulkhead",name="reports",outcome="rejected"} 1"#,
        r#"resilience_bulkhead_limit{name="reports"} 1"#,
        r#"resilience_calls_total{policy="timeout",name="search",outcome="timeout"} 1"#,
        r#"resilience_calls_total{policy="rate_limit",name="login",outcome="rejected"} 1"#,
    ];
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|line| !body.lines().any(|l| l == *line))
        .collect();
    if !missing.is_empty() {
        return Err(format!("the exposition lacks {missing:#?}"));
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prometheus example: {e}");
            ExitCode::FAILURE
        }
    }
}
