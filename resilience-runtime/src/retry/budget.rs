//! Retry budgets: retries may number at most a share of the calls, so that retrying
//! never multiplies the load on a backend that is already failing.

use std::borrow::Cow;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::ConfigError;
use crate::stats::{Count, Counters};

/// A retry budget's settings, as `#[retry(budget(ratio = 0.2, min_per_sec = 10,
/// window = "10s"))]` writes them (`Budget::default()` is `#[retry(budget)]`).
///
/// Retries, shared by every retry of one name, may number at most `ratio` × the calls
/// begun in the last `window`, plus `min_per_sec` × the window's seconds (so that a
/// little traffic can still retry). A retry over the budget is skipped: the call
/// returns its last error and [`EventKind::RetryBudgetExhausted`] is emitted. This is
/// Finagle's `RetryBudget` and tower's `TpsBudget`.
///
/// [`EventKind::RetryBudgetExhausted`]: crate::events::EventKind::RetryBudgetExhausted
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Budget {
    /// Retries allowed per call begun (0 to 10). Default 0.2: one retry per five calls.
    pub ratio: f64,
    /// Retries allowed per second of the window whatever the traffic. Default 10.
    pub min_per_sec: u32,
    /// How long a call's deposit and a retry's withdrawal count. Default 10s.
    pub window: Duration,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            ratio: 0.2,
            min_per_sec: 10,
            window: Duration::from_secs(10),
        }
    }
}

impl Budget {
    /// A budget of `ratio` retries per call, plus `min_per_sec` per second, over
    /// `window`.
    pub fn new(ratio: f64, min_per_sec: u32, window: Duration) -> Self {
        Budget {
            ratio,
            min_per_sec,
            window,
        }
    }

    /// What is wrong with the settings, if anything.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if !(0.0..=10.0).contains(&self.ratio) {
            return Err(ConfigError::new(
                "retry",
                "budget",
                "`ratio` must be from 0 to 10 (retries allowed per call)",
            ));
        }
        if self.window.is_zero() {
            return Err(ConfigError::new(
                "retry",
                "budget",
                "`window` must be longer than 0s, e.g. 10s",
            ));
        }
        Ok(())
    }

    /// The settings moved into their valid ranges (for settings given as expressions).
    pub(crate) fn clamped(self) -> Self {
        Budget {
            ratio: if self.ratio.is_nan() {
                0.0
            } else {
                self.ratio.clamp(0.0, 10.0)
            },
            min_per_sec: self.min_per_sec,
            window: self.window.max(Duration::from_millis(1)),
        }
    }
}

/// The window is kept as this many slots, each a tenth of it: deposits and
/// withdrawals expire a slot at a time.
const SLOTS: usize = 10;

/// A retry budget's state, shared by every retry of one name (see [`Budget`]).
///
/// A call that succeeds at once deposits with one addition to a per-thread counter
/// (no shared write, no clock); a call whose first attempt fails deposits, and each
/// retry withdraws, in the window itself, which reads the clock and takes a lock no
/// successful call touches.
pub struct RetryBudget {
    settings: Budget,
    /// Calls that succeeded at once, counted per thread.
    deposits: Counters,
    window: Mutex<Window>,
    epoch: Instant,
    slot: Duration,
}

/// The sliding window, slot by slot.
struct Window {
    /// The slot last brought up to date.
    current: u64,
    /// Per slot (by number modulo [`SLOTS`]): the deposits counted when it began, as
    /// first seen (a slot without any withdrawal begins when the next one does, so
    /// its deposits count towards the earlier slot and expire sooner, never later).
    began_at: [u64; SLOTS],
    /// Per slot: the calls whose first attempt failed in it.
    deposited: [u64; SLOTS],
    /// Per slot: the retries withdrawn in it.
    withdrawn: [u64; SLOTS],
}

impl RetryBudget {
    /// A budget with `settings` (clamped into their valid ranges).
    pub fn new(settings: Budget) -> Self {
        let settings = settings.clamped();
        let slot = (settings.window / SLOTS as u32).max(Duration::from_nanos(1));
        RetryBudget {
            settings,
            deposits: Counters::default(),
            window: Mutex::new(Window {
                current: 0,
                began_at: [0; SLOTS],
                deposited: [0; SLOTS],
                withdrawn: [0; SLOTS],
            }),
            epoch: Instant::now(),
            slot,
        }
    }

    /// The settings.
    pub fn settings(&self) -> Budget {
        self.settings
    }

    /// A call that succeeded at its first attempt: one deposit, per thread.
    #[inline]
    pub fn deposit(&self) {
        self.deposits.add(Count::Success);
    }

    /// A call whose first attempt failed: one deposit, dated now.
    pub fn deposit_failed(&self) {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        self.in_window(&mut w);
        let current = w.current;
        w.deposited[(current % SLOTS as u64) as usize] += 1;
    }

    /// Takes one retry from the budget if it has one; `false` when it is spent.
    pub fn withdraw(&self) -> bool {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let (deposits, withdrawn) = self.in_window(&mut w);
        let allowed = self.settings.ratio * deposits as f64 + self.reserve();
        if (withdrawn as f64) + 1.0 > allowed {
            return false;
        }
        let current = w.current;
        w.withdrawn[(current % SLOTS as u64) as usize] += 1;
        true
    }

    /// Retries the budget would allow now.
    pub fn available(&self) -> u64 {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let (deposits, withdrawn) = self.in_window(&mut w);
        let allowed = self.settings.ratio * deposits as f64 + self.reserve();
        (allowed - withdrawn as f64).max(0.0).floor() as u64
    }

    /// `min_per_sec` × the window's seconds.
    fn reserve(&self) -> f64 {
        f64::from(self.settings.min_per_sec) * self.settings.window.as_secs_f64()
    }

    /// Brings the window up to now: the deposits and withdrawals of its slots.
    fn in_window(&self, w: &mut Window) -> (u64, u64) {
        let total = self.deposits.get(Count::Success);
        let now = Instant::now().saturating_duration_since(self.epoch);
        let slot = (now.as_nanos() / self.slot.as_nanos()) as u64;
        if slot > w.current {
            let stale = (slot - w.current).min(SLOTS as u64);
            for k in 0..stale {
                let i = ((slot - k) % SLOTS as u64) as usize;
                w.began_at[i] = total;
                w.deposited[i] = 0;
                w.withdrawn[i] = 0;
            }
            w.current = slot;
        }
        // The window is the current slot and the SLOTS - 1 before it: its deposits
        // are those since the oldest of them began.
        let oldest = ((slot + 1) % SLOTS as u64) as usize;
        let oldest_began = if slot + 1 < SLOTS as u64 {
            0 // the window reaches back to the budget's creation
        } else {
            w.began_at[oldest]
        };
        let withdrawn = w.withdrawn.iter().sum();
        let deposited: u64 = w.deposited.iter().sum();
        (total.saturating_sub(oldest_began) + deposited, withdrawn)
    }
}

impl std::fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryBudget")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Every retry budget, by the name of the retries that share it.
static BUDGETS: crate::named::Registry<&'static RetryBudget> = crate::named::Registry::new();

/// The budget of the retries named `name`, registered with `settings` on first use
/// (the first settings registered under a name win). Budgets live as long as the
/// program, as the registry that lists them, so a `Retry` holding one (the attribute
/// builds one per attempt) has nothing to drop.
pub(crate) fn register(name: Cow<'static, str>, settings: Budget) -> &'static RetryBudget {
    BUDGETS
        .get_or_insert_with(name, || &*Box::leak(Box::new(RetryBudget::new(settings))))
        .0
}
