//! Cluster breakers on a real Redis (feature `redis`): a quorum of openings opens
//! every instance within 100 ms, a late joiner sees an open breaker, and with Redis
//! down breakers act locally, rejoining when it is back. Each instance is a separate
//! `Cluster::connect` with a separately built breaker.

mod redis_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis_support::RedisServer;
use resilience_runtime::Rejection;
use resilience_runtime::circuit_breaker::Window;
use resilience_runtime::cluster::Cluster;
use resilience_runtime::events::{self, EventKind};
use resilience_runtime::{CircuitBreaker, CircuitState};

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

fn breaker(name: &str, cluster: &Cluster, quorum: u32) -> CircuitBreaker {
    CircuitBreaker::builder(name.to_owned())
        .window(Window::Count(4))
        .min_calls(2)
        .failure_rate(0.5)
        .open_for(Duration::from_secs(5))
        .cluster(cluster)
        .quorum(quorum)
        .build()
        .unwrap()
}

async fn fail_until_open(breaker: &CircuitBreaker) {
    for _ in 0..4 {
        let _ = breaker
            .call(async {
                Err::<(), _>(Rejection::ShuttingDown {
                    name: "down".into(),
                })
            })
            .await;
    }
    assert_eq!(breaker.state(), CircuitState::Open);
}

async fn wait_state(breaker: &CircuitBreaker, state: CircuitState, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if breaker.state() == state {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    breaker.state() == state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_of_openings_opens_every_instance_within_100ms() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let name = unique("payments");
    let cs = clusters(&server, 4).await;
    let b: Vec<_> = cs.iter().take(3).map(|c| breaker(&name, c, 2)).collect();
    tokio::time::sleep(Duration::from_millis(200)).await; // subscribed
    fail_until_open(&b[0]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b[1].state(),
        CircuitState::Closed,
        "one instance is not a quorum"
    );
    assert_eq!(b[2].state(), CircuitState::Closed);

    fail_until_open(&b[1]).await;
    let opened = Instant::now();
    assert!(
        wait_state(&b[2], CircuitState::Open, Duration::from_millis(100)).await,
        "the third instance opens within 100ms"
    );
    assert!(opened.elapsed() <= Duration::from_millis(100));

    // A late joiner sees the open breaker.
    let late = breaker(&name, &cs[3], 2);
    assert!(
        wait_state(&late, CircuitState::Open, Duration::from_millis(500)).await,
        "a late joiner opens"
    );
}

#[tokio::test]
async fn the_quorum_reason_says_how_many_instances() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let name = unique("reasons");
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let sink = reasons.clone();
    let wanted = name.clone();
    let _sub = events::subscribe(move |e| {
        if let EventKind::StateChanged {
            to: CircuitState::Open,
            reason: Some(r),
            ..
        } = &e.kind
        {
            if e.name == wanted {
                sink.lock().unwrap().push(r.clone());
            }
        }
    });
    let cs = clusters(&server, 2).await;
    let a = breaker(&name, &cs[0], 1);
    let b = breaker(&name, &cs[1], 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    fail_until_open(&a).await;
    assert!(wait_state(&b, CircuitState::Open, Duration::from_millis(100)).await);
    let reasons = reasons.lock().unwrap();
    assert!(
        reasons.iter().any(|r| r == "opened on 1 instances"),
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_breakers_act_locally_and_rejoin_when_it_is_back() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let port = server.port;
    let name = unique("local");
    let outages = Arc::new(Mutex::new(Vec::new()));
    let (sink, wanted) = (outages.clone(), name.clone());
    let _sub = events::subscribe(move |e| {
        if e.name == wanted {
            match &e.kind {
                EventKind::StoreUnavailable { .. } => sink.lock().unwrap().push("unavailable"),
                EventKind::StoreRecovered => sink.lock().unwrap().push("recovered"),
                _ => {}
            }
        }
    });
    let cs = clusters(&server, 3).await;
    let b: Vec<_> = cs.iter().map(|c| breaker(&name, c, 2)).collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.kill();
    fail_until_open(&b[0]).await;
    fail_until_open(&b[1]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        b[2].state(),
        CircuitState::Closed,
        "no Redis: nothing shared"
    );
    assert_eq!(
        *outages.lock().unwrap(),
        ["unavailable"; 3],
        "each breaker tells of the outage once"
    );
    // Calls still go through the closed breaker.
    b[2].call(async { Ok::<_, Rejection>(()) }).await.unwrap();

    let _server = RedisServer::start_on(port);
    b[0].reset();
    b[1].reset();
    tokio::time::sleep(Duration::from_millis(1200)).await; // resubscribed
    fail_until_open(&b[0]).await;
    fail_until_open(&b[1]).await;
    assert!(
        wait_state(&b[2], CircuitState::Open, Duration::from_millis(100)).await,
        "back together once Redis is"
    );
    let outages = outages.lock().unwrap();
    assert_eq!(outages.iter().filter(|e| **e == "recovered").count(), 3);
}
