//! Bulkhead behaviour: limits, waiting in line, cancellation, panics, names, metrics,
//! messages, shutdown, configuration. Time-based tests run on paused `tokio` time.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use resilience_runtime::bulkhead::{Adaptive, BulkheadMetrics, MAX_CONCURRENT, MAX_WAITING};
use resilience_runtime::{Bulkhead, Rejection, registry};
use tokio::sync::oneshot;
use tokio::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn fixed(name: &'static str, n: usize, max_wait: Duration) -> Bulkhead {
    Bulkhead::builder(name)
        .max_concurrent(n)
        .max_wait(max_wait)
        .build()
        .unwrap()
}

/// Lets every other task on the current-thread runtime run until it blocks.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// Holds a slot of `bh` in a task until the returned sender fires (or is dropped).
async fn hold(bh: &Bulkhead) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = oneshot::channel::<()>();
    let bh = bh.clone();
    let task = tokio::spawn(async move {
        let r: Result<(), Rejection> = bh
            .call(async move {
                let _ = rx.await;
                Ok(())
            })
            .await;
        r.unwrap();
    });
    settle().await;
    (tx, task)
}

fn metrics(bh: &Bulkhead) -> (usize, usize) {
    let m: BulkheadMetrics = bh.metrics();
    (m.in_flight, m.waiting)
}

#[tokio::test(start_paused = true)]
async fn runs_up_to_max_concurrent_then_refuses_at_once() {
    let bh = fixed("t-refuse", 2, Duration::ZERO);
    let (a, _ta) = hold(&bh).await;
    let (_b, _tb) = hold(&bh).await;
    assert_eq!(metrics(&bh), (2, 0));

    let ran = AtomicUsize::new(0);
    let start = Instant::now();
    let r: Result<(), Rejection> = bh
        .call(async {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await;
    assert_eq!(
        r,
        Err(Rejection::BulkheadFull {
            name: "t-refuse".into(),
            max_concurrent: 2
        })
    );
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "a refused call never runs its body"
    );
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "max_wait 0 refuses at once"
    );
    assert_eq!(bh.metrics().rejected, 1);

    a.send(()).unwrap();
    settle().await;
    assert_eq!(metrics(&bh), (1, 0));
    let r: Result<u8, Rejection> = bh.call(async { Ok(7) }).await;
    assert_eq!(r, Ok(7), "a finished call gives its slot back");
}

#[tokio::test(start_paused = true)]
async fn errors_of_the_body_pass_through_and_free_the_slot() {
    let bh = fixed("t-errors", 1, Duration::ZERO);
    #[derive(Debug, PartialEq)]
    enum E {
        Body,
        Rejected(Rejection),
    }
    impl From<Rejection> for E {
        fn from(r: Rejection) -> Self {
            E::Rejected(r)
        }
    }
    assert_eq!(bh.call(async { Err::<(), _>(E::Body) }).await, Err(E::Body));
    assert_eq!(metrics(&bh), (0, 0));
    let p = bh.try_acquire().unwrap();
    assert!(matches!(
        bh.call(async { Ok::<(), E>(()) }).await,
        Err(E::Rejected(Rejection::BulkheadFull { .. }))
    ));
    drop(p);
}

#[tokio::test(start_paused = true)]
async fn waits_up_to_max_wait_exactly() {
    let bh = fixed("t-wait", 1, ms(100));
    let (_a, _ta) = hold(&bh).await;
    let start = Instant::now();
    let r: Result<(), Rejection> = bh.call(async { Ok(()) }).await;
    assert!(matches!(r, Err(Rejection::BulkheadFull { .. })));
    assert_eq!(
        start.elapsed(),
        ms(100),
        "refused exactly when max_wait has passed"
    );
    assert_eq!(metrics(&bh), (1, 0), "the refused waiter left the line");
}

#[tokio::test(start_paused = true)]
async fn a_slot_freed_within_max_wait_admits_the_waiter() {
    let bh = fixed("t-wait-ok", 1, ms(100));
    let (a, _ta) = hold(&bh).await;
    tokio::spawn(async move {
        tokio::time::sleep(ms(99)).await;
        a.send(()).unwrap();
    });
    let start = Instant::now();
    let r: Result<Duration, Rejection> = bh.call(async { Ok(start.elapsed()) }).await;
    assert_eq!(r, Ok(ms(99)), "admitted as soon as the slot came free");
    assert_eq!(metrics(&bh), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_first_come_first_served() {
    let bh = fixed("t-fifo", 1, Duration::from_secs(10));
    let (a, _ta) = hold(&bh).await;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..5 {
        let (bh, order) = (bh.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            bh.call(async move {
                order.lock().unwrap().push(id);
                tokio::time::sleep(ms(10)).await;
                Ok::<_, Rejection>(())
            })
            .await
        }));
        settle().await;
    }
    assert_eq!(metrics(&bh), (1, 5));
    a.send(()).unwrap();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_newcomer_never_overtakes_a_waiter() {
    let bh = fixed("t-overtake", 1, Duration::from_secs(10));
    let p = bh.try_acquire().unwrap();
    let waiter = {
        let bh = bh.clone();
        tokio::spawn(async move { bh.call(async { Ok::<_, Rejection>(()) }).await })
    };
    settle().await;
    assert_eq!(metrics(&bh), (1, 1));
    drop(p);
    // The slot went straight to the waiter, which has not even run yet.
    assert_eq!(metrics(&bh), (1, 0));
    assert!(matches!(
        bh.try_acquire(),
        Err(Rejection::BulkheadFull { .. })
    ));
    waiter.await.unwrap().unwrap();
    assert_eq!(metrics(&bh), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn max_waiting_caps_the_line() {
    let bh = Bulkhead::builder("t-cap")
        .max_concurrent(1)
        .max_wait(Duration::from_secs(10))
        .max_waiting(2)
        .build()
        .unwrap();
    assert_eq!(bh.max_waiting(), 2);
    let (_a, _ta) = hold(&bh).await;
    let mut waiters = Vec::new();
    for _ in 0..2 {
        let bh = bh.clone();
        waiters.push(tokio::spawn(async move {
            bh.call(async { Ok::<_, Rejection>(()) }).await
        }));
    }
    settle().await;
    assert_eq!(metrics(&bh), (1, 2));
    let start = Instant::now();
    let r = bh.call(async { Ok::<_, Rejection>(()) }).await;
    assert!(matches!(r, Err(Rejection::BulkheadFull { .. })));
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "a full line refuses at once"
    );
    assert_eq!(metrics(&bh), (1, 2));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_leaves_without_costing_anyone_their_turn() {
    let bh = fixed("t-cancel-waiter", 1, Duration::from_secs(10));
    let p = bh.try_acquire().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..3 {
        let (bh, order) = (bh.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            bh.call(async move {
                order.lock().unwrap().push(id);
                Ok::<_, Rejection>(())
            })
            .await
        }));
        settle().await;
    }
    assert_eq!(metrics(&bh), (1, 3));
    tasks[1].abort();
    settle().await;
    assert_eq!(metrics(&bh), (1, 2), "the cancelled waiter left the line");
    drop(p);
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await;
        if i == 1 {
            assert!(r.unwrap_err().is_cancelled());
        } else {
            r.unwrap().unwrap();
        }
    }
    assert_eq!(*order.lock().unwrap(), [0, 2]);
    assert_eq!(metrics(&bh), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_waiter_cancelled_just_after_being_handed_a_slot_passes_it_on() {
    let bh = fixed("t-cancel-granted", 1, Duration::from_secs(10));
    let p = bh.try_acquire().unwrap();
    let ran = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..2 {
        let (bh, ran) = (bh.clone(), ran.clone());
        tasks.push(tokio::spawn(async move {
            bh.call(async move {
                ran.lock().unwrap().push(id);
                Ok::<_, Rejection>(())
            })
            .await
        }));
        settle().await;
    }
    drop(p); // hands the slot to waiter 0 ...
    tasks[0].abort(); // ... which is cancelled before it could use it
    settle().await;
    assert_eq!(*ran.lock().unwrap(), [1]);
    assert_eq!(metrics(&bh), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_gives_its_slot_back() {
    let bh = fixed("t-cancel-holder", 1, Duration::ZERO);
    let r = tokio::time::timeout(
        ms(10),
        bh.call(async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, Rejection>(())
        }),
    )
    .await;
    assert!(r.is_err(), "the timeout cancelled the call");
    assert_eq!(metrics(&bh), (0, 0));
    assert!(bh.try_acquire().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_holder_hands_its_slot_to_the_first_waiter() {
    let bh = fixed("t-cancel-holder-wait", 1, Duration::from_secs(10));
    let holder = {
        let bh = bh.clone();
        tokio::spawn(async move {
            bh.call(std::future::pending::<Result<(), Rejection>>())
                .await
        })
    };
    settle().await;
    let waiter = {
        let bh = bh.clone();
        tokio::spawn(async move { bh.call(async { Ok::<_, Rejection>(5) }).await })
    };
    settle().await;
    assert_eq!(metrics(&bh), (1, 1));
    holder.abort();
    assert_eq!(waiter.await.unwrap(), Ok(5));
    assert_eq!(metrics(&bh), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_call_gives_its_slot_back() {
    let bh = fixed("t-panic", 1, Duration::from_secs(10));
    let waiter_bh = bh.clone();
    let panicker = {
        let bh = bh.clone();
        tokio::spawn(async move {
            bh.call(async {
                tokio::time::sleep(ms(5)).await;
                panic!("boom");
                #[allow(unreachable_code)]
                Ok::<(), Rejection>(())
            })
            .await
        })
    };
    settle().await;
    let waiter = tokio::spawn(async move { waiter_bh.call(async { Ok::<_, Rejection>(1) }).await });
    assert!(panicker.await.unwrap_err().is_panic());
    assert_eq!(waiter.await.unwrap(), Ok(1), "the slot went to the waiter");
    assert_eq!(metrics(&bh), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_call_panicking_in_its_first_poll_gives_its_slot_back_and_counts_as_failed() {
    let bh = Bulkhead::builder("t-panic-first-poll")
        .max_concurrent(1)
        .register()
        .unwrap();
    let panicker = {
        let bh = bh.clone();
        tokio::spawn(async move {
            bh.call(async {
                panic!("boom");
                #[allow(unreachable_code)]
                Ok::<(), Rejection>(())
            })
            .await
        })
    };
    assert!(panicker.await.unwrap_err().is_panic());
    assert_eq!(metrics(&bh), (0, 0));
    assert_eq!(
        bh.call(async { Ok::<_, Rejection>(1) }).await,
        Ok(1),
        "the slot is free"
    );
    let snapshot = registry::snapshot()
        .into_iter()
        .find(|s| s.name == "t-panic-first-poll")
        .unwrap();
    assert_eq!((snapshot.failures, snapshot.successes), (1, 1));
}

#[test]
fn a_panicking_blocking_call_gives_its_slot_back() {
    let bh = fixed("t-panic-blocking", 1, Duration::ZERO);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _: Result<(), Rejection> = bh.call_blocking(|| panic!("boom"));
    }));
    assert!(caught.is_err());
    assert_eq!(metrics(&bh), (0, 0));
    assert_eq!(bh.call_blocking(|| Ok::<_, Rejection>(3)), Ok(3));
}

#[tokio::test(start_paused = true)]
async fn acquire_and_try_acquire_hand_out_permits() {
    let bh = fixed("t-permits", 2, ms(50));
    let a = bh.acquire().await.unwrap();
    let b = bh.try_acquire().unwrap();
    assert_eq!(a.name(), "t-permits");
    assert!(bh.try_acquire().is_err());
    let start = Instant::now();
    assert!(bh.acquire().await.is_err());
    assert_eq!(start.elapsed(), ms(50));
    drop(a);
    let c = bh.acquire().await.unwrap();
    assert_eq!(metrics(&bh), (2, 0));
    drop((b, c));
    assert_eq!(metrics(&bh), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn max_wait_max_waits_without_a_timer() {
    let bh = fixed("t-forever", 1, Duration::MAX);
    let p = bh.try_acquire().unwrap();
    let waiter = {
        let bh = bh.clone();
        tokio::spawn(async move { bh.call(async { Ok::<_, Rejection>(()) }).await })
    };
    tokio::time::sleep(Duration::from_secs(365 * 24 * 3600)).await;
    assert_eq!(metrics(&bh), (1, 1), "still waiting after a year");
    drop(p);
    waiter.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn names_are_shared_and_the_first_configuration_wins() {
    let first = Bulkhead::builder("t-shared")
        .max_concurrent(1)
        .register()
        .unwrap();
    let second = Bulkhead::builder("t-shared")
        .max_concurrent(5)
        .register()
        .unwrap();
    assert!(first.ptr_eq(&second));
    assert_eq!(second.limit(), 1);
    let p = first.try_acquire().unwrap();
    assert!(second.try_acquire().is_err(), "one set of slots for both");
    drop(p);

    let other = Bulkhead::builder("t-shared-other")
        .max_concurrent(1)
        .register_clamped();
    assert!(!other.ptr_eq(&first));

    let looked_up = registry::bulkhead("t-shared").unwrap();
    assert!(looked_up.ptr_eq(&first));
    assert!(registry::bulkhead("t-never-registered").is_none());
    let names: Vec<String> = registry::bulkheads()
        .iter()
        .map(|b| b.name().to_owned())
        .collect();
    assert!(names.contains(&"t-shared".to_owned()));
    assert!(names.contains(&"t-shared-other".to_owned()));
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "sorted by name");
}

#[tokio::test(start_paused = true)]
async fn metrics_count_running_waiting_and_refused() {
    let bh = Bulkhead::builder("t-metrics")
        .max_concurrent(2)
        .max_wait(ms(100))
        .max_waiting(1)
        .build()
        .unwrap();
    let (a, _ta) = hold(&bh).await;
    let (_b, _tb) = hold(&bh).await;
    let waiter = {
        let bh = bh.clone();
        tokio::spawn(async move { bh.call(async { Ok::<_, Rejection>(()) }).await })
    };
    settle().await;
    let m = bh.metrics();
    assert_eq!((m.in_flight, m.waiting, m.limit, m.rejected), (2, 1, 2, 0));
    assert!(bh.call(async { Ok::<_, Rejection>(()) }).await.is_err());
    assert!(bh.try_acquire().is_err());
    assert_eq!(bh.metrics().rejected, 2);
    a.send(()).unwrap();
    waiter.await.unwrap().unwrap();
    let m = bh.metrics();
    assert_eq!(
        (m.in_flight, m.waiting, m.rejected, m.closed),
        (1, 0, 2, false)
    );
}

#[tokio::test(start_paused = true)]
async fn rejection_messages_are_diagnoses() {
    // Not registered: no detail beyond the limit.
    let plain = fixed("t-msg-plain", 1, Duration::ZERO);
    let _p = plain.try_acquire().unwrap();
    assert_eq!(
        plain.try_acquire().unwrap_err().to_string(),
        "bulkhead 't-msg-plain' is full: all 1 slots are taken; retry when a running call finishes"
    );

    let no_wait = Bulkhead::builder("t-msg-nowait")
        .max_concurrent(2)
        .register()
        .unwrap();
    let _held = (
        no_wait.try_acquire().unwrap(),
        no_wait.try_acquire().unwrap(),
    );
    let r = no_wait.call(async { Ok::<(), Rejection>(()) }).await;
    assert_eq!(
        r.unwrap_err().to_string(),
        "bulkhead 't-msg-nowait' is full: 2 of 2 calls running, 0 waiting; \
         calls do not wait (max_wait 0s); retry when a running call finishes"
    );

    let waits = Bulkhead::builder("t-msg-wait")
        .max_concurrent(1)
        .max_wait(ms(250))
        .max_waiting(1)
        .register()
        .unwrap();
    let _p = waits.try_acquire().unwrap();
    let r = waits.call(async { Ok::<(), Rejection>(()) }).await;
    assert_eq!(
        r.unwrap_err().to_string(),
        "bulkhead 't-msg-wait' is full: 1 of 1 calls running, 0 waiting; \
         no slot came free within 250ms; retry when a running call finishes"
    );
    let waiter = {
        let waits = waits.clone();
        tokio::spawn(async move { waits.call(async { Ok::<(), Rejection>(()) }).await })
    };
    settle().await;
    let r = waits.call(async { Ok::<(), Rejection>(()) }).await;
    assert_eq!(
        r.unwrap_err().to_string(),
        "bulkhead 't-msg-wait' is full: 1 of 1 calls running, 1 waiting; \
         the wait line is full (max_waiting 1), so it did not wait; \
         retry when a running call finishes"
    );
    waiter.abort();

    let adaptive = Bulkhead::builder("t-msg-adaptive")
        .adaptive(Adaptive::new(1, 1, 10))
        .register()
        .unwrap();
    let _p = adaptive.try_acquire().unwrap();
    assert_eq!(
        adaptive.try_acquire().unwrap_err().to_string(),
        "bulkhead 't-msg-adaptive' is full: 1 of 1 calls running, 0 waiting \
         (adaptive limit, now 1, within 1..=10); calls do not wait (max_wait 0s); \
         retry when a running call finishes"
    );
}

#[tokio::test(start_paused = true)]
async fn close_refuses_new_calls_sends_waiters_away_and_lets_running_calls_finish() {
    let bh = fixed("t-close", 1, Duration::from_secs(10));
    let (a, ta) = hold(&bh).await;
    let waiter = {
        let bh = bh.clone();
        tokio::spawn(async move { bh.call(async { Ok::<_, Rejection>(()) }).await })
    };
    settle().await;
    assert!(bh.close());
    assert!(!bh.close(), "already closed");
    assert!(bh.is_closed());
    let shutting_down = Rejection::ShuttingDown {
        name: "t-close".into(),
    };
    assert_eq!(waiter.await.unwrap(), Err(shutting_down.clone()));
    assert_eq!(
        bh.call(async { Ok::<_, Rejection>(()) }).await,
        Err(shutting_down.clone())
    );
    assert_eq!(bh.try_acquire().unwrap_err(), shutting_down);
    assert_eq!(metrics(&bh), (1, 0), "the running call keeps its slot");
    a.send(()).unwrap();
    ta.await.unwrap();
    assert_eq!(metrics(&bh), (0, 0));
    assert!(bh.metrics().closed);
    assert_eq!(
        bh.metrics().rejected,
        0,
        "shutdown refusals are not BulkheadFull"
    );
}

#[test]
fn build_checks_every_setting() {
    let err = |b: resilience_runtime::bulkhead::BulkheadBuilder| b.build().unwrap_err();
    let e = err(Bulkhead::builder("c"));
    assert_eq!((e.policy, e.field), ("bulkhead", "max_concurrent"));
    assert_eq!(
        e.to_string(),
        "invalid bulkhead configuration: `max_concurrent` has no default: set \
         `max_concurrent(n)` or `adaptive(Adaptive::new(initial, min, max))`"
    );
    assert_eq!(
        err(Bulkhead::builder("c").max_concurrent(0)).field,
        "max_concurrent"
    );
    assert_eq!(
        err(Bulkhead::builder("c").max_concurrent(MAX_CONCURRENT + 1)).field,
        "max_concurrent"
    );
    for bad in [
        Adaptive::new(1, 0, 10),
        Adaptive::new(0, 1, 10),
        Adaptive::new(11, 1, 10),
        Adaptive::new(5, 6, 10),
        Adaptive::new(5, 1, MAX_CONCURRENT + 1),
    ] {
        assert_eq!(
            err(Bulkhead::builder("c").adaptive(bad)).field,
            "adaptive",
            "{bad:?}"
        );
    }
    assert_eq!(
        err(Bulkhead::builder("c")
            .max_concurrent(1)
            .max_waiting(MAX_WAITING + 1))
        .field,
        "max_waiting"
    );
    // The last of max_concurrent / adaptive wins.
    let b = Bulkhead::builder("c")
        .adaptive(Adaptive::new(5, 1, 10))
        .max_concurrent(3)
        .build()
        .unwrap();
    assert_eq!((b.limit(), b.adaptive()), (3, None));
    let ok = Bulkhead::builder("c")
        .max_concurrent(MAX_CONCURRENT)
        .max_waiting(0)
        .build()
        .unwrap();
    assert_eq!(ok.limit(), MAX_CONCURRENT);
    assert_eq!(ok.max_wait(), Duration::ZERO);
}

#[test]
fn register_clamped_never_fails_and_clamps() {
    let zero = Bulkhead::builder("t-clamp-zero")
        .max_concurrent(0)
        .register_clamped();
    assert_eq!(zero.limit(), 1);
    let none = Bulkhead::builder("t-clamp-none").register_clamped();
    assert_eq!(none.limit(), 1);
    let huge = Bulkhead::builder("t-clamp-huge")
        .max_concurrent(usize::MAX)
        .max_waiting(usize::MAX)
        .register_clamped();
    assert_eq!(
        (huge.limit(), huge.max_waiting()),
        (MAX_CONCURRENT, MAX_WAITING)
    );
    let adaptive = Bulkhead::builder("t-clamp-adaptive")
        .adaptive(Adaptive::new(500, 0, 200))
        .register_clamped();
    let a = adaptive.adaptive().unwrap();
    assert_eq!((a.initial(), a.min(), a.max()), (200, 1, 200));
    assert_eq!(adaptive.limit(), 200);
    let inverted = Bulkhead::builder("t-clamp-inverted")
        .adaptive(Adaptive::new(0, 10, 5))
        .register_clamped();
    let a = inverted.adaptive().unwrap();
    assert_eq!((a.initial(), a.min(), a.max()), (10, 10, 10));
}

#[test]
fn call_blocking_refuses_at_once_without_max_wait() {
    let bh = fixed("t-blocking", 1, Duration::ZERO);
    let _p = bh.try_acquire().unwrap();
    let r: Result<(), Rejection> = bh.call_blocking(|| Ok(()));
    assert!(matches!(r, Err(Rejection::BulkheadFull { .. })));
}

#[test]
fn call_blocking_waits_in_line_for_a_slot() {
    let bh = &fixed("t-blocking-wait", 1, Duration::from_secs(30));
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (entered, has_entered) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let holder = s.spawn(move || {
            bh.call_blocking(|| {
                entered.send(()).unwrap();
                released.recv().unwrap();
                Ok::<_, Rejection>(())
            })
        });
        has_entered.recv().unwrap();
        let waiter = s.spawn(move || bh.call_blocking(|| Ok::<_, Rejection>(9)));
        while bh.metrics().waiting == 0 {
            std::thread::yield_now();
        }
        release.send(()).unwrap();
        assert_eq!(holder.join().unwrap(), Ok(()));
        assert_eq!(waiter.join().unwrap(), Ok(9));
    });
    assert_eq!(metrics(bh), (0, 0));
}

#[test]
fn call_blocking_gives_up_after_max_wait() {
    let bh = fixed("t-blocking-timeout", 1, ms(5));
    let _p = bh.try_acquire().unwrap();
    let start = std::time::Instant::now();
    let r: Result<(), Rejection> = bh.call_blocking(|| Ok(()));
    assert!(matches!(r, Err(Rejection::BulkheadFull { .. })));
    assert!(start.elapsed() >= ms(5));
    assert_eq!(metrics(&bh), (1, 0));
}

#[test]
fn the_call_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let bh = fixed("t-send", 1, ms(1));
    let fut = bh.call(async { Ok::<_, Rejection>(()) });
    assert_send(&fut);
    fn assert_clone_send_sync<T: Clone + Send + Sync + 'static>() {}
    assert_clone_send_sync::<Bulkhead>();
}

/// Polls `fut` once with a waker that does nothing, then drops it: enters the line (or
/// takes a slot) and leaves again.
fn poll_once_and_drop<F: Future>(fut: F) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn stress_two_threads_neither_lose_nor_create_slots() {
    const LIMIT: usize = 2;
    let bh = fixed("t-stress", LIMIT, Duration::MAX);
    let running = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    let body = || {
        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        assert!(now <= LIMIT, "{now} calls ran at once");
        std::hint::spin_loop();
        running.fetch_sub(1, Ordering::SeqCst);
    };
    std::thread::scope(|s| {
        for t in 0..2 {
            let (bh, body) = (&bh, &body);
            s.spawn(move || {
                for i in 0..20_000u32 {
                    match (i + t) % 4 {
                        // Fast path or a blocking wait in line.
                        0 | 1 => bh
                            .call_blocking(|| {
                                body();
                                Ok::<_, Rejection>(())
                            })
                            .unwrap(),
                        // Never waits.
                        2 => {
                            if let Ok(p) = bh.try_acquire() {
                                body();
                                drop(p);
                            }
                        }
                        // Enters the line (or takes a slot) and is cancelled at once.
                        _ => {
                            let _ = poll_once_and_drop(bh.call(async {
                                body();
                                Ok::<_, Rejection>(())
                            }));
                        }
                    }
                }
            });
        }
    });
    assert_eq!(metrics(&bh), (0, 0));
    assert!(peak.load(Ordering::SeqCst) <= LIMIT);
    // Exactly LIMIT slots remain.
    let held: Vec<_> = (0..LIMIT).map(|_| bh.try_acquire().unwrap()).collect();
    assert!(bh.try_acquire().is_err());
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stress_two_worker_threads_with_waiting_and_cancellation() {
    const LIMIT: usize = 3;
    let bh = fixed("t-stress-async", LIMIT, Duration::MAX);
    let running = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for t in 0..16 {
        let (bh, running) = (bh.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..300u32 {
                let running = &running;
                let call = bh.call(async move {
                    // Counts down even when the call is cancelled inside the body.
                    struct Running<'a>(&'a AtomicUsize);
                    impl Drop for Running<'_> {
                        fn drop(&mut self) {
                            self.0.fetch_sub(1, Ordering::SeqCst);
                        }
                    }
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    let _running = Running(running);
                    assert!(now <= LIMIT, "{now} calls ran at once");
                    tokio::task::yield_now().await;
                    Ok::<_, Rejection>(())
                });
                if (i + t) % 5 == 0 {
                    let _ = poll_once_and_drop(call);
                } else {
                    call.await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(metrics(&bh), (0, 0));
    let held: Vec<_> = (0..LIMIT).map(|_| bh.try_acquire().unwrap()).collect();
    assert!(bh.try_acquire().is_err());
    drop(held);
}
