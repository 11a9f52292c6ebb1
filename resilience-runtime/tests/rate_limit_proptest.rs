//! GCRA decisions against a reference model: the "continuous-state leaky bucket", the
//! other (equivalent) formulation of GCRA in ITU-T I.371, computed in wide integers.
//! Every step advances paused `tokio` time by an arbitrary number of nanoseconds, then
//! makes a call that may not wait (`check`) or one that may (`call` with `max_wait`).
//! The weighted property does the same with calls of any cost (`check_n`,
//! `acquire_n`), including 0 and costs above the burst.

use std::time::Duration;

use proptest::prelude::*;
use resilience_runtime::Rejection;
use resilience_runtime::rate_limit::{Rate, RateLimiter};
use tokio::time::Instant;

/// The leaky bucket: `level` is how full it is (in nanoseconds of work) at `last`.
/// Each call pours in `interval`; the bucket holds `limit = interval × (burst − 1)` on
/// top of the call being made.
struct Bucket {
    interval: i128,
    limit: i128,
    level: i128,
    last: i128,
}

impl Bucket {
    /// `Ok(wait)` if the call is admitted after `wait` (within `max_wait`), else
    /// `Err(retry_after)`.
    fn call(&mut self, now: i128, max_wait: i128) -> Result<i128, i128> {
        let level = (self.level - (now - self.last)).max(0);
        let wait = (level - self.limit).max(0);
        if wait > max_wait {
            return Err(wait);
        }
        self.level = level + self.interval;
        self.last = now;
        Ok(wait)
    }

    /// A call of cost `n`: it pours in `n × interval`, and may start once all but the
    /// last `interval` of it fit under the limit. `None`: a cost above the burst, which
    /// can never fit (refused with `Duration::MAX`, the bucket unchanged).
    fn call_n(
        &mut self,
        now: i128,
        max_wait: i128,
        n: u32,
        burst: u32,
    ) -> Option<Result<i128, i128>> {
        if n > burst {
            return None;
        }
        if n == 0 {
            return Some(Ok(0));
        }
        let n = i128::from(n);
        let level = (self.level - (now - self.last)).max(0);
        let wait = (level + (n - 1) * self.interval - self.limit).max(0);
        if wait > max_wait {
            return Some(Err(wait));
        }
        self.level = level + n * self.interval;
        self.last = now;
        Some(Ok(wait))
    }
}

#[derive(Debug, Clone)]
enum Step {
    Check { after_ns: u64 },
    Call { after_ns: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    let after = prop_oneof![
        Just(0u64),
        0u64..1_000,
        0u64..50_000_000,
        0u64..2_000_000_000,
    ];
    (after, prop::bool::weighted(0.8)).prop_map(|(after_ns, check)| {
        if check {
            Step::Check { after_ns }
        } else {
            Step::Call { after_ns }
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn gcra_matches_the_leaky_bucket(
        count in 1u32..1_000,
        per_ms in prop_oneof![Just(1u64), Just(1_000), 1u64..100_000],
        burst in 1u32..20,
        max_wait_ms in prop_oneof![Just(0u64), 0u64..500],
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let per = Duration::from_millis(per_ms);
            let max_wait = Duration::from_millis(max_wait_ms);
            let limiter = RateLimiter::builder("prop")
                .rate(Rate::new(count, per))
                .burst(burst)
                .max_wait(max_wait)
                .build()
                .unwrap();
            let epoch = Instant::now();
            let interval = (per.as_nanos() / u128::from(count)) as i128;
            let mut model = Bucket {
                interval,
                limit: interval * (i128::from(burst) - 1),
                level: 0,
                last: 0,
            };
            for step in steps {
                let (after_ns, may_wait) = match step {
                    Step::Check { after_ns } => (after_ns, false),
                    Step::Call { after_ns } => (after_ns, true),
                };
                tokio::time::advance(Duration::from_nanos(after_ns)).await;
                let start = Instant::now();
                let now = start.duration_since(epoch).as_nanos() as i128;
                if may_wait {
                    let expected = model.call(now, max_wait.as_nanos() as i128);
                    let got = limiter.call(async { Ok::<_, Rejection>(start.elapsed()) }).await;
                    match (expected, got) {
                        (Ok(wait), Ok(waited)) => {
                            // tokio's timer wheel has millisecond ticks: a sleep ends on
                            // the tick after its deadline (up to 2ms late from an
                            // instant between ticks).
                            let waited = waited.as_nanos() as i128;
                            prop_assert!(waited >= wait && waited <= wait + 2_000_000,
                                "waited {waited}ns for a slot {wait}ns away");
                            // Continue from the decision, as the model does.
                        }
                        (Err(r), Err(Rejection::RateLimited { retry_after, .. })) => {
                            prop_assert_eq!(retry_after.as_nanos() as i128, r);
                        }
                        (e, g) => prop_assert!(false, "model {e:?}, limiter {g:?}"),
                    }
                } else {
                    let expected = model.call(now, 0);
                    match (expected, limiter.check()) {
                        (Ok(0), Ok(())) => {}
                        (Err(r), Err(Rejection::RateLimited { retry_after, .. })) => {
                            prop_assert_eq!(retry_after.as_nanos() as i128, r);
                        }
                        (e, g) => prop_assert!(false, "model {e:?}, limiter {g:?}"),
                    }
                }
            }
            Ok(())
        })?;
    }

    #[test]
    fn weighted_gcra_matches_the_leaky_bucket(
        count in 1u32..1_000,
        per_ms in prop_oneof![Just(1u64), Just(1_000), 1u64..100_000],
        burst in 1u32..20,
        max_wait_ms in prop_oneof![Just(0u64), 0u64..500],
        steps in prop::collection::vec((step(), 0u32..24), 1..60),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let per = Duration::from_millis(per_ms);
            let max_wait = Duration::from_millis(max_wait_ms);
            let limiter = RateLimiter::builder("prop-weighted")
                .rate(Rate::new(count, per))
                .burst(burst)
                .max_wait(max_wait)
                .build()
                .unwrap();
            let epoch = Instant::now();
            let interval = (per.as_nanos() / u128::from(count)) as i128;
            let mut model = Bucket {
                interval,
                limit: interval * (i128::from(burst) - 1),
                level: 0,
                last: 0,
            };
            for (step, cost) in steps {
                let (after_ns, may_wait) = match step {
                    Step::Check { after_ns } => (after_ns, false),
                    Step::Call { after_ns } => (after_ns, true),
                };
                tokio::time::advance(Duration::from_nanos(after_ns)).await;
                let start = Instant::now();
                let now = start.duration_since(epoch).as_nanos() as i128;
                let max = if may_wait { max_wait.as_nanos() as i128 } else { 0 };
                let expected = model.call_n(now, max, cost, burst);
                let got = if may_wait {
                    limiter.acquire_n(cost).await
                } else {
                    limiter.check_n(cost)
                };
                let waited = start.elapsed().as_nanos() as i128;
                match (expected, got) {
                    (Some(Ok(wait)), Ok(())) => {
                        // A sleep ends on the millisecond tick after its deadline.
                        prop_assert!(waited >= wait && waited <= wait + 2_000_000,
                            "cost {cost}: waited {waited}ns for slots {wait}ns away");
                        prop_assert!(may_wait || wait == 0);
                    }
                    (Some(Err(r)), Err(Rejection::RateLimited { retry_after, .. })) => {
                        prop_assert_eq!(retry_after.as_nanos() as i128, r);
                        prop_assert_eq!(waited, 0);
                    }
                    (None, Err(Rejection::RateLimited { retry_after, .. })) => {
                        prop_assert_eq!(retry_after, Duration::MAX);
                        prop_assert_eq!(waited, 0, "a cost above the burst never waits");
                    }
                    (e, g) => prop_assert!(false, "cost {cost}: model {e:?}, limiter {g:?}"),
                }
            }
            Ok(())
        })?;
    }
}
