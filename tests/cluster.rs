//! Cluster scope on a real Redis (feature `redis`): fleet-wide rate limits, batches,
//! outages (breaker quorums: `cluster_breaker.rs`). Each test starts its own `redis-server` (see
//! `redis_support`); several instances are separate `Cluster::connect` connections
//! with separately built policies, and one test runs several OS processes.

mod redis_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_support::RedisServer;
use resilience_runtime::Rejection;
use resilience_runtime::cluster::{Cluster, OnStoreError};
use resilience_runtime::events::{self, EventKind};
use resilience_runtime::rate_limit::{KeyedRateLimiter, Rate, RateLimiter};

fn unique(name: &str) -> String {
    format!("{name}-{:x}", fastrand::u64(..))
}

async fn clusters(server: &RedisServer, n: usize) -> Vec<Cluster> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(Cluster::connect(&server.url()).await.expect("connects"));
    }
    out
}

/// Calls `limiter` from `tasks` concurrent tasks for `run`; the admitted count.
async fn hammer(limiter: RateLimiter, tasks: usize, run: Duration) -> u64 {
    let admitted = Arc::new(AtomicU64::new(0));
    let end = tokio::time::Instant::now() + run;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (limiter, admitted) = (limiter.clone(), admitted.clone());
        handles.push(tokio::spawn(async move {
            while tokio::time::Instant::now() < end {
                match limiter.call(async { Ok::<_, Rejection>(()) }).await {
                    Ok(()) => {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(Rejection::RateLimited { .. }) => {
                        tokio::time::sleep(Duration::from_micros(500)).await;
                    }
                    Err(other) => panic!("unexpected {other}"),
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    admitted.load(Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_share_one_limit_within_burst_plus_rate_times_t() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let name = unique("fleet");
    let (rate, burst) = (200u64, 20u64);
    let mut runs = Vec::new();
    let start = Instant::now();
    for cluster in clusters(&server, 3).await {
        let limiter = RateLimiter::builder(name.clone())
            .rate(Rate::per_second(rate as u32))
            .burst(burst as u32)
            .cluster(&cluster)
            .store_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        runs.push(tokio::spawn(hammer(
            limiter,
            4,
            Duration::from_millis(1500),
        )));
    }
    let mut admitted = 0;
    for r in runs {
        admitted += r.await.unwrap();
    }
    let t = start.elapsed().as_secs_f64();
    let bound = burst as f64 + rate as f64 * t;
    let floor = 0.9 * (burst as f64 + rate as f64 * 1.5);
    assert!(admitted as f64 <= bound, "{admitted} admitted > {bound}");
    assert!(admitted as f64 >= floor, "{admitted} admitted < {floor}");
}

#[tokio::test]
async fn a_refusal_tells_the_exact_retry_after_on_redis_clock() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let cluster = Cluster::connect(&server.url()).await.unwrap();
    let limiter = RateLimiter::builder(unique("exact"))
        .rate(Rate::per_second(2))
        .burst(1)
        .cluster(&cluster)
        .build()
        .unwrap();
    limiter.acquire_n(1).await.unwrap();
    let refused = limiter.acquire_n(1).await.unwrap_err();
    let retry_after = refused.retry_after().unwrap();
    assert!(
        retry_after > Duration::from_millis(450) && retry_after <= Duration::from_millis(500),
        "{retry_after:?}"
    );
    tokio::time::sleep(retry_after).await;
    limiter
        .acquire_n(1)
        .await
        .expect("admitted retry_after later");
    // The state is one key, with an expiry.
    let keys = server.command("KEYS resilience:rl:*").unwrap();
    assert!(keys.contains("exact"), "{keys}");
    let pttl = server
        .command(&format!(
            "PTTL {}",
            format_args!("resilience:rl:{}", limiter.name())
        ))
        .unwrap();
    let pttl: i64 = pttl.trim().trim_start_matches(':').parse().unwrap();
    assert!(pttl > 0 && pttl <= 502, "pttl {pttl}");
}

#[tokio::test]
async fn idle_keys_leave_redis() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let cluster = Cluster::connect(&server.url()).await.unwrap();
    let limiter = RateLimiter::builder(unique("idle"))
        .rate(Rate::per_second(100))
        .burst(5)
        .cluster(&cluster)
        .build()
        .unwrap();
    limiter.acquire_n(5).await.unwrap();
    assert!(server.command("DBSIZE").unwrap().contains(":1"));
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(server.command("DBSIZE").unwrap().contains(":0"));
}

#[tokio::test]
async fn keyed_cluster_limits_are_independent() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let name = unique("per-user");
    let mut limiters = Vec::new();
    for cluster in clusters(&server, 2).await {
        limiters.push(
            KeyedRateLimiter::builder(name.clone())
                .rate(Rate::per_minute(1))
                .burst(2)
                .cluster(&cluster)
                .build()
                .unwrap(),
        );
    }
    let mut admitted = std::collections::HashMap::new();
    for key in ["alice", "bob"] {
        for limiter in &limiters {
            for _ in 0..3 {
                if limiter.acquire_n(&key, 1).await.is_ok() {
                    *admitted.entry(key).or_insert(0) += 1;
                }
            }
        }
    }
    assert_eq!(admitted["alice"], 2, "the burst, across both instances");
    assert_eq!(admitted["bob"], 2, "bob's own burst");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_cuts_round_trips_without_over_admitting() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let name = unique("batched");
    let cluster = Cluster::connect(&server.url()).await.unwrap();
    let limiter = RateLimiter::builder(name.clone())
        .rate(Rate::per_second(10_000))
        .burst(1_000)
        .cluster(&cluster)
        .batch(20)
        .build()
        .unwrap();
    let before = server.calls("evalsha") + server.calls("eval");
    let mut admitted = 0;
    for _ in 0..400 {
        if limiter.acquire_n(1).await.is_ok() {
            admitted += 1;
        }
    }
    let trips = server.calls("evalsha") + server.calls("eval") - before;
    assert_eq!(admitted, 400);
    assert!(trips <= 400 / 10, "{trips} round trips for 400 calls");

    // Several batching instances against a tight limit: never above the bound.
    let name = unique("batched-tight");
    let (rate, burst) = (100u64, 10u64);
    let start = Instant::now();
    let mut runs = Vec::new();
    for cluster in clusters(&server, 3).await {
        let limiter = RateLimiter::builder(name.clone())
            .rate(Rate::per_second(rate as u32))
            .burst(burst as u32)
            .cluster(&cluster)
            .batch(20)
            .store_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        runs.push(tokio::spawn(hammer(
            limiter,
            2,
            Duration::from_millis(1000),
        )));
    }
    let mut admitted = 0;
    for r in runs {
        admitted += r.await.unwrap();
    }
    let bound = burst as f64 + rate as f64 * start.elapsed().as_secs_f64();
    assert!(admitted as f64 <= bound, "{admitted} > {bound}");
    assert!(admitted as f64 >= 0.9 * (burst + rate) as f64, "{admitted}");
}

fn record_store_events(name: &str) -> (events::Subscription, Arc<Mutex<Vec<EventKind>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (sink, name) = (seen.clone(), name.to_owned());
    let sub = events::subscribe(move |e| {
        if e.name == name
            && matches!(
                e.kind,
                EventKind::StoreUnavailable { .. } | EventKind::StoreRecovered
            )
        {
            sink.lock().unwrap().push(e.kind.clone());
        }
    });
    (sub, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_decisions_go_local_then_return_when_it_is_back() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let port = server.port;
    let name = unique("outage");
    let (_sub, seen) = record_store_events(&name);
    let cluster = Cluster::connect(&server.url()).await.unwrap();
    let store_timeout = Duration::from_millis(50);
    let limiter = RateLimiter::builder(name.clone())
        .rate(Rate::per_second(50))
        .burst(5)
        .cluster(&cluster)
        .store_timeout(store_timeout)
        .build()
        .unwrap();
    // Through Redis: another process's use of the limit counts here.
    let other = Cluster::connect(&server.url()).await.unwrap();
    let other = RateLimiter::builder(name.clone())
        .rate(Rate::per_second(50))
        .burst(5)
        .cluster(&other)
        .build()
        .unwrap();
    other.acquire_n(5).await.unwrap();
    assert!(
        limiter.acquire_n(1).await.is_err(),
        "the burst was spent elsewhere"
    );

    server.kill();
    // Every call is decided within store_timeout (plus scheduling), none fails
    // because of Redis, and the local limiter (a burst of 5) decides.
    let mut admitted = 0;
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let began = Instant::now();
        match limiter.call(async { Ok::<_, Rejection>(()) }).await {
            Ok(()) => admitted += 1,
            Err(Rejection::RateLimited { .. }) => {}
            Err(other) => panic!("{other}"),
        }
        slowest = slowest.max(began.elapsed());
    }
    assert!(
        slowest < store_timeout + Duration::from_millis(40),
        "{slowest:?}"
    );
    assert_eq!(admitted, 5, "the local limiter's burst");
    assert!(!cluster.is_healthy());
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "StoreUnavailable once per outage: {seen:?}");
        assert!(matches!(seen[0], EventKind::StoreUnavailable { .. }));
    }

    // Redis back (empty: no persistence): within a second, decisions go through it.
    let server = RedisServer::start_on(port);
    let back = Instant::now();
    while !cluster.is_healthy() {
        assert!(
            back.elapsed() < Duration::from_secs(1),
            "not back within 1s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = server.calls("evalsha") + server.calls("eval");
    tokio::time::sleep(Duration::from_millis(200)).await; // the local burst refills too
    limiter.acquire_n(1).await.unwrap();
    assert!(
        server.calls("evalsha") + server.calls("eval") > before,
        "decided in Redis"
    );
    let seen = seen.lock().unwrap();
    assert!(
        matches!(seen.last(), Some(EventKind::StoreRecovered)),
        "{seen:?}"
    );
}

#[tokio::test]
async fn allow_and_deny_decide_while_redis_is_down() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let cluster = Cluster::connect(&server.url()).await.unwrap();
    let build = |mode| {
        RateLimiter::builder(unique("mode"))
            .rate(Rate::per_second(1))
            .burst(1)
            .cluster(&cluster)
            .on_store_error(mode)
            .store_timeout(Duration::from_millis(30))
            .build()
            .unwrap()
    };
    let (allow, deny) = (build(OnStoreError::Allow), build(OnStoreError::Deny));
    server.kill();
    for _ in 0..5 {
        allow.acquire_n(1).await.expect("fails open");
        assert!(matches!(
            deny.acquire_n(1).await,
            Err(Rejection::RateLimited { .. })
        ));
    }
}

#[tokio::test]
async fn a_slow_redis_is_not_waited_on_past_store_timeout() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let cluster = Cluster::connect(&server.url()).await.unwrap();
    let limiter = RateLimiter::builder(unique("slow"))
        .rate(Rate::per_second(10))
        .cluster(&cluster)
        .store_timeout(Duration::from_millis(40))
        .build()
        .unwrap();
    limiter.acquire_n(1).await.unwrap();
    // Redis busy for 500ms (a script would block it the same way).
    let busy = {
        let port = server.port;
        std::thread::spawn(move || {
            let s = RedisServer { child: None, port };
            let _ = s.command("DEBUG SLEEP 0.5");
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let began = Instant::now();
    limiter.acquire_n(1).await.expect("decided locally");
    assert!(
        began.elapsed() < Duration::from_millis(90),
        "{:?}",
        began.elapsed()
    );
    busy.join().unwrap();
}

/// One OS process of `several_processes_share_one_limit`: calls the limit for the
/// time given and prints what it admitted.
#[tokio::test]
async fn child_process_of_the_fleet_test() {
    let (Ok(url), Ok(name)) = (
        std::env::var("RESILIENCE_FLEET_URL"),
        std::env::var("RESILIENCE_FLEET_NAME"),
    ) else {
        return; // only when started by the test below
    };
    let cluster = Cluster::connect(&url).await.unwrap();
    let limiter = RateLimiter::builder(name)
        .rate(Rate::per_second(100))
        .burst(10)
        .cluster(&cluster)
        .store_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let admitted = hammer(limiter, 2, Duration::from_millis(1000)).await;
    println!("ADMITTED={admitted}");
}

#[test]
fn several_processes_share_one_limit() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let name = unique("processes");
    let start = Instant::now();
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_process_of_the_fleet_test", "--nocapture"])
                .env("RESILIENCE_FLEET_URL", server.url())
                .env("RESILIENCE_FLEET_NAME", &name)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut total = 0;
    let mut each = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let n: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("ADMITTED="))
            .expect("the child reports")
            .trim()
            .parse()
            .unwrap();
        each.push(n);
        total += n;
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert!(each.iter().all(|&n| n > 0), "{each:?}");
    assert!(
        total as f64 <= 10.0 + 100.0 * elapsed,
        "{total} in {elapsed}s"
    );
    assert!(total as f64 >= 0.9 * 110.0, "{total}: {each:?}");
}
