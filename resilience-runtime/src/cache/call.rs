//! The call path: a fresh hit, a wait for the running body, or the body (leading the
//! others), then storing its `Ok` or answering its error with a stale entry.

use std::any::TypeId;
use std::future::Future;
use std::sync::Arc;

use tokio::time::Instant;

use super::{Cache, Inner, Slot, Stored, clock};
use crate::PolicyKey;
use crate::events::EventKind;
use crate::flight::{Flight, Lead, OnDrop, Shared, Waited};
use crate::stats::Count;

/// How a call begins.
enum Begin<T> {
    /// A fresh entry answers.
    Fresh(T),
    /// Another call is running the body for this key.
    Wait(Arc<Flight>),
    /// This call runs the body, for the others too.
    Lead(Lead),
}

impl Cache {
    /// Runs `body` for `key` unless a fresh entry answers; see the [module
    /// docs](super). Calls for the same key arriving while it runs wait for it.
    pub async fn call<K, T, E, F>(&self, key: K, body: F) -> Result<T, E>
    where
        K: PolicyKey,
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T, E>>,
    {
        let lead = match self.inner.begin::<K, T>(&key) {
            Begin::Fresh(value) => return Ok(value),
            Begin::Lead(lead) => Some(lead),
            Begin::Wait(flight) => match flight.wait().await {
                Waited::Value(value) => match shared_ok(&self.inner, &value) {
                    Some(value) => return Ok(value),
                    None => None,
                },
                Waited::RunYourself | Waited::Lead(_) => None,
            },
        };
        let outcome = body.await;
        self.inner.end(&key, outcome, lead)
    }

    /// [`call`](Self::call) for a blocking body: waiting calls block their thread.
    pub fn call_blocking<K, T, E>(
        &self,
        key: K,
        body: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E>
    where
        K: PolicyKey,
        T: Clone + Send + Sync + 'static,
    {
        let lead = match self.inner.begin::<K, T>(&key) {
            Begin::Fresh(value) => return Ok(value),
            Begin::Lead(lead) => Some(lead),
            Begin::Wait(flight) => match flight.wait_blocking() {
                Waited::Value(value) => match shared_ok(&self.inner, &value) {
                    Some(value) => return Ok(value),
                    None => None,
                },
                Waited::RunYourself | Waited::Lead(_) => None,
            },
        };
        let outcome = body();
        self.inner.end(&key, outcome, lead)
    }

    /// The fresh entry of `key`, if there is one (counted as a fresh hit); nothing runs.
    #[inline]
    pub fn get<K: PolicyKey, T: Clone + 'static>(&self, key: &K) -> Option<T> {
        let inner = &*self.inner;
        if inner.ttl.is_zero() {
            return None;
        }
        let coarse = clock::coarse_now();
        let value = inner
            .map
            .read(key, |slot| fresh::<T>(slot, coarse))
            .flatten()?;
        inner.stats.add(Count::Success);
        inner.stats.add(Count::Extra1);
        Some(value)
    }
}

/// A clone of the leader's `Ok`, counted as an answer.
fn shared_ok<T: Clone + 'static>(inner: &Inner, value: &Shared) -> Option<T> {
    let value = value.downcast_ref::<T>()?.clone();
    inner.stats.add(Count::Success);
    Some(value)
}

impl Inner {
    #[inline]
    fn begin<K: PolicyKey, T: Clone + 'static>(&self, key: &K) -> Begin<T> {
        // A zero `ttl`: nothing is ever fresh, no clock is read.
        let fresh_possible = !self.ttl.is_zero();
        // A fresh hit under the shard's read lock: hits of other threads run alongside.
        if fresh_possible {
            let coarse = clock::coarse_now();
            if let Some(Some(value)) = self.map.read(key, |slot| fresh::<T>(slot, coarse)) {
                self.stats.add(Count::Success);
                self.stats.add(Count::Extra1);
                return Begin::Fresh(value);
            }
        }
        self.lead_or_wait(key, fresh_possible)
    }

    /// No fresh entry was found: under the shard's write lock, an entry stored
    /// meanwhile, the body running for the key, or this call runs it.
    #[inline(never)]
    fn lead_or_wait<K: PolicyKey, T: Clone + 'static>(
        &self,
        key: &K,
        fresh_possible: bool,
    ) -> Begin<T> {
        let coarse = clock::coarse_now();
        let begin = self.map.with_or_insert(key, Slot::default, |slot| {
            if let Some(value) = fresh_possible.then(|| fresh::<T>(slot, coarse)).flatten() {
                return Begin::Fresh(value);
            }
            if let Some(flight) = slot.flight.as_ref().filter(|f| !f.is_done()) {
                return Begin::Wait(Arc::clone(flight));
            }
            let (flight, lead) = Flight::start(OnDrop::Release);
            slot.flight = Some(flight);
            Begin::Lead(lead)
        });
        if let Begin::Fresh(_) = begin {
            self.stats.add(Count::Success);
            self.stats.add(Count::Extra1);
        }
        begin
    }

    /// After the body: store its `Ok` (and hand it to the waiters), or answer its error
    /// with an entry young enough.
    fn end<K, T, E>(&self, key: &K, outcome: Result<T, E>, lead: Option<Lead>) -> Result<T, E>
    where
        K: PolicyKey,
        T: Clone + Send + Sync + 'static,
    {
        let ours = |slot: &Slot| match (&slot.flight, lead.as_ref().and_then(Lead::flight)) {
            (Some(held), Some(ours)) => Arc::ptr_eq(held, ours),
            _ => false,
        };
        match outcome {
            Ok(value) => {
                self.stats.add(Count::Success);
                // The coarse clock first: its reading is then no later than `now`.
                let coarse_at = clock::coarse_now();
                let now = Instant::now();
                clock::observe(now);
                let times = Times {
                    at: now,
                    fresh_until: now.checked_add(self.ttl),
                    coarse_until: clock::bound(coarse_at, self.ttl),
                };
                let stored = self.map.with_or_insert(key, Slot::default, |slot| {
                    if ours(slot) {
                        slot.flight = None;
                    }
                    store(slot, value.clone(), times)
                });
                if let Some(lead) = lead {
                    lead.finish(Some(stored));
                }
                Ok(value)
            }
            Err(error) => {
                self.stats.add(Count::Failure);
                let now = Instant::now();
                let limit = self.ttl.saturating_add(self.stale_if_error);
                let stale = self
                    .map
                    .with(key, |slot| {
                        if ours(slot) {
                            slot.flight = None;
                        }
                        let stored = slot.value.as_ref()?;
                        let age = now.saturating_duration_since(stored.at);
                        if age >= limit {
                            return None;
                        }
                        Some((stored.value.downcast_ref::<T>()?.clone(), age))
                    })
                    .flatten();
                if let Some(lead) = lead {
                    lead.finish(None);
                }
                match stale {
                    Some((value, age)) => {
                        self.stats.add(Count::Extra2);
                        self.stats.emit(|| EventKind::StaleServed { age });
                        Ok(value)
                    }
                    None => Err(error),
                }
            }
        }
    }
}

/// A clone of the slot's value if it is younger than `ttl`. `coarse` is the coarse
/// clock now: before the entry's coarse bound it is fresh without a look at
/// `tokio::time`; after, `tokio::time` decides.
#[inline]
fn fresh<T: Clone + 'static>(slot: &Slot, coarse: u64) -> Option<T> {
    let stored = slot.value.as_ref()?;
    if coarse >= stored.coarse_until && !fresh_now(stored) {
        return None;
    }
    value_of(stored)
}

/// A clone of the stored value, if it is a `T`.
#[inline]
fn value_of<T: Clone + 'static>(stored: &Stored) -> Option<T> {
    if stored.type_id != TypeId::of::<T>() {
        return None;
    }
    // SAFETY: `type_id` is the type of the value `value` holds (they are set together
    // in `store`), so its data pointer points to a `T`, alive while `stored` is.
    Some(unsafe { &*Arc::as_ptr(&stored.value).cast::<T>() }.clone())
}

/// Whether the entry is younger than `ttl` by `tokio::time`: now before the instant
/// it stops being fresh.
#[inline(never)]
fn fresh_now(stored: &Stored) -> bool {
    stored
        .fresh_until
        .is_none_or(|until| Instant::now() < until)
}

/// When an `Ok` was stored, and until when it is fresh.
#[derive(Clone, Copy)]
struct Times {
    at: Instant,
    fresh_until: Option<Instant>,
    coarse_until: u64,
}

/// Stores `value` in the slot, in place where the slot already holds the only
/// reference to a value of its type (no allocation in the steady state).
fn store<T: Send + Sync + 'static>(slot: &mut Slot, value: T, times: Times) -> Shared {
    if let Some(stored) = slot.value.as_mut() {
        if let Some(place) = Arc::get_mut(&mut stored.value).and_then(|v| v.downcast_mut::<T>()) {
            *place = value;
            stored.at = times.at;
            stored.fresh_until = times.fresh_until;
            stored.coarse_until = times.coarse_until;
            return Arc::clone(&stored.value);
        }
    }
    let shared: Shared = Arc::new(value);
    slot.value = Some(Stored {
        value: Arc::clone(&shared),
        type_id: TypeId::of::<T>(),
        at: times.at,
        fresh_until: times.fresh_until,
        coarse_until: times.coarse_until,
    });
    shared
}
