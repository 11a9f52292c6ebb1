//! The cost of a cluster rate-limit decision on loopback Redis, against one raw round
//! trip measured in the same run: `PING` and the same `EVALSHA` sent by the `redis`
//! crate on its own connection. Also: round trips per call with `batch = 20`
//! (counted by Redis, `INFO commandstats`), and decisions per second from 1, 2 and 4
//! concurrent tasks.
//!
//! `cargo run -p resilience-bench --release --features redis --bin cluster_rtt`
//! (`-- --check` fails when a decision costs more than 1.2x the raw `EVALSHA` or a
//! batch of 20 needs more than one round trip per 10 calls). Starts its own
//! `redis-server` on a free loopback port.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use resilience_runtime::cluster::{self, Cluster};
use resilience_runtime::rate_limit::{Rate, RateLimiter};

const CALLS: u32 = 20_000;

fn main() {
    let check = std::env::args().any(|a| a == "--check");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let Ok(mut server) = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
    else {
        eprintln!("redis-server is not installed: nothing measured");
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(10));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let ok = runtime.block_on(measure(&url, check));
    let _ = server.kill();
    let _ = server.wait();
    if !ok {
        std::process::exit(1);
    }
}

/// A limit no call of the bench reaches (a burst of a million), at 100 000/s: one
/// interval is 10us, so a batch of 20 is spent within its 200us.
fn limiter(name: &str, cluster: &Cluster, batch: u32) -> RateLimiter {
    RateLimiter::builder(name.to_owned())
        .rate(Rate::per_second(100_000))
        .burst(1_000_000)
        .cluster(cluster)
        .batch(batch)
        .store_timeout(Duration::from_secs(1))
        .build()
        .unwrap()
}

async fn per_call<F, Fut>(calls: u32, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..calls / 10 {
        f().await; // warm up
    }
    let start = Instant::now();
    for _ in 0..calls {
        f().await;
    }
    start.elapsed() / calls
}

async fn commandstat(connection: &mut redis::aio::MultiplexedConnection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(connection)
        .await
        .unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn measure(url: &str, check: bool) -> bool {
    let client = redis::Client::open(url).unwrap();
    let raw = client.get_multiplexed_async_connection().await.unwrap();
    let mut stats = client.get_multiplexed_async_connection().await.unwrap();
    let cluster = Cluster::connect(url).await.unwrap();

    // The same script the limiter sends, by hash, with the same arguments.
    let limited = limiter("bench-one", &cluster, 1);
    limited.acquire_n(1).await.unwrap(); // loads the script
    let hash = cluster::script_hash().to_owned();
    let mut ping_total = Duration::ZERO;
    let mut evalsha_total = Duration::ZERO;
    let mut decision_total = Duration::ZERO;
    // Interleaved rounds, so drift in the machine's load hits all three alike.
    for _ in 0..5 {
        ping_total += per_call(CALLS / 5, || {
            let mut c = raw.clone();
            async move {
                let _: String = redis::cmd("PING").query_async(&mut c).await.unwrap();
            }
        })
        .await;
        evalsha_total += per_call(CALLS / 5, || {
            let mut c = raw.clone();
            let hash = hash.clone();
            async move {
                let _: (u64, u64, u64) = redis::cmd("EVALSHA")
                    .arg(hash)
                    .arg(1)
                    .arg("resilience:rl:bench-raw")
                    .arg(10.0)
                    .arg(9_999_990.0)
                    .arg(1)
                    .arg(1)
                    .arg(0)
                    .query_async(&mut c)
                    .await
                    .unwrap();
            }
        })
        .await;
        decision_total += per_call(CALLS / 5, || {
            let l = &limited;
            async move {
                l.acquire_n(1).await.unwrap();
            }
        })
        .await;
    }
    let (ping, evalsha, decision) = (ping_total / 5, evalsha_total / 5, decision_total / 5);
    let ratio = decision.as_secs_f64() / evalsha.as_secs_f64();
    println!("raw PING round trip          {ping:>10.2?}");
    println!("raw EVALSHA (same script)    {evalsha:>10.2?}");
    println!("cluster decision (batch = 1) {decision:>10.2?}  = {ratio:.2}x the raw EVALSHA");

    let batched = limiter("bench-batched", &cluster, 20);
    let before = commandstat(&mut stats, "evalsha").await;
    let batch_cost = per_call(CALLS, || {
        let l = &batched;
        async move {
            l.acquire_n(1).await.unwrap();
        }
    })
    .await;
    let trips = commandstat(&mut stats, "evalsha").await - before;
    let per = trips as f64 / f64::from(CALLS + CALLS / 10);
    println!(
        "cluster decision (batch = 20) {batch_cost:>9.2?}  {per:.3} round trips per call ({:.2}x the raw EVALSHA)",
        batch_cost.as_secs_f64() / evalsha.as_secs_f64()
    );

    for tasks in [1u32, 2, 4] {
        let limited = Arc::new(limiter(&format!("bench-tasks-{tasks}"), &cluster, 1));
        let done = Arc::new(AtomicU64::new(0));
        let end = Instant::now() + Duration::from_secs(1);
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let (l, done) = (limited.clone(), done.clone());
                tokio::spawn(async move {
                    while Instant::now() < end {
                        l.acquire_n(1).await.unwrap();
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        println!(
            "decisions per second, {tasks} task(s): {:>8}",
            done.load(Ordering::Relaxed)
        );
    }

    let mut ok = true;
    if check && ratio > 1.2 {
        eprintln!("FAIL: a decision costs {ratio:.2}x the raw EVALSHA (target <= 1.2x)");
        ok = false;
    }
    if check && per > 0.1 {
        eprintln!("FAIL: batch = 20 made {per:.3} round trips per call (target <= 0.1)");
        ok = false;
    }
    ok
}
