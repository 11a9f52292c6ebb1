//! Loom models of the breaker's concurrent transitions: every interleaving of the
//! real state machine's atomics and locks (built with `--cfg loom`).
//!
//! ```text
//! RUSTFLAGS="--cfg loom" cargo test -p resilience-runtime --test loom_circuit_breaker --release
//! ```
#![cfg(loom)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use loom::thread;
use resilience_runtime::circuit_breaker::{CircuitBreakerBuilder, Window};
use resilience_runtime::{CircuitBreaker, CircuitState};

/// A breaker that opens on one failure and whose open period is already over, so the
/// next call races to turn it half-open (no clock is involved in the decision).
fn builder(half_open_calls: u32) -> CircuitBreakerBuilder {
    CircuitBreaker::builder("loom")
        .window(Window::Count(1))
        .open_for(Duration::ZERO)
        .half_open_calls(half_open_calls)
}

/// Counts transitions into `to`.
fn counting(
    builder: CircuitBreakerBuilder,
    to: CircuitState,
) -> (CircuitBreaker, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    let b = builder
        .on_transition(move |t| {
            if t.to == to {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        })
        .build()
        .unwrap();
    (b, n)
}

fn open(b: &CircuitBreaker) {
    b.try_acquire().unwrap().record_failure();
}

#[test]
fn one_trial_permit_is_taken_once_and_the_open_to_half_open_race_has_one_winner() {
    loom::model(|| {
        let (b, half_opened) = counting(builder(1), CircuitState::HalfOpen);
        open(&b);
        let trials = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (b, trials) = (b.clone(), trials.clone());
                thread::spawn(move || {
                    if let Ok(permit) = b.try_acquire() {
                        if permit.is_trial() {
                            trials.fetch_add(1, Ordering::Relaxed);
                        }
                        permit.record_success();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(trials.load(Ordering::Relaxed), 1);
        assert_eq!(half_opened.load(Ordering::Relaxed), 1);
        assert_eq!(b.state(), CircuitState::Closed);
    });
}

#[test]
fn trials_decide_once_when_the_last_one_finishes() {
    loom::model(|| {
        let (b, reopened) = counting(builder(2), CircuitState::Open);
        open(&b);
        assert_eq!(reopened.load(Ordering::Relaxed), 1);
        let threads: Vec<_> = [true, false]
            .into_iter()
            .map(|fails| {
                let b = b.clone();
                thread::spawn(move || {
                    let permit = b.try_acquire().unwrap();
                    assert!(permit.is_trial());
                    if fails {
                        permit.record_failure()
                    } else {
                        permit.record_success()
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // 1 of 2 trials failed: 50% >= 50% re-opens, exactly once.
        assert_eq!(reopened.load(Ordering::Relaxed), 2);
    });
}

#[test]
fn a_cancelled_trial_gives_its_slot_back() {
    loom::model(|| {
        let b = builder(1).build().unwrap();
        open(&b);
        let other = {
            let b = b.clone();
            thread::spawn(move || {
                // Admitted or refused depending on the interleaving; then cancelled.
                drop(b.try_acquire());
            })
        };
        drop(b.try_acquire());
        other.join().unwrap();
        // Both were cancelled: the slot is free for a new trial.
        let permit = b.try_acquire().unwrap();
        assert!(permit.is_trial());
        permit.record_success();
        assert_eq!(b.state(), CircuitState::Closed);
    });
}

#[test]
fn racing_outcomes_keep_the_window_counts_right() {
    loom::model(|| {
        let b = CircuitBreaker::builder("loom-window")
            .window(Window::Count(2))
            .failure_rate(1.0)
            .build()
            .unwrap();
        let threads: Vec<_> = [true, false]
            .into_iter()
            .map(|fails| {
                let b = b.clone();
                thread::spawn(move || {
                    let permit = b.try_acquire().unwrap();
                    if fails {
                        permit.record_failure()
                    } else {
                        permit.record_success()
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let m = b.metrics();
        assert_eq!((m.calls, m.failures), (2, 1));
        assert_eq!(m.state, CircuitState::Closed);
    });
}

#[test]
fn a_record_racing_a_reset_never_corrupts_the_window() {
    loom::model(|| {
        let b = CircuitBreaker::builder("loom-reset")
            .window(Window::Count(2))
            .build()
            .unwrap();
        let before = b.try_acquire().unwrap();
        let late = b.try_acquire().unwrap();
        let resetter = {
            let b = b.clone();
            thread::spawn(move || b.reset())
        };
        before.record_failure();
        resetter.join().unwrap();
        // Admitted before the reset: never recorded after it.
        late.record_failure();
        let m = b.metrics();
        // The racing failure is either wiped by the reset or lands just after it.
        assert!(m.calls <= 1 && m.failures == m.calls, "{m:?}");
        assert_eq!(m.state, CircuitState::Closed);
    });
}

#[test]
fn a_trial_outcome_racing_force_open_leaves_it_forced_open() {
    loom::model(|| {
        let b = builder(1).build().unwrap();
        open(&b);
        let trial = b.try_acquire().unwrap();
        assert!(trial.is_trial());
        let forcer = {
            let b = b.clone();
            thread::spawn(move || b.force_open())
        };
        trial.record_failure();
        forcer.join().unwrap();
        assert_eq!(b.state(), CircuitState::ForcedOpen);
    });
}

#[test]
fn racing_failures_open_the_breaker_once() {
    loom::model(|| {
        let (b, opened) = counting(
            CircuitBreaker::builder("loom-trip")
                .window(Window::Count(2))
                .min_calls(1)
                .consecutive_failures(1),
            CircuitState::Open,
        );
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || {
                    if let Ok(permit) = b.try_acquire() {
                        permit.record_failure();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(opened.load(Ordering::Relaxed), 1);
        assert_eq!(b.metrics().state, CircuitState::Open);
    });
}

#[test]
fn a_trial_outcome_racing_transition_to_half_open_counts_only_for_its_trials() {
    loom::model(|| {
        let b = builder(1).build().unwrap();
        open(&b);
        let trial = b.try_acquire().unwrap();
        assert!(trial.is_trial());
        let mover = {
            let b = b.clone();
            thread::spawn(move || b.transition_to_half_open())
        };
        // Decides before the transition (re-opens), or arrives after it and counts
        // for nothing: either way fresh trials follow.
        trial.record_failure();
        mover.join().unwrap();
        assert_eq!(b.state(), CircuitState::HalfOpen);
        let fresh = b.try_acquire().unwrap();
        assert!(fresh.is_trial());
        fresh.record_success();
        assert_eq!(b.state(), CircuitState::Closed);
    });
}

#[test]
fn a_failure_racing_transition_to_metrics_only_never_leaves_it_open() {
    loom::model(|| {
        let b = CircuitBreaker::builder("loom-metrics-only")
            .window(Window::Count(1))
            .build()
            .unwrap();
        let permit = b.try_acquire().unwrap();
        let mover = {
            let b = b.clone();
            thread::spawn(move || b.transition_to_metrics_only())
        };
        // Opens the breaker before the transition, or is not recorded after it.
        permit.record_failure();
        mover.join().unwrap();
        assert_eq!(b.state(), CircuitState::MetricsOnly);
        b.try_acquire().unwrap().record_failure();
        let m = b.metrics();
        assert_eq!(
            (m.state, m.calls, m.failures),
            (CircuitState::MetricsOnly, 1, 1)
        );
    });
}
