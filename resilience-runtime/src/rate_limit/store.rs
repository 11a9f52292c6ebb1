//! The hook through which a rate limiter decides in a shared store (feature `redis`:
//! [`cluster`](crate::cluster)) instead of its own atomic word. The limiter knows only
//! this trait; the store's implementation lives with the integration. A limiter with
//! no store never reaches this code.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::Core;
use super::gcra::Decision;
use crate::rejection::Rejection;
use crate::sync::AtomicU64;

/// What the store decided for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreVerdict {
    /// Admitted; the call's slot comes `wait` from now.
    Admit { wait: Duration },
    /// Refused: a call is admitted `retry_after` from now.
    Refuse { retry_after: Duration },
    /// The store cannot decide: the limiter's own state decides.
    Local,
}

/// A store that decides calls for a limiter (and each key of a keyed one).
pub(crate) trait ClusterLimiter: Debug + Send + Sync {
    /// Decides a call of cost `n` (1 ≤ n ≤ burst) for `key` (a keyed limiter's key,
    /// hashed; `None` for a direct limiter), waiting at most `max_wait` for its slot.
    fn decide<'a>(
        &'a self,
        core: &'a Core,
        key: Option<u64>,
        n: u32,
        max_wait: Duration,
    ) -> Pin<Box<dyn Future<Output = StoreVerdict> + Send + 'a>>;
}

impl Core {
    /// Takes `n` slots through the store, waiting up to `max_wait` for them; the
    /// limiter's own state `tat` decides when the store says so.
    pub(crate) async fn store_acquire(
        &self,
        store: &dyn ClusterLimiter,
        tat: &AtomicU64,
        key: Option<u64>,
        n: u32,
    ) -> Result<(), Rejection> {
        if n > self.settings.burst {
            return Err(self.never(n));
        }
        if n == 0 {
            return Ok(());
        }
        match store.decide(self, key, n, self.settings.max_wait).await {
            StoreVerdict::Admit { wait } if wait.is_zero() => Ok(()),
            StoreVerdict::Admit { wait } => {
                if crate::deadline::cuts(wait) {
                    // The slot stays taken in the store: a refusal there gives nothing back.
                    return Err(self.refused_for(wait));
                }
                tokio::time::sleep(wait).await;
                Ok(())
            }
            StoreVerdict::Refuse { retry_after } => Err(self.refused_for(retry_after)),
            StoreVerdict::Local => match self.decide_n(tat, n, self.quota().max_wait)? {
                Decision::Now => Ok(()),
                Decision::Wait {
                    at,
                    wait,
                    prev,
                    reserved,
                } => {
                    self.wait_for_slot(tat, at, wait, prev, reserved).await;
                    Ok(())
                }
                Decision::Refused { retry_after } => Err(self.refused(retry_after)),
            },
        }
    }
}

/// The hash of a keyed limiter's key that names its state in the store: the same
/// key gives the same hash in every process of the same build (SipHash with fixed
/// keys).
pub(crate) fn key_hash<K: crate::PolicyKey>(key: &K) -> u64 {
    use std::hash::Hasher;
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    key.hash_key(&mut hasher);
    hasher.finish()
}
