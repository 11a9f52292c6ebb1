//! `#[cache]` end to end, under paused tokio time: fresh hits, expiry, stale answers on
//! error, least-recently-used eviction, one body per key with waiting callers sharing
//! its `Ok`, and a failing or cancelled leader.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_runtime::events::{self, EventKind, PolicyKind};
use resilience_runtime::{cache, registry};
use tokio::time::{advance, sleep};

const S: Duration = Duration::from_secs(1);

static PRICE_RUNS: AtomicU32 = AtomicU32::new(0);
static PRICE_FAILS: Mutex<bool> = Mutex::new(false);

#[cache(key = sku.to_string(), ttl = "30s", stale_if_error = "10m", name = "cache-price")]
async fn price(sku: &str) -> Result<u32, String> {
    PRICE_RUNS.fetch_add(1, Ordering::SeqCst);
    if *PRICE_FAILS.lock().unwrap() {
        return Err(format!("{sku}: backend down"));
    }
    Ok(1000 + PRICE_RUNS.load(Ordering::SeqCst))
}

fn fail_prices(fail: bool) {
    *PRICE_FAILS.lock().unwrap() = fail;
}

#[tokio::test(start_paused = true)]
async fn fresh_hits_expiry_and_stale_answers() {
    let stale = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&stale);
    let _subscription = events::subscribe(move |e| {
        if let (PolicyKind::Cache, EventKind::StaleServed { age }) = (e.policy, &e.kind) {
            if e.name == "cache-price" {
                seen.lock().unwrap().push(*age);
            }
        }
    });
    assert_eq!(price("a").await, Ok(1001));
    // Fresh: the body is not run.
    advance(S * 29).await;
    assert_eq!(price("a").await, Ok(1001));
    assert_eq!(
        PRICE_RUNS.load(Ordering::SeqCst),
        1,
        "a fresh hit runs no body"
    );
    // Another key is another entry.
    assert_eq!(price("b").await, Ok(1002));
    // Expired at ttl exactly: the body runs and its answer is stored.
    advance(S).await;
    assert_eq!(price("a").await, Ok(1003));
    assert_eq!(PRICE_RUNS.load(Ordering::SeqCst), 3);
    // Failing: within ttl + stale_if_error the entry answers, as `Ok`.
    fail_prices(true);
    advance(S * 30).await; // 30s old: no longer fresh
    assert_eq!(price("a").await, Ok(1003));
    assert_eq!(
        PRICE_RUNS.load(Ordering::SeqCst),
        4,
        "the body ran and failed"
    );
    advance(S * 599 - S * 30).await; // 599s old: still within 630s
    assert_eq!(price("a").await, Ok(1003));
    advance(S * 31).await; // 630s old: too old
    assert_eq!(price("a").await, Err("a: backend down".into()));
    assert_eq!(*stale.lock().unwrap(), [S * 30, S * 599]);
    fail_prices(false);

    let snapshot = registry::snapshot()
        .into_iter()
        .find(|s| s.policy == PolicyKind::Cache && s.name == "cache-price")
        .unwrap();
    assert_eq!(snapshot.cache_hits_fresh, 1);
    assert_eq!(snapshot.cache_hits_stale, 2);
}

static LKG_RUNS: AtomicU32 = AtomicU32::new(0);

/// The defaults: `ttl = "0s"` (every call runs the body) and `stale_if_error = "0s"`.
#[cache]
fn last_known(fail: bool) -> Result<u32, String> {
    let n = LKG_RUNS.fetch_add(1, Ordering::SeqCst);
    if fail { Err("down".into()) } else { Ok(n) }
}

#[cache(ttl = "1s", stale_if_error = "1m")]
fn plain_last_known(fail: bool) -> Result<u32, String> {
    if fail { Err("down".into()) } else { Ok(7) }
}

#[tokio::test(start_paused = true)]
async fn plain_functions_and_the_defaults() {
    assert_eq!(last_known(false), Ok(0));
    assert_eq!(
        last_known(false),
        Ok(1),
        "ttl 0s: never served without calling"
    );
    assert_eq!(
        last_known(true),
        Err("down".into()),
        "stale_if_error 0s: an entry just stored is already too old"
    );
    assert_eq!(plain_last_known(false), Ok(7));
    advance(S * 30).await;
    assert_eq!(plain_last_known(true), Ok(7), "stale, from a plain fn");
    advance(S * 31).await;
    assert_eq!(plain_last_known(true), Err("down".into()));
}

static EVICT_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache(key = id, ttl = "1h", max_keys = 3)]
async fn lookup(id: u32) -> Result<u32, String> {
    EVICT_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(id * 10)
}

#[tokio::test(start_paused = true)]
async fn the_least_recently_used_key_is_evicted_first() {
    for id in [1, 2, 3] {
        lookup(id).await.unwrap();
    }
    lookup(1).await.unwrap(); // 2 is now the least recently used
    assert_eq!(EVICT_RUNS.load(Ordering::SeqCst), 3);
    lookup(4).await.unwrap(); // evicts 2
    let runs = |before: u32| EVICT_RUNS.load(Ordering::SeqCst) - before;
    let before = EVICT_RUNS.load(Ordering::SeqCst);
    for id in [1, 3, 4] {
        assert_eq!(lookup(id).await, Ok(id * 10));
    }
    assert_eq!(runs(before), 0, "1, 3 and 4 are held");
    // 1 is now the oldest; 2 comes back and evicts it.
    assert_eq!(lookup(2).await, Ok(20));
    assert_eq!(runs(before), 1, "2 was evicted");
    lookup(3).await.unwrap();
    lookup(4).await.unwrap();
    assert_eq!(runs(before), 1);
    lookup(1).await.unwrap();
    assert_eq!(runs(before), 2, "1 was evicted next");
}

static SHARED_RUNS: AtomicU32 = AtomicU32::new(0);
static SHARED_FAIL: Mutex<bool> = Mutex::new(false);

#[cache(key = key, ttl = "0s")]
async fn slow_load(key: u32, caller: u32) -> Result<(u32, u32), String> {
    SHARED_RUNS.fetch_add(1, Ordering::SeqCst);
    sleep(S).await;
    if *SHARED_FAIL.lock().unwrap() {
        return Err(format!("caller {caller} failed"));
    }
    Ok((key, caller))
}

#[tokio::test(start_paused = true)]
async fn concurrent_callers_share_one_body_and_a_failing_leader_releases_them() {
    let start = tokio::time::Instant::now();
    let (a, b, c, other) = tokio::join!(
        slow_load(1, 1),
        slow_load(1, 2),
        slow_load(1, 3),
        slow_load(2, 4)
    );
    assert_eq!(SHARED_RUNS.load(Ordering::SeqCst), 2, "one body per key");
    assert_eq!((a, b, c), (Ok((1, 1)), Ok((1, 1)), Ok((1, 1))));
    assert_eq!(other, Ok((2, 4)));
    assert_eq!(start.elapsed(), S);

    // A failing leader: each waiting caller runs its own body.
    *SHARED_FAIL.lock().unwrap() = true;
    let before = SHARED_RUNS.load(Ordering::SeqCst);
    let (a, b) = tokio::join!(slow_load(3, 1), slow_load(3, 2));
    assert_eq!(a, Err("caller 1 failed".into()));
    assert_eq!(
        b,
        Err("caller 2 failed".into()),
        "the waiter ran its own body"
    );
    assert_eq!(SHARED_RUNS.load(Ordering::SeqCst) - before, 2);
    *SHARED_FAIL.lock().unwrap() = false;
}

static CANCEL_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache(key = key)]
async fn cancellable(key: u32, caller: u32) -> Result<u32, String> {
    CANCEL_RUNS.fetch_add(1, Ordering::SeqCst);
    sleep(S).await;
    Ok(caller)
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_leader_releases_its_waiters() {
    let leader = tokio::spawn(cancellable(1, 1));
    sleep(Duration::from_millis(10)).await;
    let waiter = tokio::spawn(cancellable(1, 2));
    sleep(Duration::from_millis(10)).await;
    assert_eq!(
        CANCEL_RUNS.load(Ordering::SeqCst),
        1,
        "the second caller waits"
    );
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    // The waiter runs its own body, a full second from now.
    let start = tokio::time::Instant::now();
    assert_eq!(waiter.await.unwrap(), Ok(2));
    assert_eq!(start.elapsed(), S);
    assert_eq!(CANCEL_RUNS.load(Ordering::SeqCst), 2);
}

#[test]
fn plain_waiters_share_the_leaders_ok() {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    static STARTED: (Mutex<bool>, std::sync::Condvar) =
        (Mutex::new(false), std::sync::Condvar::new());
    #[cache(key = k)]
    fn blocking_load(k: u8) -> Result<u32, String> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        *STARTED.0.lock().unwrap() = true;
        STARTED.1.notify_all();
        std::thread::sleep(Duration::from_millis(5));
        Ok(u32::from(k))
    }
    let leader = std::thread::spawn(|| blocking_load(9));
    let mut started = STARTED.0.lock().unwrap();
    while !*started {
        started = STARTED.1.wait(started).unwrap();
    }
    drop(started);
    // The leader's body is running (for 5ms more): this call waits for it, and would
    // run a body of its own if it came later (`ttl` is 0s).
    assert_eq!(blocking_load(9), Ok(9));
    assert_eq!(leader.join().unwrap(), Ok(9));
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
}
