//! A price service that keeps answering while its backend degrades: the whole stack.
//!
//! Run it with `cargo run --example degraded_service`. It starts a small HTTP server on
//! 127.0.0.1 that goes through a schedule — healthy, then flaky (75% of requests answer
//! 503), then slow (answers take 600ms, more than the 250ms timeout), then recovered —
//! and asks it for a price every 200ms for 6 seconds through
//!
//! ```text
//! #[cache(key = sku, stale_if_error = "1m")] // the last price seen, when all else failed
//! #[retry(max_attempts = 3, ...)]            // each attempt goes through everything below
//! #[circuit_breaker(name = "prices", probe = backend_healthy)] // opens when half fail;
//!                                            // a health probe brings it back early
//! #[timeout(after = "250ms", ...)]          // per attempt, the hedge's race included
//! #[hedge(delay = "100ms")]                  // a second request when the first is slow or fails
//! ```
//!
//! It prints a timeline: each call, its failed attempts, the hedged requests, the
//! breaker's state changes, and whether the answer was live or the last known price
//! (the cache's stale answer: no hand-written fallback keeps it). While the breaker is
//! open, a health probe asks the backend every 300ms whether it answers in time; its
//! first `true` turns the breaker half-open long before the 10s open period ends. At
//! the end the service stops as a service would: `lifecycle::drain` refuses new calls,
//! waits for the one still running, and reports what it waited for. The backend's random
//! choices come from a fixed seed; the breaker's open period is real time, so a loaded
//! machine may shift a line or two.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use resilience_runtime::events::{self, EventKind};
use resilience_runtime::{Rejection, cache, circuit_breaker, hedge, registry, retry, timeout};
use resilience_tests::{Backend, HttpError, Phase, Script};

/// What can go wrong when asking for a price.
#[derive(Debug, thiserror::Error)]
enum PriceError {
    /// The backend answered with an error status.
    #[error("backend answered HTTP {0}")]
    Status(u16),
    /// The request never got an answer.
    #[error("transport error: {0}")]
    Transport(#[from] HttpError),
    /// The backend answered 200 with something that is not a price.
    #[error("unreadable price {0:?}")]
    BadPrice(String),
    /// A resilience policy refused the call: the breaker is open, or the timeout fired.
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

impl PriceError {
    /// Retrying into an open breaker is pointless (it says when to come back, and that
    /// is later than our backoff), and so is asking again for a garbled answer.
    fn is_retryable(&self) -> bool {
        !matches!(
            self,
            PriceError::Rejected(Rejection::CircuitOpen { .. }) | PriceError::BadPrice(_)
        )
    }
}

/// A price, in cents. `Clone`: the cache keeps the last one per SKU.
#[derive(Debug, Clone)]
struct Price {
    cents: u64,
}

/// The price service: a backend URL.
struct PriceService {
    base_url: String,
}

/// Answers the cache served stale (counted by the event listener in `main`).
static STALE: AtomicU64 = AtomicU64::new(0);

impl PriceService {
    /// The price of `sku`: live when the backend answers in time, else the last known
    /// one (the cache's entry, up to a minute old).
    #[cache(key = sku.to_owned(), stale_if_error = "1m", name = "prices")]
    #[retry(
        max_attempts = 3,
        backoff = fixed("50ms"),
        jitter = none,
        retry_if = PriceError::is_retryable,
        on_retry = log_retry
    )]
    #[circuit_breaker(
        name = "prices",
        failure_rate = 0.5,
        window = count(6),
        min_calls = 4,
        open_for = "10s",
        half_open_calls = 1,
        probe = backend_healthy,
        probe_every = "300ms",
        probe_timeout = "250ms"
    )]
    #[timeout(after = "250ms", name = "PriceService::price")]
    #[hedge(delay = "100ms", max_hedges = 1, name = "prices")]
    async fn price(&self, sku: &str) -> Result<Price, PriceError> {
        let url = format!("{}/price/{sku}", self.base_url);
        let (status, body) = resilience_tests::get(&url).await?;
        if status != 200 {
            return Err(PriceError::Status(status));
        }
        let cents = parse_price(&body).ok_or(PriceError::BadPrice(body))?;
        Ok(Price { cents })
    }
}

/// The backend's base URL, for the breaker's health probe.
static BASE_URL: OnceLock<String> = OnceLock::new();

/// The breaker's health probe: while it is open, asked every 300ms whether the
/// backend answers a price in time (a slower answer counts as unhealthy). The first
/// `true` lets a trial call through at once, long before the 10s open period ends.
async fn backend_healthy() -> bool {
    let Some(base) = BASE_URL.get() else {
        return false;
    };
    let url = format!("{base}/price/probe");
    matches!(resilience_tests::get(&url).await, Ok((200, _)))
}

/// Called by `#[retry]` before each sleep: `attempt` is the attempt that just failed.
fn log_retry(err: &PriceError, attempt: u32, delay: Duration) {
    println!("          attempt {attempt} failed, retrying in {delay:?}: {err}");
    watch_breaker();
}

/// Prints the breaker's state when it changed since the last look. (Asked after its
/// open period, an open breaker reports itself half-open, as the next call would find
/// it.)
fn watch_breaker() {
    static LAST: Mutex<String> = Mutex::new(String::new());
    let Some(breaker) = registry::circuit_breaker("prices") else {
        return; // not registered before the first call
    };
    let now = format!("{:?}", breaker.state());
    let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if *last != now {
        if last.is_empty() {
            println!("[{}] breaker 'prices' is {now}", clock());
        } else {
            println!("[{}] breaker 'prices': {last} -> {now}", clock());
        }
        *last = now;
    }
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
fn price_list(path: &str, _request: u64) -> String {
    let sku = path.rsplit('/').next().unwrap_or_default();
    let cents = 100 + sku.bytes().map(u64::from).sum::<u64>() * 41 % 900;
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Seconds since the example started, e.g. `1.20s`.
fn clock() -> String {
    static START: OnceLock<Instant> = OnceLock::new();
    format!(
        "{:5.2}s",
        START.get_or_init(Instant::now).elapsed().as_secs_f64()
    )
}

fn dollars(cents: u64) -> String {
    format!("${}.{:02}", cents / 100, cents % 100)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ms = Duration::from_millis;
    // Phase boundaries fall between the 200ms call ticks, so each call meets the same
    // phase from run to run.
    let backend = Backend::start(
        Script::new(3)
            .phase(Phase::healthy().for_duration(ms(1_100)))
            .phase(Phase::flaky(0.75).for_duration(ms(1_600)))
            .phase(Phase::slow(ms(600)).for_duration(ms(1_400)))
            .phase(Phase::healthy().named("recovered"))
            .body(price_list),
    )
    .await?;
    let service = PriceService {
        base_url: backend.url(""),
    };
    let _ = BASE_URL.set(backend.url(""));
    // The cache's stale answers and the hedge's second requests, on the timeline.
    let _events = events::subscribe(|event| match &event.kind {
        EventKind::StaleServed { age } => {
            STALE.fetch_add(1, Ordering::Relaxed);
            println!(
                "          cache: every attempt failed; serving the last known price ({:.1}s old)",
                age.as_secs_f64()
            );
        }
        EventKind::Probe { healthy } => {
            let answer = if *healthy {
                "healthy: a trial call goes through now"
            } else {
                "unhealthy"
            };
            println!("[{}] probe: backend {answer}", clock());
        }
        EventKind::Hedged { copy } => {
            println!("          hedge: second request (copy {copy}): the first is slow or failed");
        }
        _ => {}
    });
    let skus = ["apple", "pear", "plum"];
    println!(
        "[{}] price service on {}; a call every 200ms for 6s",
        clock(),
        backend.addr()
    );

    let mut ticks = tokio::time::interval(ms(200));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut live, mut stale, mut failed) = (0, 0, 0);
    let mut phase = String::new();
    let started = Instant::now();
    for call in 1.. {
        ticks.tick().await;
        if started.elapsed() >= Duration::from_secs(6) {
            break;
        }
        let now_phase = backend.phase().to_string();
        if now_phase != phase {
            println!("[{}] -- backend: {now_phase} --", clock());
            phase = now_phase;
        }
        let sku = skus[call % skus.len()];
        watch_breaker();
        println!("[{}] #{call} price({sku:?})", clock());
        let stale_before = STALE.load(Ordering::Relaxed);
        let result = service.price(sku).await;
        watch_breaker();
        let was_stale = STALE.load(Ordering::Relaxed) != stale_before;
        match result {
            Ok(Price { cents }) if !was_stale => {
                live += 1;
                println!("          => {} live", dollars(cents));
            }
            Ok(Price { cents }) => {
                stale += 1;
                println!("          => {} last known", dollars(cents));
            }
            Err(err) => {
                failed += 1;
                println!("          => FAILED (no last known price): {err}");
            }
        }
    }

    // Stop as a service stops: one last call is running when the drain begins; the
    // drain refuses new calls and waits for it, then says what it waited for.
    let (last, report) = tokio::join!(
        service.price("fig"),
        resilience_runtime::lifecycle::drain(Duration::from_secs(2))
    );
    println!(
        "\n[{}] drain: {} call(s) finished, {} abandoned, after {:?} (the last call: {})",
        clock(),
        report.finished,
        report.abandoned,
        report.took,
        match last {
            Ok(Price { cents }) => dollars(cents),
            Err(err) => err.to_string(),
        }
    );

    let stats = backend.stats();
    println!(
        "\n[{}] {} calls: {live} live, {stale} served from the last known price, {failed} failed",
        clock(),
        live + stale + failed
    );
    println!(
        "the backend received {} requests ({} answered 503); while the breaker was open, \
         calls did not reach it",
        stats.requests, stats.unavailable
    );
    Ok(())
}
