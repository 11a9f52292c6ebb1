//! Graceful stop and recovery: stop taking new work, let what is running finish within
//! a bound, and be back at once.
//!
//! From the moment [`drain`] is called:
//!
//! - a new call of a function carrying a policy that can refuse (`circuit_breaker`,
//!   `timeout`, `bulkhead`, `rate_limit`, or those policies used by hand) returns
//!   [`Rejection::ShuttingDown`] without running its body (counted as rejected, with a
//!   [`Rejected`](crate::events::EventKind::Rejected) event);
//! - calls waiting for a bulkhead slot or a rate-limit slot are sent away with it (a
//!   rate-limit slot they had reserved is given back);
//! - a retry in progress starts no further attempt (one sleeping between attempts
//!   wakes at once) and returns the error it has.
//!
//! `drain` resolves once no body of any annotated function is running, or when its
//! deadline has passed, and reports what it waited for. It cancels nothing: the calls
//! still running when it gives up go on (they are `abandoned`, for the caller to
//! decide, e.g. by ending the process). [`resume`] admits calls again at once.
//!
//! ```rust,standalone_crate
//! use std::time::Duration;
//! use resilience_runtime::{bulkhead, lifecycle, Rejection};
//!
//! #[bulkhead(max_concurrent = 4)]
//! async fn export(work: Duration) -> Result<(), Rejection> {
//!     tokio::time::sleep(work).await;
//!     Ok(())
//! }
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let running = tokio::spawn(export(Duration::from_secs(2)));
//! tokio::task::yield_now().await; // it starts
//! let report = lifecycle::drain(Duration::from_secs(30)).await;
//! assert_eq!((report.finished, report.abandoned), (1, 0));
//! assert_eq!(report.took, Duration::from_secs(2));
//! assert!(matches!(
//!     export(Duration::ZERO).await,
//!     Err(Rejection::ShuttingDown { .. })
//! ));
//! running.await.unwrap().unwrap();
//! lifecycle::resume();
//! assert!(export(Duration::ZERO).await.is_ok());
//! # }
//! ```
//!
//! # Costs
//!
//! Each body of an annotated function is counted as it starts and ends, per thread
//! (the counters of [`registry::snapshot`](crate::registry::snapshot) are kept the
//! same way): a load and a store on a cache line only this thread writes, no shared
//! write, and one relaxed load of the draining flag as it ends. A policy that can
//! refuse reads that flag once more when it admits a call. Figures are in
//! `BENCHMARKS.md`.
//!
//! By hand, the policies refuse and send waiters away as above; the work they run is
//! not counted as running unless it is wrapped in [`track`].

use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::events::EventKind;
use crate::rejection::Rejection;
use crate::stats::{
    Count, SHARED_THREAD_COUNTS, Stats, THREAD_COUNTS, ThreadCounts, own_thread_counts,
};

/// What [`drain`] waited for.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainReport {
    /// Calls running when `drain` began that ended before it resolved.
    pub finished: u64,
    /// Calls still running when it resolved (at its deadline); they go on.
    pub abandoned: u64,
    /// How long it waited.
    pub took: Duration,
}

/// Whether [`drain`] was called (and [`resume`] not since).
static DRAINING: AtomicBool = AtomicBool::new(false);
/// Woken when draining begins: waiters in bulkheads and rate limiters, sleeping
/// retries.
static BEGAN: Notify = Notify::const_new();
/// Woken when a body ends while draining.
static ENDED: Notify = Notify::const_new();
/// Threads blocked in a policy's wait (plain functions), woken when draining begins.
static BLOCKED: Mutex<Vec<(u64, std::thread::Thread)>> = Mutex::new(Vec::new());
static NEXT_BLOCKED: AtomicU64 = AtomicU64::new(0);

/// How often `drain` looks at the running count besides being told of each end (an
/// end can race with the start of the drain and go untold).
const LOOK_EVERY: Duration = Duration::from_millis(5);

/// Stops admitting new calls, sends waiters away, and waits until no body of any
/// annotated function is running or `deadline` has passed; see the
/// [module docs](self). Calling it again while draining waits again.
pub async fn drain(deadline: Duration) -> DrainReport {
    let start = Instant::now();
    DRAINING.store(true, Ordering::SeqCst);
    BEGAN.notify_waiters();
    wake_blocked();
    let at_start = running();
    let end = start.checked_add(deadline);
    loop {
        let ended = ENDED.notified();
        let mut ended = std::pin::pin!(ended);
        ended.as_mut().enable();
        if running() == 0 || end.is_some_and(|end| Instant::now() >= end) {
            break;
        }
        let look = Instant::now() + LOOK_EVERY;
        let wake = end.map_or(look, |end| end.min(look));
        let mut look = std::pin::pin!(tokio::time::sleep_until(wake));
        std::future::poll_fn(|cx| {
            if ended.as_mut().poll(cx).is_ready() || look.as_mut().poll(cx).is_ready() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
    let abandoned = running().min(at_start);
    DrainReport {
        finished: at_start - abandoned,
        abandoned,
        took: start.elapsed(),
    }
}

/// Admits calls again at once, after a [`drain`].
pub fn resume() {
    DRAINING.store(false, Ordering::SeqCst);
}

/// Whether [`drain`] was called and [`resume`] not since.
#[inline]
pub fn is_draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// Counts `future` as running (from its first poll until it completes or is dropped)
/// for [`drain`], as the body of an annotated function is: for work run through the
/// policies by hand.
pub async fn track<F: Future>(future: F) -> F::Output {
    // Counted at the first poll and given back when the body ends or is dropped, with
    // no flag to keep: the attributes' bodies are counted the same way.
    let _running = Running::enter();
    future.await
}

/// One body running, counted from its making until it is dropped. The attributes
/// make it as the first statement of the body (so it is made at the body's first
/// poll, and dropped when the body completes or is cancelled): no flag to keep.
#[doc(hidden)]
#[derive(Debug)]
pub struct Running(());

impl Running {
    #[inline(always)]
    pub(crate) fn enter() -> Self {
        count(STARTED);
        Running(())
    }
}

impl Drop for Running {
    #[inline(always)]
    fn drop(&mut self) {
        end();
    }
}

/// A body ended: counted, and told to a drain waiting for it. One branch and one call
/// out of line for both, so that a small function stays small enough to inline.
#[inline(always)]
fn end() {
    match own_thread_counts() {
        Some(block) if !is_draining() => add(block, ENDED_FIELD),
        _ => end_slow(),
    }
}

#[cold]
#[inline(never)]
fn end_slow() {
    match own_thread_counts() {
        Some(block) => add(block, ENDED_FIELD),
        None => count_slow(ENDED_FIELD),
    }
    if is_draining() {
        ENDED.notify_waiters();
    }
}

const STARTED: usize = 0;
const ENDED_FIELD: usize = 1;

#[inline(always)]
fn count(field: usize) {
    match own_thread_counts() {
        Some(block) => add(block, field),
        None => count_slow(field),
    }
}

/// Adds one to `field` of this thread's own block.
#[inline(always)]
fn add(block: &ThreadCounts, field: usize) {
    // Only this thread writes its block: no read-modify-write. Release, so that whoever
    // sees an end also sees its start (the task may have moved threads).
    let cell = &block.0[field];
    cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Release);
}

#[cold]
#[inline(never)]
fn count_slow(field: usize) {
    match THREAD_COUNTS.get(crate::stats::assign_thread_stripe()) {
        Some(block) => add(block, field),
        None => {
            SHARED_THREAD_COUNTS.0[field].fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Bodies running now: every end is read before every start, so that an end seen is
/// never without its start (the count errs high, never low).
fn running() -> u64 {
    let sum = |field: usize| {
        THREAD_COUNTS
            .iter()
            .chain(std::iter::once(&SHARED_THREAD_COUNTS))
            .map(|b| b.0[field].load(Ordering::Acquire))
            .fold(0u64, u64::wrapping_add)
    };
    let ended = sum(ENDED_FIELD);
    let started = sum(STARTED);
    started.wrapping_sub(ended).min(i64::MAX as u64)
}

/// The rejection of a call refused because of a drain, counted and told under `stats`.
#[cold]
#[inline(never)]
pub(crate) fn refuse(stats: &Stats) -> Rejection {
    stats.add(Count::Rejected);
    let rejection = Rejection::ShuttingDown {
        name: stats.name.clone(),
    };
    stats.emit(|| EventKind::Rejected {
        rejection: rejection.clone(),
    });
    rejection
}

/// Resolves when draining begins (at once if it has).
pub(crate) async fn began() {
    let notified = BEGAN.notified();
    let mut notified = std::pin::pin!(notified);
    notified.as_mut().enable();
    if is_draining() {
        return;
    }
    notified.await;
}

/// Sleeps `d` unless draining begins first: `false` then.
pub(crate) async fn sleep(d: Duration) -> bool {
    if is_draining() {
        return false;
    }
    let mut began = std::pin::pin!(began());
    let mut slept = std::pin::pin!(tokio::time::sleep(d));
    std::future::poll_fn(|cx| {
        if began.as_mut().poll(cx).is_ready() {
            Poll::Ready(false)
        } else if slept.as_mut().poll(cx).is_ready() {
            Poll::Ready(true)
        } else {
            Poll::Pending
        }
    })
    .await
}

/// Blocks the thread for `d` unless draining begins first: `false` then.
pub(crate) fn sleep_blocking(d: Duration) -> bool {
    let Some(end) = std::time::Instant::now().checked_add(d) else {
        let _blocked = Blocked::register();
        while !is_draining() {
            std::thread::park();
        }
        return false;
    };
    let _blocked = Blocked::register();
    loop {
        if is_draining() {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= end {
            return true;
        }
        std::thread::park_timeout(end - now);
    }
}

/// A thread registered to be unparked when draining begins, while this lives.
pub(crate) struct Blocked(u64);

impl Blocked {
    pub(crate) fn register() -> Self {
        let id = NEXT_BLOCKED.fetch_add(1, Ordering::Relaxed);
        let mut blocked = BLOCKED.lock().unwrap_or_else(|e| e.into_inner());
        blocked.push((id, std::thread::current()));
        Blocked(id)
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let mut blocked = BLOCKED.lock().unwrap_or_else(|e| e.into_inner());
        blocked.retain(|(id, _)| *id != self.0);
    }
}

fn wake_blocked() {
    let blocked = BLOCKED.lock().unwrap_or_else(|e| e.into_inner());
    for (_, thread) in blocked.iter() {
        thread.unpark();
    }
}
