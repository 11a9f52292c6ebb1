//! Breaker health probes (`#[circuit_breaker(probe = ...)]`, `CircuitBreakerBuilder::probe`)
//! under paused tokio time: a healthy probe brings the breaker back in one interval, an
//! unhealthy one leaves `open_for` in charge, a slow one counts as unhealthy, no probe
//! runs in other states, and no task is left behind (counted with tokio's metrics).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resilience_runtime::events::{self, EventKind};
use resilience_runtime::{CircuitBreaker, CircuitState, Rejection, circuit_breaker, registry};
use tokio::time::{Instant, sleep};

const MS: Duration = Duration::from_millis(1);

#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("backend down")]
    Down,
    #[error(transparent)]
    Rejected(#[from] Rejection),
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// Lets woken tasks run (and end).
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

/// Probe answers, with when they came.
type Answers = Arc<Mutex<Vec<(Instant, bool)>>>;

/// The probe events of the breaker `name`, with when they happened.
fn probes_of(name: &'static str) -> (events::Subscription, Answers) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let subscription = events::subscribe(move |event| {
        if event.name == name {
            if let EventKind::Probe { healthy } = event.kind {
                sink.lock().unwrap().push((event.at, healthy));
            }
        }
    });
    (subscription, seen)
}

static HEALED: AtomicBool = AtomicBool::new(false);
static HEALED_CALLS: AtomicU32 = AtomicU32::new(0);

async fn healed_backend_is_healthy() -> bool {
    HEALED.load(Ordering::SeqCst)
}

#[circuit_breaker(
    name = "probe-heals",
    consecutive_failures = 2,
    half_open_calls = 1,
    open_for = "60s",
    probe = healed_backend_is_healthy,
    probe_every = "1s"
)]
async fn healed() -> Result<(), ApiError> {
    HEALED_CALLS.fetch_add(1, Ordering::SeqCst);
    if HEALED.load(Ordering::SeqCst) {
        Ok(())
    } else {
        Err(ApiError::Down)
    }
}

#[tokio::test(start_paused = true)]
async fn a_healthy_probe_brings_the_breaker_back_in_one_interval() {
    let (_subscription, probes) = probes_of("probe-heals");
    let baseline = alive_tasks();
    for _ in 0..2 {
        assert!(matches!(healed().await, Err(ApiError::Down)));
    }
    let breaker = registry::circuit_breaker("probe-heals").unwrap();
    assert_eq!(breaker.state(), CircuitState::Open);
    let opened = Instant::now();
    assert_eq!(alive_tasks(), baseline + 1, "the probe task");
    // Unhealthy at the first probe (1s), healthy by the second (2s).
    sleep(MS * 1500).await;
    assert_eq!(breaker.state(), CircuitState::Open);
    HEALED.store(true, Ordering::SeqCst);
    sleep(MS * 500).await;
    settle().await;
    assert_eq!(
        breaker.state(),
        CircuitState::HalfOpen,
        "at once, not after open_for (60s)"
    );
    assert_eq!(
        probes.lock().unwrap().clone(),
        [
            (opened + Duration::from_secs(1), false),
            (opened + Duration::from_secs(2), true)
        ]
    );
    assert_eq!(alive_tasks(), baseline, "the probe task ended");
    // The trial decides as usual: the backend is back, the breaker closes.
    let calls = HEALED_CALLS.load(Ordering::SeqCst);
    healed().await.unwrap();
    assert_eq!(
        HEALED_CALLS.load(Ordering::SeqCst),
        calls + 1,
        "no real call was sacrificed before"
    );
    assert_eq!(breaker.state(), CircuitState::Closed);
    sleep(Duration::from_secs(10)).await;
    assert_eq!(probes.lock().unwrap().len(), 2, "no probe while closed");
}

static SICK_PROBES: AtomicU32 = AtomicU32::new(0);

async fn always_sick() -> bool {
    SICK_PROBES.fetch_add(1, Ordering::SeqCst);
    false
}

#[circuit_breaker(
    name = "probe-sick",
    consecutive_failures = 1,
    half_open_calls = 1,
    open_for = "5s",
    probe = always_sick,
    probe_every = "1s"
)]
async fn sick() -> Result<(), ApiError> {
    Err(ApiError::Down)
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_probe_leaves_open_for_in_charge() {
    let (_subscription, probes) = probes_of("probe-sick");
    let baseline = alive_tasks();
    assert!(matches!(sick().await, Err(ApiError::Down)));
    let opened = Instant::now();
    let breaker = registry::circuit_breaker("probe-sick").unwrap();
    sleep(MS * 4500).await;
    assert_eq!(breaker.state(), CircuitState::Open);
    sleep(MS * 500).await;
    settle().await;
    // open_for ended the open period at 5s; the probes at 1, 2, 3 and 4s answered no.
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    let seen = probes.lock().unwrap().clone();
    let expected: Vec<_> = (1..=4)
        .map(|s| (opened + Duration::from_secs(s), false))
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(SICK_PROBES.load(Ordering::SeqCst), 4);
    assert_eq!(alive_tasks(), baseline, "no probe task in half-open");
    // Re-opened by the failing trial: probing starts again.
    assert!(matches!(sick().await, Err(ApiError::Down)));
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(alive_tasks(), baseline + 1);
    sleep(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(SICK_PROBES.load(Ordering::SeqCst), 5);
    breaker.reset();
    settle().await;
    assert_eq!(
        alive_tasks(),
        baseline,
        "it stops as soon as the breaker leaves Open"
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_probe_counts_as_unhealthy() {
    let (_subscription, probes) = probes_of("probe-slow");
    let baseline = alive_tasks();
    let breaker = CircuitBreaker::builder("probe-slow")
        .open_for(Duration::from_secs(60))
        .probe(
            || async {
                sleep(Duration::from_secs(3)).await;
                true
            },
            Duration::from_secs(1),
        )
        .probe_timeout(MS * 500)
        .build()
        .unwrap();
    let opened = Instant::now();
    breaker.transition_to_open();
    sleep(Duration::from_secs(4)).await;
    settle().await;
    assert_eq!(breaker.state(), CircuitState::Open, "never healthy in time");
    // One at a time: each gives up after 500ms, at 1.5s, 2.5s and 3.5s.
    assert_eq!(
        probes.lock().unwrap().clone(),
        [
            (opened + MS * 1500, false),
            (opened + MS * 2500, false),
            (opened + MS * 3500, false),
        ]
    );
    drop(breaker);
    settle().await;
    assert_eq!(alive_tasks(), baseline, "a dropped breaker leaves no task");
}

#[tokio::test(start_paused = true)]
async fn no_probe_runs_in_other_states_and_no_task_is_left_behind() {
    let (_subscription, probes) = probes_of("probe-states");
    let baseline = alive_tasks();
    let probed = Arc::new(AtomicU32::new(0));
    let counted = probed.clone();
    let breaker = CircuitBreaker::builder("probe-states")
        .open_for(Duration::from_secs(60))
        .probe(
            move || {
                counted.fetch_add(1, Ordering::SeqCst);
                async { false }
            },
            Duration::from_secs(1),
        )
        .build()
        .unwrap();
    // Closed, forced open, disabled, half-open, metrics-only: no task, no probe.
    for set in [
        CircuitBreaker::force_open as fn(&CircuitBreaker),
        CircuitBreaker::disable,
        CircuitBreaker::transition_to_half_open,
        CircuitBreaker::transition_to_metrics_only,
        CircuitBreaker::reset,
    ] {
        set(&breaker);
        assert_eq!(alive_tasks(), baseline);
        sleep(Duration::from_secs(5)).await;
    }
    assert_eq!(probed.load(Ordering::SeqCst), 0);
    assert!(probes.lock().unwrap().is_empty());
    // Open: probing; each way out of Open ends the task at once.
    for leave in [
        CircuitBreaker::transition_to_closed as fn(&CircuitBreaker),
        CircuitBreaker::force_open,
        CircuitBreaker::transition_to_half_open,
        CircuitBreaker::disable,
    ] {
        breaker.transition_to_open();
        assert_eq!(alive_tasks(), baseline + 1, "one probe task");
        breaker.transition_to_open(); // opening again starts no second task
        assert_eq!(alive_tasks(), baseline + 1, "one at a time");
        sleep(MS * 1500).await;
        let before = probed.load(Ordering::SeqCst);
        leave(&breaker);
        settle().await;
        assert_eq!(
            alive_tasks(),
            baseline,
            "the task ended with the open state"
        );
        sleep(Duration::from_secs(5)).await;
        assert_eq!(
            probed.load(Ordering::SeqCst),
            before,
            "no probe after leaving Open"
        );
    }
}

#[test]
fn the_probe_runs_on_the_runtime_of_the_call_that_opened_the_breaker() {
    let paused = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap()
    };
    let (maker, opener) = (paused(), paused());
    let probed_on = Arc::new(Mutex::new(Vec::new()));
    let seen = probed_on.clone();
    // Built on one runtime...
    let breaker = maker.block_on(async {
        CircuitBreaker::builder("probe-runtime")
            .consecutive_failures(1)
            .open_for(Duration::from_secs(60))
            .probe(
                move || {
                    let seen = seen.clone();
                    async move {
                        seen.lock().unwrap().push(
                            tokio::runtime::Handle::current()
                                .metrics()
                                .num_alive_tasks(),
                        );
                        false
                    }
                },
                Duration::from_secs(1),
            )
            .build()
            .unwrap()
    });
    // ...opened by a call on another: the probe task is the opener's.
    opener.block_on(async {
        let failed: Result<(), ApiError> = breaker.call(async { Err(ApiError::Down) }).await;
        assert!(matches!(failed, Err(ApiError::Down)));
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(alive_tasks(), 1, "the probe task, on the opener's runtime");
        sleep(MS * 2500).await;
    });
    assert_eq!(maker.metrics().num_alive_tasks(), 0, "none on the maker's");
    assert_eq!(
        probed_on.lock().unwrap().clone(),
        [1, 1],
        "two probes, each run inside the opener's runtime (its one task)"
    );
    opener.block_on(async {
        breaker.transition_to_closed();
        settle().await;
        assert_eq!(alive_tasks(), 0, "the task ended with the open state");
    });
}
