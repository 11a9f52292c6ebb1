//! Cluster breakers: openings published (pub/sub, plus a sorted set of who opened
//! when, so a late joiner sees them); a quorum of distinct processes opens the
//! breaker everywhere.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::limiter::Target;
use super::{Cluster, ClusterError};
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerBuilder, CircuitState, Transition};
use crate::config::ConfigError;

/// The reason of an opening caused by the quorum (never published again).
const REASON_PREFIX: &str = "opened on ";

/// Records an opening (ARGV[1]: the process's id, '' to only read) in the sorted
/// set KEYS[1] on Redis' clock (ms), forgets openings older than ARGV[2] ms,
/// publishes the count of distinct processes on the channel KEYS[1], returns it.
const OPENINGS: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if ARGV[1] ~= '' then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], window)
  local n = redis.call('ZCARD', KEYS[1])
  redis.call('PUBLISH', KEYS[1], n)
  return n
end
return redis.call('ZCARD', KEYS[1])
";

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(OPENINGS));

/// The default quorum.
pub const DEFAULT_QUORUM: u32 = 2;

/// A breaker builder's cluster settings.
#[derive(Clone, Default)]
pub(crate) struct BreakerCluster {
    target: Option<Target>,
    quorum: Option<u32>,
}

impl std::fmt::Debug for BreakerCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BreakerCluster")
            .field("target", &self.target)
            .field("quorum", &self.quorum)
            .finish()
    }
}

/// What joins a built breaker to its cluster.
pub(crate) struct Joiner {
    target: Target,
    quorum: u32,
    listener: crate::circuit_breaker::config::Listener,
    openings: mpsc::UnboundedReceiver<()>,
}

impl BreakerCluster {
    /// The joiner (and the listener to add to the breaker), or what is wrong.
    pub(crate) fn checked(self) -> Result<Option<Joiner>, ConfigError> {
        let Some(target) = self.target else {
            if self.quorum.is_some() {
                return Err(ConfigError::new(
                    "circuit_breaker",
                    "quorum",
                    "applies only to a cluster breaker: add `.cluster(&cluster)`",
                ));
            }
            return Ok(None);
        };
        let quorum = self.quorum.unwrap_or(DEFAULT_QUORUM);
        if quorum == 0 {
            return Err(ConfigError::new(
                "circuit_breaker",
                "quorum",
                "must be at least 1 (1: any instance opening opens them all)",
            ));
        }
        Ok(Some(Joiner::new(target, quorum)))
    }

    /// As [`checked`](Self::checked), clamping (for the macros).
    pub(crate) fn clamped(self) -> Option<Joiner> {
        let target = self.target?;
        Some(Joiner::new(
            target,
            self.quorum.unwrap_or(DEFAULT_QUORUM).max(1),
        ))
    }
}

impl Joiner {
    fn new(target: Target, quorum: u32) -> Self {
        let (tx, openings) = mpsc::unbounded_channel();
        let listener: crate::circuit_breaker::config::Listener = Arc::new(move |t: &Transition| {
            let own = t.to == CircuitState::Open
                && !t
                    .reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with(REASON_PREFIX));
            if own {
                let _ = tx.send(());
            }
        });
        Joiner {
            target,
            quorum,
            listener,
            openings,
        }
    }

    /// The listener that reports this breaker's own openings.
    pub(crate) fn listener(&self) -> crate::circuit_breaker::config::Listener {
        self.listener.clone()
    }

    /// Starts the breaker's cluster task, if `breaker` is the one this joiner's
    /// listener was given to (a registered name may return an older breaker).
    pub(crate) fn join(self, breaker: &CircuitBreaker) {
        let mine = breaker
            .shared
            .config
            .get()
            .listeners
            .iter()
            .any(|l| Arc::ptr_eq(l, &self.listener));
        if !mine {
            return;
        }
        let weak = Arc::downgrade(&breaker.shared);
        let task = run(
            weak,
            breaker.name().to_owned(),
            self.target,
            self.quorum,
            breaker.shared.config.get().open_for,
            self.openings,
        );
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(task);
            }
            Err(_) => {
                // Built outside a runtime: the task gets a thread of its own.
                let _ = std::thread::Builder::new()
                    .name("resilience-cluster-breaker".to_owned())
                    .spawn(move || {
                        if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                        {
                            rt.block_on(task);
                        }
                    });
            }
        }
    }
}

impl CircuitBreakerBuilder {
    /// Shares openings through `cluster`'s Redis (feature `redis`): once `quorum`
    /// distinct processes opened a breaker of this name within the last `open_for`,
    /// every process's opens; see [`cluster`](crate::cluster).
    pub fn cluster(mut self, cluster: &Cluster) -> Self {
        self.cluster.target = Some(Target::This(cluster.clone()));
        self
    }

    /// For `#[circuit_breaker(scope = "cluster")]`: the process's cluster.
    #[doc(hidden)]
    pub fn process_cluster(mut self) -> Self {
        self.cluster.target = Some(Target::Process);
        self
    }

    /// How many distinct processes must open within `open_for` for every process to
    /// open (at least 1; default 2, so one bad instance alone opens nothing else).
    pub fn quorum(mut self, n: u32) -> Self {
        self.cluster.quorum = Some(n);
        self
    }
}

/// The weak breaker's state, if it is still alive.
type WeakBreaker = Weak<crate::circuit_breaker::state::Shared>;

/// Opens the local breaker because `count` instances opened.
fn open_here(breaker: &WeakBreaker, count: u64) -> bool {
    let Some(shared) = breaker.upgrade() else {
        return false;
    };
    let breaker = CircuitBreaker { shared };
    if matches!(
        breaker.state(),
        CircuitState::Closed | CircuitState::HalfOpen
    ) {
        breaker.shared.set_by_hand(
            crate::circuit_breaker::state::OPEN,
            None,
            Some(format!("{REASON_PREFIX}{count} instances")),
        );
    }
    true
}

/// Tells the breaker's listeners that Redis is gone (`true`: once per outage) or back.
fn store_event(breaker: &WeakBreaker, in_outage: &mut bool, down: Option<String>) {
    let Some(shared) = breaker.upgrade() else {
        return;
    };
    match down {
        Some(error) if !*in_outage => {
            *in_outage = true;
            shared
                .stats
                .emit(|| crate::events::EventKind::StoreUnavailable { error });
        }
        None if *in_outage => {
            *in_outage = false;
            shared
                .stats
                .emit(|| crate::events::EventKind::StoreRecovered);
        }
        _ => {}
    }
}

/// The breaker's cluster task: publishes its openings, listens to the others', and
/// reconnects with backoff when Redis is gone (`StoreUnavailable` once per outage,
/// `StoreRecovered` once subscribed again). Ends when the breaker is dropped.
async fn run(
    breaker: WeakBreaker,
    name: String,
    target: Target,
    quorum: u32,
    open_for: Duration,
    mut openings: mpsc::UnboundedReceiver<()>,
) {
    let key = format!("resilience:cb:{name}");
    let window_ms = u64::try_from(open_for.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let logged = AtomicBool::new(false);
    let mut delay = Duration::from_millis(25);
    let mut in_outage = false;
    loop {
        if breaker.strong_count() == 0 {
            return;
        }
        let cluster = match &target {
            Target::This(c) => Some(c.clone()),
            Target::Process => super::process(),
        };
        let Some(cluster) = cluster else {
            if !logged.swap(true, Ordering::Relaxed) {
                super::log(&ClusterError::NotConnected {
                    policy: "circuit_breaker",
                    name: name.clone(),
                });
            }
            // Openings made meanwhile stay local.
            while openings.try_recv().is_ok() {}
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut stopped = cluster.stopped();
        let id = cluster.id().to_owned();
        let mut connection = cluster.connection();
        let client = cluster.client().clone();
        drop(cluster);
        let subscribed = tokio::time::timeout(Duration::from_secs(1), async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&key).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let pubsub = match subscribed {
            Ok(Ok(pubsub)) => pubsub,
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "no answer to SUBSCRIBE within 1s".to_owned(),
                };
                store_event(&breaker, &mut in_outage, Some(error));
                while openings.try_recv().is_ok() {}
                if matches!(target, Target::This(_)) && stopped.has_changed().is_err() {
                    return; // the cluster was dropped
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(400));
                continue;
            }
        };
        delay = Duration::from_millis(25);
        store_event(&breaker, &mut in_outage, None);
        // A late joiner: openings already recorded.
        let mut read = SCRIPT.key(&key);
        read.arg("").arg(window_ms);
        let count = read.invoke_async::<u64>(&mut connection);
        if let Ok(Ok(count)) = tokio::time::timeout(Duration::from_secs(1), count).await {
            if count >= u64::from(quorum) && !open_here(&breaker, count) {
                return;
            }
        }
        let mut messages = pubsub.into_on_message();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                opened = openings.recv() => {
                    if opened.is_none() {
                        return; // the breaker (and its listener) is gone
                    }
                    let mut record = SCRIPT.key(&key);
                    record.arg(&id).arg(window_ms);
                    let publish = record.invoke_async::<u64>(&mut connection);
                    match tokio::time::timeout(Duration::from_secs(1), publish).await {
                        Ok(Ok(_)) => {}
                        _ => break, // Redis is gone: this opening stays local
                    }
                }
                message = messages.next() => {
                    let Some(message) = message else { break };
                    let count = message.get_payload::<u64>().unwrap_or(0);
                    if count >= u64::from(quorum) && !open_here(&breaker, count) {
                        return;
                    }
                }
                _ = tick.tick() => {
                    if breaker.strong_count() == 0 {
                        return;
                    }
                }
                _ = stopped.changed() => {
                    if matches!(target, Target::This(_)) {
                        return; // the cluster was dropped
                    }
                    break;
                }
            }
        }
        tokio::time::sleep(delay).await;
    }
}
