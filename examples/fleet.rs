//! A fleet of three processes sharing one Redis rate limit and one cluster breaker
//! (feature `redis`).
//!
//! `cargo run --example fleet` starts its own `redis-server` on a free loopback port
//! (persistence off), then runs itself three times as child processes. Each child
//! calls a partner API limited to 50 calls/s (burst 10) for the whole fleet, and a
//! payments backend behind a breaker with `quorum = 2`. After one second the
//! backend goes bad for instances 0 and 1 only: they open their breakers on their own
//! failures, and instance 2, whose backend is fine, opens too, because two instances
//! did ("opened on 2 instances"). The parent prints what each process admitted, the
//! total against the fleet's bound, and where and when the breaker opened.
//!
//! Needs `redis-server` on the PATH (Debian: `apt-get install redis-server`).

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use resilience_runtime::events::{self, EventKind};
use resilience_runtime::{CircuitState, Rejection, circuit_breaker, cluster, rate_limit};

const RUN: Duration = Duration::from_secs(3);
const RATE: u64 = 50;
const BURST: u64 = 10;

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("backend failed")]
    Backend,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

/// The partner API: 50 calls/s for the whole fleet.
#[rate_limit(rate = "50/s", burst = 10, scope = "cluster", name = "fleet::partner")]
async fn call_partner() -> Result<(), ApiError> {
    Ok(())
}

/// Payments: a breaker shared by name; two instances opening open them all.
#[circuit_breaker(
    name = "fleet::payments",
    scope = "cluster",
    quorum = 2,
    window = count(10),
    min_calls = 5,
    open_for = "10s"
)]
async fn charge(healthy: bool) -> Result<(), ApiError> {
    if healthy {
        Ok(())
    } else {
        Err(ApiError::Backend)
    }
}

fn main() {
    match std::env::var("FLEET_INSTANCE") {
        Ok(instance) => child(instance.parse().expect("an instance number")),
        Err(_) => parent(),
    }
}

fn parent() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let redis = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn();
    let Ok(mut redis) = redis else {
        eprintln!("redis-server is not installed (Debian: apt-get install redis-server)");
        return;
    };
    let ready = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            ready.elapsed() < Duration::from_secs(5),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let url = format!("redis://127.0.0.1:{port}");
    println!("redis-server on {url}; three instances for {RUN:?}\n");
    let started = Instant::now();
    let children: Vec<_> = (0..3)
        .map(|i| {
            Command::new(std::env::current_exe().expect("this example's path"))
                .env("FLEET_INSTANCE", i.to_string())
                .env("FLEET_URL", &url)
                .stdout(Stdio::piped())
                .spawn()
                .expect("a child process")
        })
        .collect();
    let mut total = 0;
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("the child ends");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(n) = line.strip_prefix("ADMITTED ") {
                total += n.trim().parse::<u64>().unwrap_or(0);
            } else {
                println!("{line}");
            }
        }
        if !out.status.success() {
            println!("[instance {i}] failed: {}", out.status);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "\nfleet: {total} partner calls admitted in {elapsed:.2}s; the limit allows at most {} \
         (burst {BURST} + {RATE}/s x {elapsed:.2}s), a single process alone would allow as many",
        BURST + (RATE as f64 * elapsed) as u64
    );
    let _ = redis.kill();
    let _ = redis.wait();
}

#[tokio::main(flavor = "current_thread")]
async fn child(instance: u32) {
    let url = std::env::var("FLEET_URL").expect("FLEET_URL");
    cluster::connect(&url).await.expect("Redis answers");
    let start = Instant::now();
    let _events = events::subscribe(move |event| {
        if let EventKind::StateChanged { from, to, reason } = &event.kind {
            println!(
                "[instance {instance}] {:>5.2}s breaker '{}' {from} -> {to}{}",
                start.elapsed().as_secs_f64(),
                event.name,
                reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            );
        }
    });
    let admitted = AtomicU64::new(0);
    let (mut charged, mut refused) = (0u64, 0u64);
    let mut next_charge = Instant::now();
    while start.elapsed() < RUN {
        match call_partner().await {
            Ok(()) => {
                admitted.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(2)).await,
        }
        if Instant::now() >= next_charge {
            next_charge += Duration::from_millis(20);
            // The backend goes bad after 1s, for instances 0 and 1 only.
            let healthy = instance == 2 || start.elapsed() < Duration::from_secs(1);
            match charge(healthy).await {
                Ok(()) => charged += 1,
                Err(ApiError::Rejected(_)) => refused += 1,
                Err(ApiError::Backend) => {}
            }
        }
    }
    let state = resilience_runtime::registry::circuit_breaker("fleet::payments")
        .map_or(CircuitState::Closed, |b| b.state());
    let admitted = admitted.load(Ordering::Relaxed);
    println!(
        "[instance {instance}] partner calls admitted: {admitted}; payments: {charged} charged, \
         {refused} refused by the breaker, ending {state}"
    );
    println!("ADMITTED {admitted}");
}
