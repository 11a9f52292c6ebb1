//! Coalesce: concurrent calls with equal keys share one running body.
//!
//! `#[coalesce(key = expr, name = "...")]` on an async function, or by hand:
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use resilience_runtime::coalesce::Coalesce;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! static RUNS: AtomicU32 = AtomicU32::new(0);
//! let profiles = Coalesce::builder("profiles").build().unwrap();
//! let load = |id: u64| profiles.call(id, async move {
//!     RUNS.fetch_add(1, Ordering::Relaxed);
//!     tokio::time::sleep(std::time::Duration::from_millis(10)).await;
//!     Ok::<_, String>(format!("profile {id}"))
//! });
//! let (a, b) = tokio::join!(load(7), load(7));
//! assert_eq!((a.unwrap(), b.unwrap()), ("profile 7".into(), "profile 7".into()));
//! assert_eq!(RUNS.load(Ordering::Relaxed), 1, "one body for both");
//! # }
//! ```
//!
//! - The first call for a key runs its body; calls for an equal key that arrive while
//!   it runs wait, and each receives a clone of its outcome, `Ok` or `Err` (so `T` and
//!   `E` are `Clone + Send + Sync + 'static`). A call arriving after it ended runs anew.
//! - If the call running the body is cancelled (its future dropped), one of the waiting
//!   calls runs its own body in its place, for the others: no caller is left waiting
//!   for a body nobody runs.
//! - Calls with distinct keys are independent. Keys are held only while a body runs,
//!   at most `max_keys` at once (default
//!   [`DEFAULT_MAX_KEYS`]); beyond that the least recently
//!   used key stops being shared, its body still running for the calls that wait.
//!
//! Functions that give the same `name` share their running bodies; an outcome of
//! another type is not shared (the waiting call runs its own body).

use std::borrow::Cow;
use std::cell::Cell;
use std::future::Future;
use std::sync::Arc;

use crate::PolicyKey;
use crate::config::ConfigError;
use crate::events::PolicyKind;
use crate::flight::{Flight, Lead, OnDrop, Waited};
use crate::keyed::{DEFAULT_MAX_KEYS, KeyedMap};
use crate::named::Registry;
use crate::stats::Stats;

/// Shares one running body among concurrent calls with equal keys; see the [module
/// docs](self).
#[derive(Clone)]
pub struct Coalesce {
    inner: Arc<Inner>,
}

struct Inner {
    stats: &'static Stats,
    map: KeyedMap<Arc<Flight>>,
}

impl std::fmt::Debug for Coalesce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalesce")
            .field("name", &self.name())
            .field("running", &self.inner.map.len())
            .finish()
    }
}

impl Coalesce {
    /// A builder for a coalescer named `name`.
    pub fn builder(name: impl Into<Cow<'static, str>>) -> CoalesceBuilder {
        CoalesceBuilder {
            name: name.into(),
            max_keys: DEFAULT_MAX_KEYS,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.inner.stats.name
    }

    /// Runs `body` for `key`, unless a call with an equal key is running its body: then
    /// waits for it and returns a clone of its outcome.
    pub async fn call<K, T, E, F>(&self, key: K, body: F) -> Result<T, E>
    where
        K: PolicyKey,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T, E>>,
    {
        let inner = &*self.inner;
        let lead = match inner.begin(&key) {
            Ok(lead) => Some(lead),
            Err(flight) => match flight.wait().await {
                Waited::Value(shared) => {
                    if let Some(outcome) = shared.downcast_ref::<Result<T, E>>() {
                        inner.stats.outcome(outcome);
                        return outcome.clone();
                    }
                    None
                }
                Waited::Lead(lead) => Some(lead),
                Waited::RunYourself => None,
            },
        };
        let outcome = body.await;
        inner.stats.outcome(&outcome);
        if let Some(lead) = lead {
            inner.end(&key, lead, &outcome);
        }
        outcome
    }
}

impl Inner {
    /// Leads a new flight for `key`, or finds the running one.
    fn begin<K: PolicyKey>(&self, key: &K) -> Result<Lead, Arc<Flight>> {
        let made = Cell::new(None);
        let make = || {
            let (flight, lead) = Flight::start(OnDrop::HandOver);
            made.set(Some(lead));
            flight
        };
        self.map.with_or_insert(key, make, |held| {
            if let Some(lead) = made.take() {
                return Ok(lead);
            }
            if held.is_done() {
                let (flight, lead) = Flight::start(OnDrop::HandOver);
                *held = flight;
                return Ok(lead);
            }
            Err(Arc::clone(held))
        })
    }

    /// The leader's outcome, to every waiting call.
    fn end<K, T, E>(&self, key: &K, lead: Lead, outcome: &Result<T, E>)
    where
        K: PolicyKey,
        T: Clone + Send + Sync + 'static,
        E: Clone + Send + Sync + 'static,
    {
        let Some(flight) = lead.flight().cloned() else {
            return;
        };
        self.map.remove_if(key, |held| Arc::ptr_eq(held, &flight));
        // Held now by this call's `lead` and `flight` alone: nobody waits, and nobody
        // can find it any more.
        if Arc::strong_count(&flight) <= 2 {
            lead.finish(None);
        } else {
            lead.finish(Some(Arc::new(outcome.clone())));
        }
    }
}

/// Settings of a [`Coalesce`]; [`Coalesce::builder`] makes one.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` or `register`"]
pub struct CoalesceBuilder {
    name: Cow<'static, str>,
    max_keys: usize,
}

impl CoalesceBuilder {
    /// The most keys whose bodies are shared at once. Default
    /// [`DEFAULT_MAX_KEYS`].
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// The coalescer, or what is wrong with its settings. Not registered: see
    /// [`register`](Self::register) for one shared by name.
    pub fn build(self) -> Result<Coalesce, ConfigError> {
        self.check()?;
        Ok(self.make())
    }

    /// The coalescer registered under this name, or this one, built and registered now.
    pub fn register(self) -> Result<Coalesce, ConfigError> {
        self.check()?;
        Ok(self.register_unchecked())
    }

    /// For the `#[coalesce]` macro: like [`register`](Self::register), but never fails.
    #[doc(hidden)]
    pub fn register_clamped(mut self) -> Coalesce {
        self.max_keys = self.max_keys.max(1);
        self.register_unchecked()
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.max_keys == 0 {
            return Err(ConfigError::new(
                "coalesce",
                "max_keys",
                "must be at least 1 (0 would share nothing)",
            ));
        }
        Ok(())
    }

    fn register_unchecked(self) -> Coalesce {
        static COALESCERS: Registry<Coalesce> = Registry::new();
        let name = self.name.clone();
        let described = format!("max_keys: {}", self.max_keys);
        COALESCERS.register("coalesce", name, described, || self.make())
    }

    fn make(self) -> Coalesce {
        Coalesce {
            inner: Arc::new(Inner {
                stats: crate::stats::register(PolicyKind::Coalesce, self.name),
                map: KeyedMap::new(self.max_keys),
            }),
        }
    }
}
