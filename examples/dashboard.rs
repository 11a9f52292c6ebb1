//! A shop whose backends fail on a schedule, watched live on the dashboard.
//!
//! Run it with `cargo run --example dashboard` (until Ctrl-C) or for a while:
//! `cargo run --example dashboard -- 30s` (also `90s`, `2m`, `1500ms`, or plain
//! seconds). `--port N` serves the dashboard on 127.0.0.1:N instead of a port the
//! system picks. Open the printed URL in a browser.
//!
//! Four backends run in-process on 127.0.0.1, each going through its own 30-second
//! schedule, again and again:
//!
//! | backend | schedule | its client |
//! |---|---|---|
//! | inventory | healthy 8s, flaky (80% answer 503) 8s, down 6s, healthy 8s | fallback > retry > circuit breaker > timeout |
//! | payments | healthy 10s, slow (400ms) 10s, healthy 10s | circuit breaker > timeout (250ms) > bulkhead (6) |
//! | search | healthy | rate limit 25/s, asked 40 times a second |
//! | recommendations | healthy 14s, down 8s, healthy 8s | circuit breaker |
//!
//! and the `reviews` breaker is forced open by hand for the first 15 seconds of each
//! cycle ("maintenance"), so the page shows every colour a breaker has. Each state
//! change is printed as it happens, with its diagnosis.

use std::sync::Arc;
use std::time::Duration;

use resilience_runtime::events::{self, EventKind};
use resilience_runtime::{
    Rejection, bulkhead, circuit_breaker, fallback, rate_limit, registry, retry, timeout,
};
use resilience_tests::{Backend, HttpError, Phase, Script};

/// One pass through every backend's schedule.
const CYCLE: Duration = Duration::from_secs(30);

/// What can go wrong when the shop asks a backend.
#[derive(Debug, thiserror::Error)]
enum ShopError {
    /// The backend answered with an error status.
    #[error("backend answered HTTP {0}")]
    Status(u16),
    /// The request never got an answer.
    #[error("transport error: {0}")]
    Transport(#[from] HttpError),
    /// A policy refused the call.
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

impl ShopError {
    /// A refusal says when to come back; retrying at once into it is pointless.
    fn is_retryable(&self) -> bool {
        !matches!(self, ShopError::Rejected(_))
    }
}

/// `GET url`: the body of a 200, else the error.
async fn fetch(url: &str) -> Result<String, ShopError> {
    match resilience_tests::get(url).await? {
        (200, body) => Ok(body),
        (status, _) => Err(ShopError::Status(status)),
    }
}

/// The shop's clients of its backends, one annotated method each.
struct Shop {
    inventory: String,
    payments: String,
    search: String,
    recommendations: String,
}

impl Shop {
    /// Units in stock: retried, behind a breaker and a timeout per attempt, and "unknown"
    /// (0) when all of that failed.
    #[fallback(Self::stock_unknown, name = "inventory")]
    #[retry(
        max_attempts = 3,
        backoff = fixed("40ms"),
        jitter = none,
        retry_if = ShopError::is_retryable,
        name = "inventory"
    )]
    #[circuit_breaker(
        name = "inventory",
        failure_rate = 0.5,
        window = count(20),
        min_calls = 10,
        open_for = "4s",
        half_open_calls = 3
    )]
    #[timeout(after = "300ms", name = "inventory")]
    async fn stock(&self, sku: &str) -> Result<u32, ShopError> {
        let body = fetch(&format!("{}/stock/{sku}", self.inventory)).await?;
        Ok(body.len() as u32)
    }

    async fn stock_unknown(&self, _sku: &str, _err: ShopError) -> Result<u32, ShopError> {
        Ok(0)
    }

    /// Charges an order: at most 6 at once, 250ms each at most, and a breaker that opens
    /// when half of them fail.
    #[circuit_breaker(
        name = "payments",
        failure_rate = 0.5,
        window = count(20),
        min_calls = 8,
        open_for = "3s"
    )]
    #[timeout(after = "250ms", name = "payments")]
    #[bulkhead(max_concurrent = 6, name = "payments")]
    async fn charge(&self, order: u64) -> Result<(), ShopError> {
        fetch(&format!("{}/charge/{order}", self.payments)).await?;
        Ok(())
    }

    /// Searches: the backend is fine, but the shop may ask it only 25 times a second.
    #[rate_limit(rate = "25/s", burst = 5, name = "search")]
    async fn search(&self, query: &str) -> Result<usize, ShopError> {
        Ok(fetch(&format!("{}/search?q={query}", self.search))
            .await?
            .len())
    }

    /// Recommendations for a user, behind a breaker.
    #[circuit_breaker(
        name = "recommendations",
        failure_rate = 0.5,
        window = count(10),
        min_calls = 5,
        open_for = "5s"
    )]
    async fn recommend(&self, user: u64) -> Result<usize, ShopError> {
        Ok(fetch(&format!("{}/for/{user}", self.recommendations))
            .await?
            .len())
    }

    /// Reviews: served locally, behind a breaker an operator switches off at times.
    #[circuit_breaker(name = "reviews")]
    async fn reviews(&self, sku: &str) -> Result<usize, ShopError> {
        Ok(sku.len())
    }
}

/// A backend playing `phases` once per [`CYCLE`], from the start again each time.
async fn cycling(phases: Vec<Phase>) -> std::io::Result<Arc<Backend>> {
    let script = phases
        .into_iter()
        .fold(Script::new(7), |script, phase| script.phase(phase));
    let backend = Arc::new(Backend::start(script).await?);
    let restart = Arc::clone(&backend);
    tokio::spawn(async move {
        let mut cycles = tokio::time::interval(CYCLE);
        cycles.tick().await;
        loop {
            cycles.tick().await;
            restart.set_phase(0);
        }
    });
    Ok(backend)
}

/// Runs `call` every `every`, each call its own task (so slow calls overlap, as
/// requests to a service do).
fn drive<F, Fut>(every: Duration, call: F)
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        for n in 0.. {
            ticks.tick().await;
            tokio::spawn(call(n));
        }
    });
}

/// `30s`, `2m`, `1500ms`, `1h` or plain seconds.
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    let ms = match unit {
        "ms" => n,
        "" | "s" => n.checked_mul(1_000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// What the command line asks for: how long to run (`None`: until Ctrl-C), and the
/// dashboard's port (0: any).
fn arguments() -> Result<(Option<Duration>, u16), String> {
    let mut args = std::env::args().skip(1);
    let (mut duration, mut port) = (None, 0);
    while let Some(arg) = args.next() {
        if arg == "--port" {
            let value = args.next().ok_or("--port needs a number")?;
            port = value
                .parse()
                .map_err(|_| format!("--port {value:?}: not a port number"))?;
        } else if let Some(d) = parse_duration(&arg) {
            duration = Some(d);
        } else {
            return Err(format!(
                "{arg:?} is not a duration (e.g. 30s, 2m, 1500ms) nor --port N"
            ));
        }
    }
    Ok((duration, port))
}

#[tokio::main]
async fn main() {
    let (duration, port) = match arguments() {
        Ok(parsed) => parsed,
        Err(problem) => {
            eprintln!("{problem}\nusage: cargo run --example dashboard -- [DURATION] [--port N]");
            std::process::exit(2);
        }
    };
    if let Err(err) = run(duration, port).await {
        eprintln!("the example stopped: {err}");
        std::process::exit(1);
    }
}

async fn run(duration: Option<Duration>, port: u16) -> std::io::Result<()> {
    let s = Duration::from_secs;
    let ms = Duration::from_millis;
    let inventory = cycling(vec![
        Phase::healthy().for_duration(s(8)),
        Phase::flaky(0.8).for_duration(s(8)),
        Phase::down().for_duration(s(6)),
        Phase::healthy().named("recovered"),
    ])
    .await?;
    let payments = cycling(vec![
        Phase::healthy().for_duration(s(10)),
        Phase::slow(ms(400)).for_duration(s(10)),
        Phase::healthy().named("recovered"),
    ])
    .await?;
    let search = cycling(vec![Phase::healthy()]).await?;
    let recommendations = cycling(vec![
        Phase::healthy().for_duration(s(14)),
        Phase::down().for_duration(s(8)),
        Phase::healthy().named("recovered"),
    ])
    .await?;
    let shop = Arc::new(Shop {
        inventory: inventory.url(""),
        payments: payments.url(""),
        search: search.url(""),
        recommendations: recommendations.url(""),
    });

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("dashboard: http://{}/", listener.local_addr()?);
    tokio::spawn(resilience_dashboard::serve_on(listener));
    match duration {
        Some(d) => println!("running for {d:?} (Ctrl-C stops it sooner)"),
        None => println!("running until Ctrl-C"),
    }

    // The first call registers each policy; the operator's task below needs reviews'.
    let _ = shop.reviews("apple").await;

    // Every state change, as it happens, with its diagnosis.
    let _printer = events::subscribe(|event| {
        if let EventKind::StateChanged { .. } = event.kind {
            println!("  {event}");
        }
    });

    let sh = Arc::clone(&shop);
    drive(ms(100), move |n| {
        let shop = Arc::clone(&sh);
        async move {
            let _ = shop.stock(["apple", "pear", "plum"][n as usize % 3]).await;
        }
    });
    let sh = Arc::clone(&shop);
    drive(ms(40), move |n| {
        let shop = Arc::clone(&sh);
        async move {
            let _ = shop.charge(n).await;
        }
    });
    let sh = Arc::clone(&shop);
    drive(ms(25), move |n| {
        let shop = Arc::clone(&sh);
        async move {
            let _ = shop
                .search(["boots", "socks", "hats"][n as usize % 3])
                .await;
        }
    });
    let sh = Arc::clone(&shop);
    drive(ms(150), move |n| {
        let shop = Arc::clone(&sh);
        async move {
            let _ = shop.recommend(n % 50).await;
        }
    });
    let sh = Arc::clone(&shop);
    drive(ms(200), move |_| {
        let shop = Arc::clone(&sh);
        async move {
            let _ = shop.reviews("apple").await;
        }
    });
    // The operator's maintenance window: reviews off for the first half of each cycle.
    tokio::spawn(async move {
        let mut cycles = tokio::time::interval(CYCLE);
        loop {
            cycles.tick().await;
            if let Some(reviews) = registry::circuit_breaker("reviews") {
                reviews.force_open();
                tokio::time::sleep(CYCLE / 2).await;
                reviews.reset();
            }
        }
    });

    let stop = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = stop => {}
        _ = tokio::signal::ctrl_c() => println!("\nCtrl-C"),
    }

    println!(
        "\n{:<16} {:<16} {:>7} {:>9} {:>10}",
        "policy", "name", "calls", "failures", "rejections"
    );
    for p in registry::snapshot() {
        println!(
            "{:<16} {:<16} {:>7} {:>9} {:>10}",
            p.policy.to_string(),
            p.name,
            p.calls,
            p.failures,
            p.rejections
        );
    }
    Ok(())
}
