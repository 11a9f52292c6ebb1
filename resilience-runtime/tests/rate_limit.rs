//! Rate limiter behaviour on paused `tokio` time: rate, burst, exact `retry_after`,
//! waiting, cancellation, keys, names, messages, configuration, and two threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use resilience_runtime::rate_limit::{DEFAULT_MAX_KEYS, KeyedRateLimiter, Rate, RateLimiter};
use resilience_runtime::{Rejection, registry};
use tokio::time::{Instant, advance};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn limiter(name: &'static str, rate: Rate, burst: Option<u32>, max_wait: Duration) -> RateLimiter {
    let mut b = RateLimiter::builder(name).rate(rate).max_wait(max_wait);
    if let Some(burst) = burst {
        b = b.burst(burst);
    }
    b.build().unwrap()
}

fn retry_after(r: Result<(), Rejection>) -> Duration {
    match r {
        Err(Rejection::RateLimited { retry_after, .. }) => retry_after,
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn burst_defaults_to_the_rate_count() {
    let l = limiter("r-burst-default", Rate::per_second(5), None, Duration::ZERO);
    assert_eq!(l.burst(), 5);
    assert_eq!(l.available(), 5);
    for _ in 0..5 {
        l.check().unwrap();
    }
    assert_eq!(l.available(), 0);
    assert_eq!(retry_after(l.check()), ms(200));
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_of_r_means_a_call_made_r_later_is_admitted() {
    let l = limiter("r-exact", Rate::per_second(100), Some(1), Duration::ZERO);
    l.check().unwrap();
    advance(Duration::from_micros(2_500)).await;
    let r = retry_after(l.check());
    assert_eq!(r, Duration::from_micros(7_500), "exact to the nanosecond");
    advance(r - Duration::from_nanos(1)).await;
    assert_eq!(retry_after(l.check()), Duration::from_nanos(1));
    advance(Duration::from_nanos(1)).await;
    l.check().unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_steady_pace_is_the_rate() {
    // 10/s with burst 1: exactly one call per 100ms, over 10 seconds.
    let l = limiter("r-pace", Rate::per_second(10), Some(1), Duration::ZERO);
    let mut admitted = 0;
    for _ in 0..10_000 {
        if l.check().is_ok() {
            admitted += 1;
        }
        advance(ms(1)).await;
    }
    assert_eq!(admitted, 100);
}

#[tokio::test(start_paused = true)]
async fn a_quiet_period_refills_the_burst_but_never_beyond_it() {
    let l = limiter("r-refill", Rate::per_second(10), Some(3), Duration::ZERO);
    for _ in 0..3 {
        l.check().unwrap();
    }
    assert!(l.check().is_err());
    advance(ms(200)).await; // two intervals: two calls
    assert_eq!(l.available(), 2);
    l.check().unwrap();
    l.check().unwrap();
    assert!(l.check().is_err());
    advance(Duration::from_secs(3600)).await; // a long quiet: still only the burst
    assert_eq!(l.available(), 3);
    for _ in 0..3 {
        l.check().unwrap();
    }
    assert_eq!(retry_after(l.check()), ms(100));
}

#[tokio::test(start_paused = true)]
async fn rates_per_minute_and_hour_and_odd_periods() {
    let m = limiter("r-min", Rate::per_minute(2), Some(1), Duration::ZERO);
    m.check().unwrap();
    assert_eq!(retry_after(m.check()), Duration::from_secs(30));
    let h = limiter("r-hour", Rate::per_hour(3), Some(1), Duration::ZERO);
    h.check().unwrap();
    assert_eq!(retry_after(h.check()), Duration::from_secs(1200));
    // 3 per second: 333_333_333ns apart (rounded down to whole nanoseconds).
    let odd = limiter("r-odd", Rate::per_second(3), Some(1), Duration::ZERO);
    odd.check().unwrap();
    assert_eq!(retry_after(odd.check()), Duration::from_nanos(333_333_333));
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_never_runs_and_changes_nothing() {
    let l = limiter("r-refused", Rate::per_second(1), Some(1), Duration::ZERO);
    let ran = AtomicUsize::new(0);
    let body = || async {
        ran.fetch_add(1, Ordering::SeqCst);
        Ok::<_, Rejection>(())
    };
    l.call(body()).await.unwrap();
    for _ in 0..10 {
        let r = l.call(body()).await;
        assert!(matches!(r, Err(Rejection::RateLimited { .. })));
    }
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    // Refusals did not push the next slot back.
    assert_eq!(retry_after(l.check()), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn a_call_waits_for_its_slot_within_max_wait() {
    let l = limiter("r-wait", Rate::per_second(10), Some(1), ms(250));
    let start = Instant::now();
    let mut times = Vec::new();
    for _ in 0..3 {
        l.call(async { Ok::<_, Rejection>(()) }).await.unwrap();
        times.push(start.elapsed());
    }
    assert_eq!(times, [ms(0), ms(100), ms(200)]);
}

#[tokio::test(start_paused = true)]
async fn waiters_reserve_slots_in_arrival_order_and_beyond_max_wait_are_refused() {
    let l = limiter("r-wait-order", Rate::per_second(10), Some(1), ms(250));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for id in 0..5 {
        let l = l.clone();
        tasks.push(tokio::spawn(async move {
            l.call(async move { Ok::<_, Rejection>((id, start.elapsed())) })
                .await
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert_eq!(results[0], Ok((0, ms(0))));
    assert_eq!(results[1], Ok((1, ms(100))));
    assert_eq!(results[2], Ok((2, ms(200))));
    // The 4th would wait 300ms > 250ms: refused at once, with the exact wait.
    for r in &results[3..] {
        assert_eq!(
            r,
            &Err(Rejection::RateLimited {
                name: "r-wait-order".into(),
                retry_after: ms(300)
            })
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_last_waiter_cancelled_gives_its_slot_back() {
    let l = limiter(
        "r-cancel-last",
        Rate::per_second(10),
        Some(1),
        Duration::from_secs(1),
    );
    l.check().unwrap();
    let waiting = tokio::time::timeout(ms(50), l.call(async { Ok::<_, Rejection>(()) })).await;
    assert!(
        waiting.is_err(),
        "cancelled while waiting for its slot at 100ms"
    );
    // Its slot (100ms) is free again: a check at 100ms is admitted.
    advance(ms(50)).await;
    l.check().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_with_later_reservations_keeps_theirs_on_time() {
    let l = limiter(
        "r-cancel-mid",
        Rate::per_second(10),
        Some(1),
        Duration::from_secs(1),
    );
    l.check().unwrap();
    let start = Instant::now();
    let first = {
        let l = l.clone();
        tokio::spawn(async move { l.call(async { Ok::<_, Rejection>(()) }).await })
    };
    tokio::task::yield_now().await; // first reserves 100ms
    let second = {
        let l = l.clone();
        tokio::spawn(async move {
            l.call(async move { Ok::<_, Rejection>(start.elapsed()) })
                .await
        })
    };
    tokio::task::yield_now().await; // second reserves 200ms
    first.abort();
    assert_eq!(second.await.unwrap(), Ok(ms(200)), "second keeps its slot");
    // The cancelled slot was not handed out twice: the next is 300ms.
    assert_eq!(retry_after(l.check()), ms(100));
}

#[tokio::test(start_paused = true)]
async fn check_never_waits_whatever_max_wait_is() {
    let l = limiter(
        "r-check",
        Rate::per_second(10),
        Some(1),
        Duration::from_secs(5),
    );
    l.check().unwrap();
    let start = Instant::now();
    assert_eq!(retry_after(l.check()), ms(100));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[test]
fn call_blocking_refuses_or_sleeps_its_thread() {
    let l = limiter("r-blocking", Rate::per_second(1), Some(1), Duration::ZERO);
    assert_eq!(l.call_blocking(|| Ok::<_, Rejection>(1)), Ok(1));
    let r: Result<(), Rejection> = l.call_blocking(|| Ok(()));
    assert!(matches!(r, Err(Rejection::RateLimited { .. })));

    // 200/s: the second call sleeps about 5ms.
    let w = limiter("r-blocking-wait", Rate::per_second(200), Some(1), ms(50));
    let start = std::time::Instant::now();
    w.call_blocking(|| Ok::<_, Rejection>(())).unwrap();
    w.call_blocking(|| Ok::<_, Rejection>(())).unwrap();
    assert!(start.elapsed() >= ms(4), "{:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn errors_of_the_body_pass_through() {
    let l = limiter("r-errors", Rate::per_second(10), None, Duration::ZERO);
    #[derive(Debug, PartialEq)]
    enum E {
        Body,
        Limited(Rejection),
    }
    impl From<Rejection> for E {
        fn from(r: Rejection) -> Self {
            E::Limited(r)
        }
    }
    assert_eq!(l.call(async { Err::<(), _>(E::Body) }).await, Err(E::Body));
}

#[tokio::test(start_paused = true)]
async fn names_are_shared_and_the_first_configuration_wins() {
    let a = RateLimiter::builder("r-shared")
        .rate(Rate::per_second(1))
        .register()
        .unwrap();
    let b = RateLimiter::builder("r-shared")
        .rate(Rate::per_second(100))
        .register_clamped();
    assert!(a.ptr_eq(&b));
    assert_eq!(b.rate(), Rate::per_second(1));
    a.check().unwrap();
    assert!(b.check().is_err(), "one budget for both");
    assert!(registry::rate_limiter("r-shared").unwrap().ptr_eq(&a));
    assert!(registry::rate_limiter("r-nope").is_none());
    assert!(
        registry::rate_limiters()
            .iter()
            .any(|l| l.name() == "r-shared")
    );
}

#[tokio::test(start_paused = true)]
async fn rejection_messages_are_diagnoses() {
    let plain = limiter("r-msg-plain", Rate::per_second(10), Some(1), Duration::ZERO);
    plain.check().unwrap();
    assert_eq!(
        plain.check().unwrap_err().to_string(),
        "rate limit 'r-msg-plain' exceeded; next slot in 100ms"
    );
    let registered = RateLimiter::builder("r-msg")
        .rate(Rate::per_second(100))
        .burst(2)
        .max_wait(ms(5))
        .register()
        .unwrap();
    registered.check().unwrap();
    registered.check().unwrap();
    assert_eq!(
        registered.check().unwrap_err().to_string(),
        "rate limit 'r-msg' exceeded: 100/s with bursts of up to 2, calls wait at most 5ms; \
         next slot in 10ms"
    );
    let keyed = KeyedRateLimiter::builder("r-msg-keyed")
        .rate(Rate::per_minute(5))
        .burst(1)
        .register()
        .unwrap();
    keyed.check(&1).unwrap();
    assert_eq!(
        keyed.check(&1).unwrap_err().to_string(),
        "rate limit 'r-msg-keyed' exceeded: per key, 5/min with bursts of up to 1, \
         calls wait at most 0s; next slot in 12s"
    );
}

#[test]
fn build_checks_every_setting() {
    let e = RateLimiter::builder("c").build().unwrap_err();
    assert_eq!((e.policy, e.field), ("rate_limit", "rate"));
    let e = RateLimiter::builder("c")
        .rate(Rate::per_second(0))
        .build()
        .unwrap_err();
    assert_eq!(e.field, "rate");
    let e = RateLimiter::builder("c")
        .rate(Rate::new(2_000_000_000, Duration::from_secs(1)))
        .build()
        .unwrap_err();
    assert_eq!(e.field, "rate");
    let e = RateLimiter::builder("c")
        .rate(Rate::new(1, Duration::ZERO))
        .build()
        .unwrap_err();
    assert_eq!(e.field, "rate");
    let e = RateLimiter::builder("c")
        .rate(Rate::per_second(1))
        .burst(0)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "burst");
    let e = KeyedRateLimiter::builder("c")
        .rate(Rate::per_second(1))
        .max_keys(0)
        .build()
        .unwrap_err();
    assert_eq!(e.field, "max_keys");
    let ok = RateLimiter::builder("c")
        .rate(Rate::per_second(1_000_000_000))
        .burst(u32::MAX)
        .max_wait(Duration::MAX)
        .build()
        .unwrap();
    assert_eq!(ok.burst(), u32::MAX);
}

#[test]
fn register_clamped_never_fails_and_clamps() {
    let l = RateLimiter::builder("r-clamp")
        .rate(Rate::new(0, Duration::ZERO))
        .burst(0)
        .register_clamped();
    assert_eq!(
        (l.rate(), l.burst()),
        (Rate::new(1, Duration::from_nanos(1)), 1)
    );
    let fast = RateLimiter::builder("r-clamp-fast")
        .rate(Rate::new(u32::MAX, Duration::from_nanos(10)))
        .register_clamped();
    assert_eq!(fast.rate(), Rate::new(10, Duration::from_nanos(10)));
    let none = RateLimiter::builder("r-clamp-none").register_clamped();
    assert_eq!(none.rate(), Rate::per_second(1));
    let keyed = KeyedRateLimiter::builder("r-clamp-keyed")
        .rate(Rate::per_second(1))
        .max_keys(0)
        .register_clamped();
    assert_eq!(keyed.max_keys(), 1);
}

#[test]
fn rates_parse_and_display() {
    assert_eq!("100/s".parse(), Ok(Rate::per_second(100)));
    assert_eq!(" 5 / min ".parse(), Ok(Rate::per_minute(5)));
    assert_eq!("7/m".parse(), Ok(Rate::per_minute(7)));
    assert_eq!("1000/h".parse(), Ok(Rate::per_hour(1000)));
    assert_eq!("3/ms".parse(), Ok(Rate::new(3, ms(1))));
    for bad in ["100", "x/s", "100/fortnight", "0/s", "-1/s"] {
        assert!(bad.parse::<Rate>().is_err(), "{bad}");
    }
    let e = "100/fortnight".parse::<Rate>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid rate_limit configuration: `rate` unknown unit `fortnight` in \
         `100/fortnight`: use ms, s, min or h"
    );
    assert_eq!(Rate::per_second(100).to_string(), "100/s");
    assert_eq!(Rate::per_hour(1).to_string(), "1/h");
    assert_eq!(Rate::new(3, ms(10)).to_string(), "3 per 10ms");
}

#[tokio::test(start_paused = true)]
async fn keyed_limits_each_key_on_its_own() {
    let l = KeyedRateLimiter::builder("r-keyed")
        .rate(Rate::per_second(10))
        .burst(2)
        .build()
        .unwrap();
    assert_eq!(l.max_keys(), DEFAULT_MAX_KEYS);
    for _ in 0..2 {
        l.check(&"alice").unwrap();
    }
    assert_eq!(retry_after(l.check(&"alice")), ms(100));
    l.check(&"bob").unwrap();
    assert_eq!(l.available(&"bob"), 1);
    assert_eq!(l.available(&"carol"), 2, "a new key has the full burst");
    assert_eq!(l.keys(), 2);
    // Keys of another type are other keys.
    l.check(&String::from("alice")).unwrap();
    assert_eq!(l.keys(), 3);

    let r = l.call("alice", async { Ok::<_, Rejection>(()) }).await;
    assert!(matches!(r, Err(Rejection::RateLimited { .. })));
    advance(ms(100)).await;
    l.call("alice", async { Ok::<_, Rejection>(()) })
        .await
        .unwrap();
    assert_eq!(l.call_blocking("dave", || Ok::<_, Rejection>(4)), Ok(4));
}

#[tokio::test(start_paused = true)]
async fn keyed_waits_per_key() {
    let l = KeyedRateLimiter::builder("r-keyed-wait")
        .rate(Rate::per_second(10))
        .burst(1)
        .max_wait(ms(150))
        .build()
        .unwrap();
    let start = Instant::now();
    l.call(1u8, async { Ok::<_, Rejection>(()) }).await.unwrap();
    l.call(1u8, async { Ok::<_, Rejection>(()) }).await.unwrap();
    assert_eq!(start.elapsed(), ms(100));
    l.call(2u8, async { Ok::<_, Rejection>(()) }).await.unwrap();
    assert_eq!(start.elapsed(), ms(100), "another key does not wait");
}

#[tokio::test(start_paused = true)]
async fn keyed_forgets_the_least_recently_used_key() {
    let l = KeyedRateLimiter::builder("r-keyed-lru")
        .rate(Rate::per_hour(1))
        .max_keys(2)
        .build()
        .unwrap();
    l.check(&1).unwrap();
    l.check(&2).unwrap();
    assert!(l.check(&1).is_err()); // uses key 1: key 2 is now the oldest
    l.check(&3).unwrap(); // evicts key 2
    assert_eq!(l.keys(), 2);
    assert!(l.check(&1).is_err(), "key 1 was kept");
    assert!(l.check(&3).is_err(), "key 3 is held");
    l.check(&2).unwrap(); // key 2 was forgotten: a full burst again
}

#[tokio::test(start_paused = true)]
async fn keyed_names_are_shared() {
    let a = KeyedRateLimiter::builder("r-keyed-shared")
        .rate(Rate::per_second(1))
        .register()
        .unwrap();
    let b = RateLimiter::builder("r-keyed-shared")
        .rate(Rate::per_second(9))
        .keyed()
        .max_keys(5)
        .register_clamped();
    assert!(a.ptr_eq(&b));
    assert!(
        registry::keyed_rate_limiter("r-keyed-shared")
            .unwrap()
            .ptr_eq(&a)
    );
    assert!(
        registry::keyed_rate_limiters()
            .iter()
            .any(|l| l.name() == "r-keyed-shared")
    );
}

#[test]
fn futures_are_send_and_limiters_clone_send_sync() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_clone_send_sync<T: Clone + Send + Sync + 'static>() {}
    assert_clone_send_sync::<RateLimiter>();
    assert_clone_send_sync::<KeyedRateLimiter>();
    let l = limiter("r-send", Rate::per_second(1), None, ms(1));
    assert_send(&l.call(async { Ok::<_, Rejection>(()) }));
    let k = KeyedRateLimiter::builder("r-send-keyed")
        .rate(Rate::per_second(1))
        .build()
        .unwrap();
    assert_send(&k.call(1u32, async { Ok::<_, Rejection>(()) }));
}

/// Two threads share one limiter that admits a known number of calls: together they
/// get exactly that many, no more and no fewer.
#[test]
fn stress_two_threads_share_the_budget_exactly() {
    // One call per hour with a burst of 10_000: exactly 10_000 calls fit.
    let l = limiter("r-stress", Rate::per_hour(1), Some(10_000), Duration::ZERO);
    let admitted = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (l, admitted) = (&l, &admitted);
            s.spawn(move || {
                for _ in 0..20_000 {
                    if l.check().is_ok() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.load(Ordering::Relaxed), 10_000);

    let keyed = KeyedRateLimiter::builder("r-stress-keyed")
        .rate(Rate::per_hour(1))
        .burst(1_000)
        .build()
        .unwrap();
    let admitted = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (keyed, admitted) = (&keyed, &admitted);
            s.spawn(move || {
                for i in 0..20_000u32 {
                    if keyed.check(&(i % 4)).is_ok() {
                        admitted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    assert_eq!(admitted.load(Ordering::Relaxed), 4 * 1_000);
}
