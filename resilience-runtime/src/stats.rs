//! Every policy's monotonic counters, and the name and kind events are told under.
//!
//! The counters that grow on every call (successes above all) must not add a shared
//! write to a call path that had none: a closed breaker that succeeds only reads. So
//! each thread counts in a block of its own (a *stripe*, on cache lines no other
//! thread writes), with a plain load and store, and a reader sums the stripes. A
//! thread takes a stripe on its first count and gives it back when it ends, for the
//! next thread to continue; threads beyond the stripes at once, and threads counting
//! while they end, share one more block that is written with atomic additions.
//!
//! A policy that keeps nothing but counters (retry, fallback) counts in the annotated
//! function's own [`Site`], summed into the policy's [`Stats`] when read, so that a
//! call needs no check that the policy is registered. The lifecycle's counts of running
//! bodies are per stripe too ([`THREAD_COUNTS`]), reached through a pointer the thread
//! keeps.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::CircuitState;
use crate::events::{self, EventKind, PolicyKind};
use crate::registry::TransitionCount;

/// What a policy counts. Each kind uses the ones that make sense for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Count {
    /// The body ran and returned `Ok`.
    Success,
    /// The body ran and returned `Err` (that counts, for a breaker).
    Failure,
    /// Refused without running the body.
    Rejected,
    /// A timeout passed first.
    Timeout,
    /// A breaker's error that `record_if` leaves out.
    Ignored,
    /// Retry: attempts after the first. Fallback: answers served. Hedge: copies
    /// started. Cache: fresh hits.
    Extra1,
    /// Retry: calls whose every attempt failed. Cache: stale answers.
    Extra2,
    /// Retry: retries skipped by the budget.
    Extra3,
}

impl Count {
    /// A body's outcome, as a success or a failure.
    #[inline(always)]
    pub(crate) fn of<T, E>(result: &Result<T, E>) -> Self {
        if result.is_ok() {
            Count::Success
        } else {
            Count::Failure
        }
    }
}

const FIELDS: usize = 8;

/// Stripes a policy's counters have: one per thread counting at once, for twice as
/// many threads as the machine has cores (8 to 64), decided once.
fn stripes() -> usize {
    static STRIPES: OnceLock<usize> = OnceLock::new();
    *STRIPES.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(4, usize::from);
        (cores * 2).clamp(8, MAX_STRIPES)
    })
}

/// One thread's counts (or the shared block's), on cache lines of their own.
#[repr(align(128))]
#[derive(Default)]
struct Block([AtomicU64; FIELDS]);

impl Block {
    /// Adds one to `what`, from the one thread that writes this block: a load and a
    /// store, no read-modify-write.
    #[inline(always)]
    fn bump(&self, what: Count) {
        let cell = &self.0[what as usize];
        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

/// The sum of `what` over `blocks`, from `start`.
fn sum(blocks: &[Block], what: Count, start: u64) -> u64 {
    blocks
        .iter()
        .map(|b| b.0[what as usize].load(Ordering::Relaxed))
        .fold(start, u64::wrapping_add)
}

/// A policy's counters, per thread, summed when read. Every stripe is made with the
/// policy, so counting never allocates.
pub(crate) struct Counters {
    stripes: Box<[Block]>,
    shared: Block,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            stripes: (0..stripes()).map(|_| Block::default()).collect(),
            shared: Block::default(),
        }
    }
}

impl std::fmt::Debug for Counters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
}

impl Counters {
    /// Adds one to `what`.
    #[inline(always)]
    pub(crate) fn add(&self, what: Count) {
        match self.stripes.get(thread_stripe()) {
            Some(block) => block.bump(what),
            None => self.add_slow(what),
        }
    }

    #[cold]
    #[inline(never)]
    fn add_slow(&self, what: Count) {
        match self.stripes.get(assign_thread_stripe()) {
            Some(block) => block.bump(what),
            None => {
                self.shared.0[what as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The sum over every thread.
    pub(crate) fn get(&self, what: Count) -> u64 {
        let shared = self.shared.0[what as usize].load(Ordering::Relaxed);
        sum(&self.stripes, what, shared)
    }
}

/// The most stripes there are (see [`stripes`]).
pub(crate) const MAX_STRIPES: usize = 64;

/// This thread's stripe: below [`MAX_STRIPES`] once it has one, else a value no
/// stripe has (then see [`assign_thread_stripe`]).
#[inline(always)]
pub(crate) fn thread_stripe() -> usize {
    THREAD.with(|t| t.stripe.get())
}

/// This thread's stripe, taking one if it has none yet; a value no stripe has when
/// none is free (count in a shared block then).
#[cold]
pub(crate) fn assign_thread_stripe() -> usize {
    match thread_stripe() {
        UNASSIGNED => assign_stripe(),
        stripe => stripe,
    }
}

/// A thread that has not counted yet.
const UNASSIGNED: usize = usize::MAX;
/// A thread counting into the shared block (no stripe free, or it is ending).
const SHARED: usize = usize::MAX - 1;

/// Counts kept per thread rather than per policy (the lifecycle's bodies started and
/// ended): one block per stripe, on cache lines of their own, and one shared block.
#[repr(align(128))]
pub(crate) struct ThreadCounts(pub(crate) [AtomicU64; 2]);

#[allow(clippy::declare_interior_mutable_const)] // each element is its own block
const THREAD_BLOCK: ThreadCounts = ThreadCounts([AtomicU64::new(0), AtomicU64::new(0)]);

/// Per stripe, written by the stripe's thread only.
pub(crate) static THREAD_COUNTS: [ThreadCounts; MAX_STRIPES] = [THREAD_BLOCK; MAX_STRIPES];
/// For threads without a stripe, written with atomic additions.
pub(crate) static SHARED_THREAD_COUNTS: ThreadCounts = THREAD_BLOCK;

/// This thread's block of [`THREAD_COUNTS`], once it has a stripe (and until it ends):
/// the one load its counts need, where an index would need a bounds check too.
#[inline(always)]
pub(crate) fn own_thread_counts() -> Option<&'static ThreadCounts> {
    THREAD.with(|t| t.own_counts.get())
}

/// What a thread knows of its stripe. One thread-local for both, so that a call that
/// counts in both finds them from one address.
struct ThreadStripe {
    /// This thread's stripe.
    stripe: Cell<usize>,
    /// Its block of [`THREAD_COUNTS`], set and cleared with the stripe.
    own_counts: Cell<Option<&'static ThreadCounts>>,
}

thread_local! {
    /// No destructor, so it can be read while the thread ends.
    static THREAD: ThreadStripe = const {
        ThreadStripe {
            stripe: Cell::new(UNASSIGNED),
            own_counts: Cell::new(None),
        }
    };
    /// Gives the stripe back when the thread ends.
    static OWNER: StripeOwner = const { StripeOwner(Cell::new(UNASSIGNED)) };
}

/// Stripes given back by threads that ended, for the next threads to take.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static NEXT: AtomicUsize = AtomicUsize::new(0);

struct StripeOwner(Cell<usize>);

impl Drop for StripeOwner {
    fn drop(&mut self) {
        let stripe = self.0.get();
        // Counts made from here on (by later destructors) go to the shared block.
        let _ = THREAD.try_with(|t| {
            t.stripe.set(SHARED);
            t.own_counts.set(None);
        });
        if stripe < stripes() {
            // The thread's last store happens before the push: the next owner of the
            // stripe, who pops under the same lock, continues from its counts.
            FREE.lock().unwrap_or_else(|e| e.into_inner()).push(stripe);
        }
    }
}

fn assign_stripe() -> usize {
    let stripe = {
        let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
        free.pop().unwrap_or_else(|| {
            let next = NEXT.fetch_add(1, Ordering::Relaxed);
            if next < stripes() { next } else { SHARED }
        })
    };
    // A thread that is already ending cannot own a stripe: it would never give it back.
    let owned = stripe < stripes() && OWNER.try_with(|o| o.0.set(stripe)).is_ok();
    let stripe = if owned {
        stripe
    } else {
        if stripe < stripes() {
            FREE.lock().unwrap_or_else(|e| e.into_inner()).push(stripe);
        }
        SHARED
    };
    let _ = THREAD.try_with(|t| {
        t.stripe.set(stripe);
        t.own_counts.set(THREAD_COUNTS.get(stripe));
    });
    stripe
}

/// A policy's identity for events and listings, and its counters.
#[derive(Debug)]
pub struct Stats {
    pub(crate) kind: PolicyKind,
    pub(crate) name: Cow<'static, str>,
    pub(crate) counters: Counters,
    /// Breakers: state changes by `from` and `to` (rare: a lock is fine).
    transitions: Mutex<Vec<TransitionCount>>,
    /// Retry and fallback: the functions counting under this name, summed when read.
    sites: Mutex<Vec<&'static Site>>,
    /// Retry and timeout: settings given by configuration (feature `config`).
    #[cfg(feature = "config")]
    pub(crate) live: crate::integrations::config::Slot,
}

impl Stats {
    pub(crate) fn new(kind: PolicyKind, name: Cow<'static, str>) -> Self {
        Stats {
            kind,
            name,
            counters: Counters::default(),
            transitions: Mutex::new(Vec::new()),
            sites: Mutex::new(Vec::new()),
            #[cfg(feature = "config")]
            live: crate::integrations::config::Slot::new(),
        }
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds one to `what`.
    #[inline(always)]
    pub(crate) fn add(&self, what: Count) {
        self.counters.add(what);
    }

    /// Counts a body's outcome as a success or a failure.
    #[inline(always)]
    pub(crate) fn outcome<T, E>(&self, result: &Result<T, E>) {
        self.add(Count::of(result));
    }

    /// The count of `what`, over every thread (and every function counting here).
    pub(crate) fn get(&self, what: Count) -> u64 {
        let sites = self.sites.lock().unwrap_or_else(|e| e.into_inner());
        sites
            .iter()
            .map(|site| site.get(what))
            .fold(self.counters.get(what), u64::wrapping_add)
    }

    /// Counts a breaker's change of state.
    pub(crate) fn transition(&self, from: CircuitState, to: CircuitState) {
        let mut all = self.transitions.lock().unwrap_or_else(|e| e.into_inner());
        match all.iter_mut().find(|t| t.from == from && t.to == to) {
            Some(t) => t.count += 1,
            None => all.push(TransitionCount { from, to, count: 1 }),
        }
    }

    /// Tells listeners of an event of this policy, if anyone listens.
    #[inline]
    pub(crate) fn emit(&self, kind: impl FnOnce() -> EventKind) {
        events::emit(self.kind, &self.name, kind);
    }

    /// [`emit`](Self::emit) for an event dated `at`.
    #[inline]
    pub(crate) fn emit_at(&self, at: tokio::time::Instant, kind: impl FnOnce() -> EventKind) {
        events::emit_at(self.kind, &self.name, at, kind);
    }
}

impl Stats {
    /// A snapshot of the counters every kind keeps; the policy adds its own state.
    pub(crate) fn snapshot(&self) -> crate::registry::PolicySnapshot {
        let mut s = crate::registry::PolicySnapshot::new(self.kind, self.name.clone());
        s.successes = self.get(Count::Success);
        s.failures = self.get(Count::Failure);
        s.rejections = self.get(Count::Rejected);
        s.timeouts = self.get(Count::Timeout);
        s.ignored = self.get(Count::Ignored);
        s.calls = s.successes + s.failures + s.rejections + s.timeouts + s.ignored;
        s.transitions = self
            .transitions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (extra1, extra2, extra3) = (
            self.get(Count::Extra1),
            self.get(Count::Extra2),
            self.get(Count::Extra3),
        );
        match self.kind {
            PolicyKind::Retry => {
                s.retries = extra1;
                s.retries_exhausted = extra2;
                s.retry_budget_exhausted = extra3;
            }
            PolicyKind::Fallback => s.fallbacks = extra1,
            PolicyKind::Hedge => s.hedges = extra1,
            PolicyKind::Cache => {
                s.cache_hits_fresh = extra1;
                s.cache_hits_stale = extra2;
            }
            _ => {}
        }
        s
    }
}

/// One annotated function's counters for a policy that keeps nothing else (retry,
/// fallback), in a `static` of its own: a call counts there with no check that the
/// policy is registered, and the policy's [`Stats`] sum every function's counters when
/// read. A stripe's count is never zero once the function has counted there, so a zero
/// is the one check for both "first count here" and "register the policy": one branch
/// and one call out of line.
///
/// All zeros when made (no file space), and only the pages of the stripes that threads
/// count in are ever touched.
pub struct Site {
    /// The policy's counters once registered, else null. A pointer rather than a
    /// `OnceLock`, so that the whole `static` is zeros (in `.bss`, not in the binary).
    stats: AtomicPtr<Stats>,
    stripes: [Block; MAX_STRIPES],
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site").finish_non_exhaustive()
    }
}

impl Default for Site {
    fn default() -> Self {
        Self::new()
    }
}

impl Site {
    /// A function's counters, empty; the policy is registered on the first count.
    #[must_use]
    pub const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)] // each element is its own block
        const EMPTY: Block = Block([const { AtomicU64::new(0) }; FIELDS]);
        Site {
            stats: AtomicPtr::new(std::ptr::null_mut()),
            stripes: [EMPTY; MAX_STRIPES],
        }
    }

    /// Adds one to `what`, registering the policy (`init`) on the function's first call.
    #[inline(always)]
    pub(crate) fn add(&'static self, what: Count, init: impl FnOnce() -> &'static Stats) {
        if let Some(block) = self.stripes.get(thread_stripe()) {
            // Only this thread writes this stripe: no read-modify-write is needed.
            let cell = &block.0[what as usize];
            let n = cell.load(Ordering::Relaxed);
            if n != 0 {
                cell.store(n + 1, Ordering::Relaxed);
                return;
            }
        }
        self.add_slow(what, init);
    }

    #[cold]
    #[inline(never)]
    fn add_slow(&'static self, what: Count, init: impl FnOnce() -> &'static Stats) {
        let stats = self.stats(init);
        match self.stripes.get(assign_thread_stripe()) {
            Some(block) => block.bump(what),
            // No stripe: the policy's own counters take it (atomically).
            None => stats.add(what),
        }
    }

    /// The policy's counters, registered by `init` on the function's first call, with
    /// this function's counters added to what they sum.
    #[inline]
    pub(crate) fn stats(&'static self, init: impl FnOnce() -> &'static Stats) -> &'static Stats {
        let stats = self.stats.load(Ordering::Acquire);
        // SAFETY: `stats` is null or was made from a `&'static Stats` (below), stored
        // with release ordering: what it points to is initialized and lives forever.
        match unsafe { stats.as_ref() } {
            Some(stats) => stats,
            None => self.register(init),
        }
    }

    #[cold]
    #[inline(never)]
    fn register(&'static self, init: impl FnOnce() -> &'static Stats) -> &'static Stats {
        // `init` gives every caller the one `Stats` of the name; the lock makes the
        // function's counters join its sum once, however many threads get here first.
        let stats = init();
        let mut sites = stats.sites.lock().unwrap_or_else(|e| e.into_inner());
        if !sites.iter().any(|site| std::ptr::eq(*site, self)) {
            sites.push(self);
        }
        drop(sites);
        self.stats
            .store(std::ptr::from_ref(stats).cast_mut(), Ordering::Release);
        stats
    }

    /// The sum over every thread.
    fn get(&self, what: Count) -> u64 {
        sum(&self.stripes, what, 0)
    }
}

/// The policies that keep nothing but their counters (retry, timeout, fallback, and
/// the later stateless kinds), by kind and name.
static STATELESS: crate::named::Registry<&'static Stats> = crate::named::Registry::new();

/// The counters of the `kind` policy named `name`, registered on first use (functions
/// that give one name to one kind share them).
///
/// They live as long as the program, as the registry that lists them: a plain
/// `&'static` reference, so a policy that holds one (and the per-attempt `Retry` the
/// attribute builds) has nothing to drop.
pub(crate) fn register(kind: PolicyKind, name: Cow<'static, str>) -> &'static Stats {
    let key: Cow<'static, str> = Cow::Owned(format!("{kind}\u{0}{name}"));
    STATELESS
        .get_or_insert_with(key, || {
            let stats = Stats::new(kind, name);
            #[cfg(feature = "config")]
            crate::integrations::config::seed(kind, &stats.name, &stats.live);
            &*Box::leak(Box::new(stats))
        })
        .0
}

/// The counters of the `kind` policy named `name`, if it is registered.
#[cfg(feature = "config")]
pub(crate) fn find(kind: PolicyKind, name: &str) -> Option<&'static Stats> {
    STATELESS.get(&format!("{kind}\u{0}{name}"))
}

/// Every policy registered through [`register`].
pub(crate) fn registered() -> Vec<&'static Stats> {
    STATELESS.all().into_iter().map(|(_, s)| s).collect()
}
