//! `#[hedge]` end to end, under paused tokio time: copies start at `delay` and
//! `2 × delay`, at once on an error, all at once with `delay = "0s"`; the first `Ok`
//! wins and the losers are dropped at that moment; the last error when all fail; the
//! percentile mode; events and counts.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use resilience_runtime::events::{self, EventKind, PolicyKind};
use resilience_runtime::hedge::Hedge;
use resilience_runtime::{hedge, registry};
use tokio::time::{Instant, sleep};

const MS: Duration = Duration::from_millis(1);

/// What each copy did: (copy number from 0, when it started, when it was dropped).
#[derive(Default)]
struct Log {
    origin: Option<Instant>,
    started: Vec<(u32, Duration)>,
    dropped: Vec<(u32, Duration)>,
}

impl Log {
    fn reset(&mut self) {
        *self = Log {
            origin: Some(Instant::now()),
            ..Log::default()
        };
    }
    fn at(&self) -> Duration {
        self.origin.unwrap().elapsed()
    }
}

/// Records when its copy is dropped (finished or cancelled).
struct Guard(&'static Mutex<Log>, u32);

impl Drop for Guard {
    fn drop(&mut self) {
        let mut log = self.0.lock().unwrap();
        let at = log.at();
        log.dropped.push((self.1, at));
    }
}

static TIMING: Mutex<Log> = Mutex::new(Log {
    origin: None,
    started: Vec::new(),
    dropped: Vec::new(),
});
static TIMING_COPY: AtomicU32 = AtomicU32::new(0);

/// Copies 0 and 1 hang; copy 2 answers after 10ms.
#[hedge(delay = "50ms", max_hedges = 2, name = "hedge-timing")]
async fn timed(label: String) -> Result<String, String> {
    let copy = TIMING_COPY.fetch_add(1, Ordering::SeqCst);
    {
        let mut log = TIMING.lock().unwrap();
        let at = log.at();
        log.started.push((copy, at));
    }
    let _guard = Guard(&TIMING, copy);
    let work = if copy == 2 { MS * 10 } else { MS * 10_000 };
    sleep(work).await;
    Ok(format!("{label} from copy {copy}"))
}

#[tokio::test(start_paused = true)]
async fn copies_start_at_delay_and_twice_delay_and_the_losers_are_dropped_on_the_win() {
    let hedged = std::sync::Arc::new(Mutex::new(Vec::new()));
    let seen = std::sync::Arc::clone(&hedged);
    let _subscription = events::subscribe(move |e| {
        if let (PolicyKind::Hedge, EventKind::Hedged { copy }) = (e.policy, &e.kind) {
            if e.name == "hedge-timing" {
                seen.lock().unwrap().push(*copy);
            }
        }
    });
    TIMING.lock().unwrap().reset();
    let start = Instant::now();
    let answer = timed("price".to_owned()).await;
    assert_eq!(
        answer,
        Ok("price from copy 2".to_owned()),
        "each copy has the argument"
    );
    assert_eq!(
        start.elapsed(),
        MS * 110,
        "copy 2 started at 100ms, answered 10ms later"
    );
    let log = TIMING.lock().unwrap();
    assert_eq!(
        log.started,
        [(0, Duration::ZERO), (1, MS * 50), (2, MS * 100)]
    );
    let mut dropped = log.dropped.clone();
    dropped.sort_unstable();
    assert_eq!(
        dropped,
        [(0, MS * 110), (1, MS * 110), (2, MS * 110)],
        "the losers are dropped when the winner answers"
    );
    assert_eq!(*hedged.lock().unwrap(), [1, 2]);
    let snapshot = registry::snapshot()
        .into_iter()
        .find(|s| s.policy == PolicyKind::Hedge && s.name == "hedge-timing")
        .unwrap();
    assert_eq!(snapshot.hedges, 2);
    assert_eq!(snapshot.successes, 1);
}

static ERRORS: Mutex<Log> = Mutex::new(Log {
    origin: None,
    started: Vec::new(),
    dropped: Vec::new(),
});
static ERRORS_COPY: AtomicU32 = AtomicU32::new(0);
static ERRORS_ALL_FAIL: AtomicU32 = AtomicU32::new(0);

/// Copy 0 fails after 10ms, copy 1 after 30ms, copy 2 answers after 5ms, unless all
/// fail.
#[hedge(delay = "50ms", max_hedges = 2)]
async fn flaky() -> Result<u32, String> {
    let copy = ERRORS_COPY.fetch_add(1, Ordering::SeqCst);
    {
        let mut log = ERRORS.lock().unwrap();
        let at = log.at();
        log.started.push((copy, at));
    }
    let (work, ok) = match copy {
        0 => (MS * 10, false),
        1 => (MS * 30, false),
        _ => (MS * 5, ERRORS_ALL_FAIL.load(Ordering::SeqCst) == 0),
    };
    sleep(work).await;
    if ok {
        Ok(copy)
    } else {
        Err(format!("copy {copy} failed"))
    }
}

#[tokio::test(start_paused = true)]
async fn an_error_starts_the_next_copy_at_once_and_the_last_error_is_returned() {
    ERRORS.lock().unwrap().reset();
    let start = Instant::now();
    assert_eq!(flaky().await, Ok(2));
    assert_eq!(start.elapsed(), MS * 45);
    assert_eq!(
        ERRORS.lock().unwrap().started,
        [(0, Duration::ZERO), (1, MS * 10), (2, MS * 40)],
        "each error starts the next copy at once"
    );

    ERRORS_COPY.store(0, Ordering::SeqCst);
    ERRORS_ALL_FAIL.store(1, Ordering::SeqCst);
    ERRORS.lock().unwrap().reset();
    let start = Instant::now();
    assert_eq!(
        flaky().await,
        Err("copy 2 failed".into()),
        "the last error to arrive"
    );
    assert_eq!(start.elapsed(), MS * 45);
}

static ZERO_STARTS: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

#[hedge(delay = "0s", max_hedges = 3)]
async fn all_at_once(origin: Instant, copy: &AtomicU32) -> Result<u32, String> {
    ZERO_STARTS.lock().unwrap().push(origin.elapsed());
    let n = copy.fetch_add(1, Ordering::SeqCst);
    sleep(MS * (40 - 10 * n)).await;
    Ok(n)
}

#[tokio::test(start_paused = true)]
async fn delay_zero_starts_every_copy_at_once() {
    let copy = AtomicU32::new(0);
    let origin = Instant::now();
    assert_eq!(
        all_at_once(origin, &copy).await,
        Ok(3),
        "the quickest copy wins"
    );
    assert_eq!(origin.elapsed(), MS * 10);
    assert_eq!(*ZERO_STARTS.lock().unwrap(), [Duration::ZERO; 4]);
}

static PCT_COPIES: AtomicU32 = AtomicU32::new(0);

#[hedge(delay = percentile(95), max_hedges = 1, name = "hedge-percentile")]
async fn by_percentile(work: Duration) -> Result<Duration, String> {
    PCT_COPIES.fetch_add(1, Ordering::SeqCst);
    sleep(work).await;
    Ok(work)
}

#[tokio::test(start_paused = true)]
async fn percentile_hedges_nothing_before_100_latencies_then_follows_them() {
    // 99 calls: nothing hedged, however slow.
    for i in 1..=99u32 {
        assert_eq!(by_percentile(MS * i).await, Ok(MS * i));
    }
    let start = Instant::now();
    assert_eq!(by_percentile(MS * 5_000).await, Ok(MS * 5_000));
    assert_eq!(start.elapsed(), MS * 5_000);
    assert_eq!(
        PCT_COPIES.load(Ordering::SeqCst),
        100,
        "no copy before 100 latencies"
    );

    // Latencies 1..=99ms and 5s: the 95th percentile is 95ms.
    let hedge = Hedge::builder("hedge-percentile")
        .percentile(95)
        .register()
        .unwrap();
    let delay = hedge.current_delay().unwrap();
    assert!(delay.abs_diff(MS * 95) <= MS / 10, "{delay:?}");

    // A slow call is hedged at that delay; the copy (as slow) answers after it.
    PCT_COPIES.store(0, Ordering::SeqCst);
    let start = Instant::now();
    assert_eq!(by_percentile(MS * 200).await, Ok(MS * 200));
    assert_eq!(
        PCT_COPIES.load(Ordering::SeqCst),
        2,
        "one copy after the delay"
    );
    assert_eq!(start.elapsed(), MS * 200, "the first copy still won");

    // Many fast latencies move the percentile down.
    for _ in 0..1_000 {
        by_percentile(MS * 2).await.unwrap();
    }
    let delay = hedge.current_delay().unwrap();
    assert!(delay.abs_diff(MS * 2) <= MS / 100, "{delay:?}");
    PCT_COPIES.store(0, Ordering::SeqCst);
    let start = Instant::now();
    by_percentile(MS * 50).await.unwrap();
    assert_eq!(PCT_COPIES.load(Ordering::SeqCst), 2);
    assert_eq!(start.elapsed(), MS * 50);
}

#[tokio::test(start_paused = true)]
async fn a_first_copy_that_answers_in_time_is_never_hedged() {
    static COPIES: AtomicU32 = AtomicU32::new(0);
    #[hedge(delay = "50ms")]
    async fn quick() -> Result<(), String> {
        COPIES.fetch_add(1, Ordering::SeqCst);
        sleep(MS * 49).await;
        Ok(())
    }
    quick().await.unwrap();
    sleep(MS * 100).await;
    assert_eq!(COPIES.load(Ordering::SeqCst), 1);
}

#[test]
fn the_builder_refuses_out_of_range_settings() {
    let err = Hedge::builder("hedge-bad")
        .max_hedges(11)
        .build()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid hedge configuration: `max_hedges` must be from 1 to 10, not 11: the copies started after the first"
    );
    assert!(Hedge::builder("hedge-bad").max_hedges(0).build().is_err());
    assert!(Hedge::builder("hedge-bad").percentile(100).build().is_err());
}
