//! Cluster rate limits: GCRA in one Redis key per name (and key), one script per
//! decision on Redis' clock; batches; what happens when Redis does not answer.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{Cluster, ClusterError};
use crate::config::ConfigError;
use crate::events::EventKind;
use crate::rate_limit::store::{ClusterLimiter, StoreVerdict};
use crate::rate_limit::{Core, KeyedRateLimiterBuilder, RateLimiterBuilder};

/// How a cluster rate limiter decides a call when Redis is unreachable or slower
/// than `store_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OnStoreError {
    /// By a limiter of this process with the same settings (each process then admits
    /// up to the limit on its own while the outage lasts). The default.
    #[default]
    Local,
    /// Admit the call (fail open, as Envoy's global rate limit does).
    Allow,
    /// Refuse the call with `Rejection::RateLimited` (fail closed).
    Deny,
}

/// The default `store_timeout`.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(50);

/// The most slots one batch may take (`batch = N`, 1 ≤ N ≤ this).
pub const MAX_BATCH: u32 = 1_000;

/// Which cluster a limiter decides through.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// The process's, looked up per call ([`super::connect`]).
    Process,
    /// This one.
    This(Cluster),
}

/// A builder's cluster settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoreOptions {
    pub(crate) target: Option<Target>,
    pub(crate) batch: Option<u32>,
    pub(crate) on_store_error: Option<OnStoreError>,
    pub(crate) store_timeout: Option<Duration>,
}

impl StoreOptions {
    /// The hook, or what is wrong with the settings (`None`: no cluster).
    pub(crate) fn checked(
        &self,
        name: &str,
    ) -> Result<Option<Arc<dyn ClusterLimiter>>, ConfigError> {
        let Some(target) = &self.target else {
            for (set, field) in [
                (self.batch.is_some(), "batch"),
                (self.on_store_error.is_some(), "on_store_error"),
                (self.store_timeout.is_some(), "store_timeout"),
            ] {
                if set {
                    return Err(ConfigError::new(
                        "rate_limit",
                        field,
                        "applies only to a cluster limiter: add `.cluster(&cluster)`",
                    ));
                }
            }
            return Ok(None);
        };
        let batch = self.batch.unwrap_or(1);
        if !(1..=MAX_BATCH).contains(&batch) {
            return Err(ConfigError::new(
                "rate_limit",
                "batch",
                format!("must be from 1 to {MAX_BATCH}"),
            ));
        }
        let store_timeout = self.store_timeout.unwrap_or(DEFAULT_STORE_TIMEOUT);
        if store_timeout.is_zero() {
            return Err(ConfigError::new(
                "rate_limit",
                "store_timeout",
                "must be above zero (every call would be decided without Redis)",
            ));
        }
        Ok(Some(self.hook(target.clone(), batch, store_timeout, name)))
    }

    /// As [`checked`](Self::checked), clamping instead of failing (for the macros).
    pub(crate) fn clamped(&self, name: &str) -> Option<Arc<dyn ClusterLimiter>> {
        let target = self.target.clone()?;
        let batch = self.batch.unwrap_or(1).clamp(1, MAX_BATCH);
        let store_timeout = self
            .store_timeout
            .unwrap_or(DEFAULT_STORE_TIMEOUT)
            .max(Duration::from_micros(1));
        Some(self.hook(target, batch, store_timeout, name))
    }

    fn hook(
        &self,
        target: Target,
        batch: u32,
        store_timeout: Duration,
        name: &str,
    ) -> Arc<dyn ClusterLimiter> {
        Arc::new(RedisLimiter {
            target,
            batch,
            on_store_error: self.on_store_error.unwrap_or_default(),
            store_timeout,
            prefix: format!("resilience:rl:{name}"),
            in_outage: AtomicBool::new(false),
            not_connected_logged: AtomicBool::new(false),
            pools: Mutex::new(HashMap::new()),
        })
    }
}

macro_rules! store_methods {
    ($builder:ty) => {
        impl $builder {
            /// Decides through `cluster`'s Redis (feature `redis`): one limit for every
            /// process connected to it; see [`cluster`](crate::cluster).
            pub fn cluster(mut self, cluster: &Cluster) -> Self {
                self.store_options().target = Some(Target::This(cluster.clone()));
                self
            }

            /// For `#[rate_limit(scope = "cluster")]`: decides through the process's
            /// cluster ([`cluster::connect`](crate::cluster::connect)), looked up per call.
            #[doc(hidden)]
            pub fn process_cluster(mut self) -> Self {
                self.store_options().target = Some(Target::Process);
                self
            }

            /// A cluster limiter takes up to `n` slots per round trip to Redis and
            /// spends them itself (1 ≤ n ≤ 1000; default 1: a round trip per call).
            /// It never admits more than Redis granted; slots not spent within `n`
            /// intervals lapse.
            pub fn batch(mut self, n: u32) -> Self {
                self.store_options().batch = Some(n);
                self
            }

            /// How a call is decided when Redis is unreachable or slower than
            /// `store_timeout` (default [`OnStoreError::Local`]).
            pub fn on_store_error(mut self, mode: OnStoreError) -> Self {
                self.store_options().on_store_error = Some(mode);
                self
            }

            /// For `#[rate_limit(on_store_error = "...")]`: `"allow"`, `"deny"`, else local.
            #[doc(hidden)]
            pub fn on_store_error_named(self, mode: &str) -> Self {
                self.on_store_error(match mode {
                    "allow" => OnStoreError::Allow,
                    "deny" => OnStoreError::Deny,
                    _ => OnStoreError::Local,
                })
            }

            /// The longest a call waits on Redis before `on_store_error` decides it
            /// (above zero; default 50ms).
            pub fn store_timeout(mut self, timeout: Duration) -> Self {
                self.store_options().store_timeout = Some(timeout);
                self
            }
        }
    };
}

store_methods!(RateLimiterBuilder);
store_methods!(KeyedRateLimiterBuilder);

impl RateLimiterBuilder {
    fn store_options(&mut self) -> &mut StoreOptions {
        &mut self.store
    }
}

impl KeyedRateLimiterBuilder {
    fn store_options(&mut self) -> &mut StoreOptions {
        &mut self.limiter.store
    }
}

/// GCRA on Redis' clock, in microseconds (exact integers in Lua's doubles).
/// KEYS[1]: the state. ARGV: interval (µs, fractional), tau (µs), the slots the call
/// needs, the slots to take if free (>= need), the longest wait (µs).
/// Returns {granted, wait_ns, retry_after_ns}: granted = 0 is a refusal.
const SCRIPT: &str = r"
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local max_wait = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local stored = redis.call('GET', KEYS[1])
local tat = now
if stored then
  tat = tonumber(stored)
  if tat < now then tat = now end
end
local wait = tat + (need - 1) * interval - tau - now
if wait > max_wait then
  return {0, 0, math.ceil(wait * 1000)}
end
local take = need
if wait <= 0 then
  wait = 0
  local free = math.floor((now + tau - tat) / interval) + 1
  if free > want then free = want end
  if free > take then take = free end
end
local new_tat = tat + take * interval
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {take, math.ceil(wait * 1000), 0}
";

static GCRA: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(SCRIPT));

/// The hash of the script (what `EVALSHA` sends), for tests and benches.
pub fn script_hash() -> &'static str {
    GCRA.get_hash()
}

/// Slots a batch left to spend.
#[derive(Debug, Clone, Copy)]
struct Pool {
    slots: u32,
    until: Instant,
}

#[derive(Debug)]
struct RedisLimiter {
    target: Target,
    batch: u32,
    on_store_error: OnStoreError,
    store_timeout: Duration,
    /// `resilience:rl:{name}`.
    prefix: String,
    /// This limiter emitted `StoreUnavailable` and not yet `StoreRecovered`.
    in_outage: AtomicBool,
    not_connected_logged: AtomicBool,
    /// Batched slots by key (`None`: a direct limiter).
    pools: Mutex<HashMap<Option<u64>, Pool>>,
}

impl ClusterLimiter for RedisLimiter {
    fn decide<'a>(
        &'a self,
        core: &'a Core,
        key: Option<u64>,
        n: u32,
        max_wait: Duration,
    ) -> Pin<Box<dyn Future<Output = StoreVerdict> + Send + 'a>> {
        Box::pin(self.decide_async(core, key, n, max_wait))
    }
}

impl RedisLimiter {
    async fn decide_async(
        &self,
        core: &Core,
        key: Option<u64>,
        n: u32,
        max_wait: Duration,
    ) -> StoreVerdict {
        let cluster = match &self.target {
            Target::This(cluster) => cluster.clone(),
            Target::Process => match super::process() {
                Some(cluster) => cluster,
                None => {
                    let error = ClusterError::NotConnected {
                        policy: "rate_limit",
                        name: core.settings.name.to_string(),
                    };
                    if !self.not_connected_logged.swap(true, Ordering::Relaxed) {
                        super::log(&error);
                    }
                    return self.unavailable(core, || error.to_string());
                }
            },
        };
        if !cluster.is_healthy() {
            return self.unavailable(core, || cluster.last_error());
        }
        if self.batch > 1 && self.spend(key, n) {
            return StoreVerdict::Admit {
                wait: Duration::ZERO,
            };
        }
        let quota = &core.settings.quota;
        let interval_us = quota.interval as f64 / 1_000.0;
        let tau_us = quota.tau as f64 / 1_000.0;
        let want = if max_wait.is_zero() || self.batch == 1 {
            self.batch.max(n)
        } else {
            n
        };
        let redis_key = match key {
            Some(hash) => format!("{}:{hash:016x}", self.prefix),
            None => self.prefix.clone(),
        };
        let mut connection = cluster.connection();
        let mut invocation = GCRA.key(redis_key);
        invocation
            .arg(interval_us)
            .arg(tau_us)
            .arg(n)
            .arg(want)
            .arg(max_wait.as_secs_f64() * 1e6);
        let answer = tokio::time::timeout(
            self.store_timeout,
            invocation.invoke_async::<(u64, u64, u64)>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok((granted, wait, retry_after))) => {
                if self.in_outage.swap(false, Ordering::AcqRel) {
                    core.stats.emit(|| EventKind::StoreRecovered);
                }
                if granted == 0 {
                    return StoreVerdict::Refuse {
                        retry_after: Duration::from_nanos(retry_after),
                    };
                }
                let granted = u32::try_from(granted).unwrap_or(u32::MAX);
                if granted > n {
                    let lapse = Duration::from_nanos(quota.interval)
                        .saturating_mul(self.batch)
                        .min(Duration::from_secs(1));
                    self.refill(key, granted - n, lapse);
                }
                StoreVerdict::Admit {
                    wait: Duration::from_nanos(wait),
                }
            }
            Ok(Err(error)) => {
                cluster.failed(error.to_string());
                self.unavailable(core, || error.to_string())
            }
            Err(_) => {
                let error = format!(
                    "Redis did not answer within store_timeout ({:?})",
                    self.store_timeout
                );
                cluster.failed(error.clone());
                self.unavailable(core, || error)
            }
        }
    }

    /// Redis cannot decide: `StoreUnavailable` once per outage, then `on_store_error`.
    fn unavailable(&self, core: &Core, error: impl FnOnce() -> String) -> StoreVerdict {
        if !self.in_outage.swap(true, Ordering::AcqRel) {
            let error = error();
            core.stats.emit(|| EventKind::StoreUnavailable { error });
        }
        match self.on_store_error {
            OnStoreError::Local => StoreVerdict::Local,
            OnStoreError::Allow => StoreVerdict::Admit {
                wait: Duration::ZERO,
            },
            OnStoreError::Deny => StoreVerdict::Refuse {
                retry_after: Duration::from_nanos(core.settings.quota.interval),
            },
        }
    }

    /// Spends `n` slots of a batch taken earlier, if enough are left and not lapsed.
    fn spend(&self, key: Option<u64>, n: u32) -> bool {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let Some(pool) = pools.get_mut(&key) else {
            return false;
        };
        if pool.until <= Instant::now() {
            pools.remove(&key);
            return false;
        }
        if pool.slots < n {
            return false;
        }
        pool.slots -= n;
        if pool.slots == 0 {
            pools.remove(&key);
        }
        true
    }

    /// Keeps `slots` granted beyond the call's own, to spend within `lapse`.
    fn refill(&self, key: Option<u64>, slots: u32, lapse: Duration) {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if pools.len() >= 4_096 && !pools.contains_key(&key) {
            let now = Instant::now();
            pools.retain(|_, pool| pool.until > now);
            if pools.len() >= 4_096 {
                return;
            }
        }
        pools.insert(
            key,
            Pool {
                slots,
                until: Instant::now() + lapse,
            },
        );
    }
}
