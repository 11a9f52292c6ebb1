//! Health probes: while a breaker is open, a task asks the backend whether it is
//! healthy again, and a `true` turns the breaker half-open at once, instead of
//! sacrificing real calls as trials only once `open_for` is over.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::CircuitState;
use super::state::Shared;
use crate::events::EventKind;

/// A probe's future, boxed (made once per probe, never on a call's path).
pub(crate) type ProbeFuture = Pin<Box<dyn Future<Output = bool> + Send>>;

/// A breaker's health probe: what to run, how often, and how long it may take.
#[derive(Clone)]
pub(crate) struct Probe {
    pub(crate) check: Arc<dyn Fn() -> ProbeFuture + Send + Sync>,
    pub(crate) every: Duration,
    /// A probe slower than this counts as unhealthy; `None`: `every`.
    pub(crate) timeout: Option<Duration>,
}

impl Probe {
    pub(crate) fn new<F, Fut>(check: F, every: Duration) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bool> + Send + 'static,
    {
        Probe {
            check: Arc::new(move || Box::pin(check()) as ProbeFuture),
            every,
            timeout: None,
        }
    }

    fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(self.every)
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("every", &self.every)
            .field("timeout", &self.timeout())
            .finish_non_exhaustive()
    }
}

/// A breaker's probing: whether its task runs, and the signal that the breaker left
/// `Open` (or was dropped), which ends the task at once.
#[derive(Debug, Default)]
pub(crate) struct Probing {
    running: AtomicBool,
    left_open: Arc<Notify>,
}

impl Probing {
    /// The breaker left `Open`: a probe task ends now.
    pub(crate) fn left_open(&self) {
        self.left_open.notify_waiters();
    }
}

impl Drop for Probing {
    fn drop(&mut self) {
        // The breaker is gone: its task wakes, finds no breaker and ends.
        self.left_open.notify_waiters();
    }
}

/// The breaker `me` just opened: starts its probe task on the current tokio runtime,
/// unless one runs already (or there is no runtime: no probing then).
pub(crate) fn start(shared: &Shared, me: &std::sync::Weak<Shared>, probe: &Probe) {
    let probing = shared.probing();
    if probing
        .running
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        probing.running.store(false, Ordering::Release);
        return;
    };
    runtime.spawn(probe_while_open(
        me.clone(),
        probing.left_open.clone(),
        probe.clone(),
    ));
}

/// Probes at each interval while the breaker is open, one probe at a time.
async fn probe_while_open(me: std::sync::Weak<Shared>, left: Arc<Notify>, probe: Probe) {
    let mut next = Instant::now() + probe.every;
    loop {
        let notified = left.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if !still_open(&me) {
            return finish(&me);
        }
        // Until the next probe, or until the breaker leaves Open.
        if !race(&mut notified, tokio::time::sleep_until(next)).await {
            continue; // woken: look again
        }
        let Some(check) = me
            .upgrade()
            .filter(|s| s.state() == CircuitState::Open)
            .map(|_| (probe.check)())
        else {
            return finish(&me);
        };
        // The breaker is not held while the probe runs (it may be dropped meanwhile).
        let answer = tokio::time::timeout(probe.timeout(), check);
        let healthy = match race_value(&mut notified, answer).await {
            None => continue, // left Open meanwhile: the answer no longer matters
            Some(answer) => answer.unwrap_or(false), // a slow probe is unhealthy
        };
        let Some(shared) = me.upgrade() else { return };
        if shared.state() != CircuitState::Open {
            drop(shared);
            return finish(&me);
        }
        shared.stats.emit(|| EventKind::Probe { healthy });
        if healthy {
            shared.probe_healthy();
            drop(shared);
            return finish(&me);
        }
        next += probe.every;
        let now = Instant::now();
        if next < now {
            next = now;
        }
    }
}

fn still_open(me: &std::sync::Weak<Shared>) -> bool {
    me.upgrade()
        .is_some_and(|s| s.state() == CircuitState::Open)
}

/// The task ends: it is marked so, and started again if the breaker opened again in
/// the meantime (an opening that found it still running started none).
fn finish(me: &std::sync::Weak<Shared>) {
    let Some(shared) = me.upgrade() else { return };
    shared.probing().running.store(false, Ordering::Release);
    if shared.state() == CircuitState::Open {
        shared.start_probing();
    }
}

/// Waits for `until`: `true` when it is ready, `false` when `notified` fires first.
async fn race(
    notified: &mut Pin<&mut tokio::sync::futures::Notified<'_>>,
    until: impl Future,
) -> bool {
    race_value(notified, until).await.is_some()
}

/// `until`'s output, or `None` when `notified` fires first.
async fn race_value<T>(
    notified: &mut Pin<&mut tokio::sync::futures::Notified<'_>>,
    until: impl Future<Output = T>,
) -> Option<T> {
    let mut until = std::pin::pin!(until);
    std::future::poll_fn(|cx| {
        if notified.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        until.as_mut().poll(cx).map(Some)
    })
    .await
}
