//! A service client calling a deliberately flaky backend, with `#[retry]` and `#[timeout]`.
//!
//! Run it with `cargo run --example flaky_backend`. It starts a small HTTP server on
//! 127.0.0.1 whose behaviour the example switches phase by phase — healthy, flaky (60%
//! of requests answer 503), slow (answers take 3s), down (connections dropped),
//! recovered — and calls it with `fetch_quote`, printing every failed attempt, the delay
//! before the next one, and each call's outcome. The backend's random choices come from
//! a fixed seed, so every run tells the same story; it takes about 3 seconds.

use std::time::{Duration, Instant};

use resilience_runtime::{Rejection, retry, timeout};
use resilience_tests::{Backend, HttpError, Phase, Script};

/// What can go wrong when asking for a quote.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    /// The backend answered with an error status.
    #[error("backend answered HTTP {0}")]
    Status(u16),
    /// The request never got an answer (connection refused, reset, closed).
    #[error("transport error: {0}")]
    Transport(#[from] HttpError),
    /// The backend answered 200 with something that is not a price.
    #[error("unreadable quote {0:?}")]
    BadQuote(String),
    /// A resilience policy refused the call (here: the timeout fired).
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

impl ApiError {
    /// Worth another attempt? A garbled answer will not get better by asking again;
    /// everything else here may.
    fn is_transient(&self) -> bool {
        !matches!(self, ApiError::BadQuote(_))
    }
}

/// A price quote.
#[derive(Debug)]
struct Quote {
    sku: String,
    cents: u64,
}

/// A client of the quote service.
struct Client {
    base_url: String,
}

/// Called by `#[retry]` before each sleep: `attempt` is the attempt that just failed.
fn log_retry(err: &ApiError, attempt: u32, delay: Duration) {
    println!("    attempt {attempt} failed, retrying in {delay:?}: {err}");
}

/// Asks the backend for the price of `sku`.
///
/// Each attempt gets 300ms (`#[timeout]`, written below `#[retry]`, so it is inside it:
/// per attempt); up to 4 attempts, 50ms, 100ms and 200ms apart.
#[retry(
    max_attempts = 4,
    backoff = exponential(initial = "50ms", factor = 2.0, max = "1s"),
    jitter = none,
    retry_if = ApiError::is_transient,
    on_retry = log_retry
)]
#[timeout("300ms")]
async fn fetch_quote(client: &Client, sku: &str) -> Result<Quote, ApiError> {
    let url = format!("{}/quote/{sku}", client.base_url);
    let (status, body) = resilience_tests::get(&url).await?;
    if status != 200 {
        return Err(ApiError::Status(status));
    }
    let cents = parse_price(&body).ok_or(ApiError::BadQuote(body))?;
    Ok(Quote {
        sku: sku.to_owned(),
        cents,
    })
}

/// `"12.34"` -> 1234 cents.
fn parse_price(text: &str) -> Option<u64> {
    let (units, cents) = text.trim().split_once('.')?;
    if cents.len() != 2 {
        return None;
    }
    Some(units.parse::<u64>().ok()? * 100 + cents.parse::<u64>().ok()?)
}

/// The backend's price list: a made-up but stable price for every SKU.
fn price_of(path: &str, _request: u64) -> String {
    let sku = path.rsplit('/').next().unwrap_or_default();
    let cents = 500 + sku.bytes().map(u64::from).sum::<u64>() * 37 % 5000;
    format!("{}.{:02}", cents / 100, cents % 100)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let backend = Backend::start(
        Script::new(0)
            .phase(Phase::healthy())
            .phase(Phase::flaky(0.6))
            .phase(Phase::slow(Duration::from_secs(3)))
            .phase(Phase::down())
            .phase(Phase::healthy().named("recovered"))
            .body(price_of),
    )
    .await?;
    let client = Client {
        base_url: backend.url(""),
    };
    println!("quote service on {}", backend.addr());
    println!("fetch_quote: up to 4 attempts, 50ms, 100ms, 200ms apart, each limited to 300ms");

    // Which phase the backend is in, and the SKUs asked for while it is.
    let plan: [(usize, &[&str]); 5] = [
        (0, &["A-100", "B-200"]),
        (1, &["C-300", "D-400", "E-500", "F-600"]),
        (2, &["G-700"]),
        (3, &["H-800"]),
        (4, &["I-900", "J-1000"]),
    ];

    let started = Instant::now();
    let (mut ok, mut failed, mut call) = (0, 0, 0);
    for (phase, skus) in plan {
        backend.set_phase(phase);
        println!("\n== backend is now {} ==", backend.phase());
        for sku in skus {
            call += 1;
            println!("call {call}: fetch_quote({sku:?})");
            let requests_before = backend.stats().requests;
            let t0 = Instant::now();
            let result = fetch_quote(&client, sku).await;
            let took = t0.elapsed();
            let attempts = backend.stats().requests - requests_before;
            let tries = if attempts == 1 { "attempt" } else { "attempts" };
            match result {
                Ok(quote) => {
                    ok += 1;
                    println!(
                        "    => ok: {} costs ${}.{:02} ({attempts} {tries}, {})",
                        quote.sku,
                        quote.cents / 100,
                        quote.cents % 100,
                        ms(took)
                    );
                }
                Err(err) => {
                    failed += 1;
                    println!("    => FAILED: {err} ({attempts} {tries}, {})", ms(took));
                }
            }
        }
    }

    let stats = backend.stats();
    println!(
        "\n{call} calls: {ok} ok, {failed} failed, in {}",
        ms(started.elapsed())
    );
    println!(
        "backend received {} requests: {} answered 503, {} dropped",
        stats.requests, stats.unavailable, stats.dropped
    );
    Ok(())
}

/// A duration as whole milliseconds, rounded to 10ms so runs compare easily.
fn ms(d: Duration) -> String {
    let ms = (d.as_millis() + 5) / 10 * 10;
    if ms >= 1000 {
        format!("{:.2}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}
