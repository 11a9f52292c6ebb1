//! `#[coalesce]` end to end, under paused tokio time: concurrent calls with equal keys
//! share one body and each gets a clone of its outcome (`Ok` or `Err`), a dropped
//! leader hands the body over to a waiting call, distinct keys run apart.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::coalesce;
use tokio::time::{Instant, sleep};

const S: Duration = Duration::from_secs(1);

static RUNS: AtomicU32 = AtomicU32::new(0);
static FAIL: Mutex<bool> = Mutex::new(false);

#[coalesce(key = user, name = "coalesce-profile")]
async fn profile(user: u32, caller: &str) -> Result<String, String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    sleep(S).await;
    if *FAIL.lock().unwrap() {
        return Err(format!("{caller}: backend down"));
    }
    Ok(format!("user {user}, loaded for {caller}"))
}

#[tokio::test(start_paused = true)]
async fn equal_keys_share_one_body_and_its_outcome() {
    let start = Instant::now();
    let (a, b, c) = tokio::join!(profile(1, "a"), profile(1, "b"), profile(1, "c"));
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    let expected: Result<String, String> = Ok("user 1, loaded for a".into());
    assert_eq!((&a, &b, &c), (&expected, &expected, &expected));
    assert_eq!(start.elapsed(), S);

    // Errors are shared too.
    *FAIL.lock().unwrap() = true;
    let (a, b) = tokio::join!(profile(2, "a"), profile(2, "b"));
    assert_eq!(RUNS.load(Ordering::SeqCst), 2);
    assert_eq!(a, Err("a: backend down".into()));
    assert_eq!(
        b,
        Err("a: backend down".into()),
        "a clone of the leader's error"
    );
    *FAIL.lock().unwrap() = false;

    // A call after the body ended runs anew.
    assert_eq!(profile(1, "d").await, Ok("user 1, loaded for d".into()));
    assert_eq!(RUNS.load(Ordering::SeqCst), 3);
}

static KEY_RUNS: AtomicU32 = AtomicU32::new(0);

#[coalesce(key = key.to_owned())]
async fn by_key(key: &str, work: Duration) -> Result<String, String> {
    KEY_RUNS.fetch_add(1, Ordering::SeqCst);
    sleep(work).await;
    Ok(key.to_owned())
}

#[tokio::test(start_paused = true)]
async fn distinct_keys_are_independent() {
    let start = Instant::now();
    let quick = async {
        let r = by_key("quick", S).await;
        (r, start.elapsed())
    };
    let slow = async {
        let r = by_key("slow", S * 5).await;
        (r, start.elapsed())
    };
    let ((q, q_at), (s, s_at)) = tokio::join!(quick, slow);
    assert_eq!(
        (q, q_at),
        (Ok("quick".into()), S),
        "not held up by the other key"
    );
    assert_eq!((s, s_at), (Ok("slow".into()), S * 5));
    assert_eq!(KEY_RUNS.load(Ordering::SeqCst), 2);
}

static HANDOVER_RUNS: AtomicU32 = AtomicU32::new(0);

#[coalesce(key = key)]
async fn handed_over(key: u32, caller: u32) -> Result<u32, String> {
    HANDOVER_RUNS.fetch_add(1, Ordering::SeqCst);
    sleep(S).await;
    Ok(caller)
}

#[tokio::test(start_paused = true)]
async fn a_dropped_leader_hands_the_body_to_a_waiting_call() {
    let leader = tokio::spawn(handed_over(1, 1));
    sleep(Duration::from_millis(100)).await;
    let second = tokio::spawn(handed_over(1, 2));
    let third = tokio::spawn(handed_over(1, 3));
    sleep(Duration::from_millis(100)).await;
    assert_eq!(HANDOVER_RUNS.load(Ordering::SeqCst), 1, "both wait");
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    let handed_at = Instant::now();
    let (second, third) = (second.await.unwrap(), third.await.unwrap());
    assert_eq!(
        HANDOVER_RUNS.load(Ordering::SeqCst),
        2,
        "one waiting call took over, the other waited for it"
    );
    assert_eq!(second, third, "both have the new leader's outcome");
    assert!(second == Ok(2) || second == Ok(3));
    assert_eq!(handed_at.elapsed(), S, "the new body ran in full, once");
}

#[coalesce(key = key)]
async fn alone(key: u32, caller: u32) -> Result<u32, String> {
    sleep(S).await;
    Ok(caller + key)
}

#[tokio::test(start_paused = true)]
async fn a_dropped_leader_with_nobody_waiting_leaves_nothing_behind() {
    let dropped = tokio::time::timeout(Duration::from_millis(10), alone(0, 1)).await;
    assert!(dropped.is_err());
    // The next call leads at once and finishes in a full second.
    let start = Instant::now();
    assert_eq!(alone(0, 2).await, Ok(2));
    assert_eq!(start.elapsed(), S);
}
