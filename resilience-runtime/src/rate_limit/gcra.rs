//! GCRA (the generic cell rate algorithm) on one atomic word.
//!
//! A limiter's state is its **theoretical arrival time** `tat`: the instant, in
//! nanoseconds since the limiter's epoch (with feature `quanta`, TSC ticks), at which
//! it would be back to empty if no further call came. With `T` the interval between calls at the steady rate and
//! `tau = T × (burst − 1)` the tolerance, a call at `now`:
//!
//! - is admitted at once if `now >= tat − tau`, and then `tat = max(tat, now) + T`;
//! - else it could be admitted at `tat − tau`: `retry_after = tat − tau − now`. If
//!   that is within the call's `max_wait`, its slot is **reserved** now (`tat += T`,
//!   exactly as if admitted) and the call sleeps until it; otherwise it is refused and
//!   the state is left as it was.
//!
//! The state starts at 0, so a new limiter (or a new key) allows a full burst at once.
//! Each decision is one compare-and-swap of `tat`; a refusal writes nothing.
//!
//! A call of cost `n` (1 ≤ n ≤ burst) takes `n` slots at once: it is admitted when
//! `now >= tat + (n − 1) × T − tau`, and sets `tat = max(tat, now) + n × T`; with
//! `n = 1` this is the rule above. It is still one compare-and-swap of the same word.

use crate::sync::{AtomicU64, Ordering};

/// A limiter's fixed parameters, in the units of its clock (nanoseconds; with feature
/// `quanta`, TSC ticks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    /// `T`: the interval between calls at the steady rate (at least 1).
    pub(crate) interval: u64,
    /// `tau = T × (burst − 1)`, saturating.
    pub(crate) tau: u64,
    /// The longest a call may wait for its slot.
    pub(crate) max_wait: u64,
}

/// What the limiter decided for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Admitted now.
    Now,
    /// Admitted at `at` (clock units since the epoch), `wait` from now; the state
    /// moved from `prev` to `reserved`.
    Wait {
        at: u64,
        wait: u64,
        prev: u64,
        reserved: u64,
    },
    /// Refused: a call is admitted `retry_after` (clock units) from now.
    Refused { retry_after: u64 },
}

impl Quota {
    /// Decides one call at `now`, waiting at most `max_wait`.
    #[inline]
    pub(crate) fn decide(&self, tat: &AtomicU64, now: u64, max_wait: u64) -> Decision {
        let mut current = tat.load(Ordering::Relaxed);
        loop {
            let earliest = current.saturating_sub(self.tau);
            let wait = earliest.saturating_sub(now);
            if wait > max_wait {
                return Decision::Refused { retry_after: wait };
            }
            let next = current.max(now).saturating_add(self.interval);
            match tat.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) if wait == 0 => return Decision::Now,
                Ok(_) => {
                    return Decision::Wait {
                        at: earliest,
                        wait,
                        prev: current,
                        reserved: next,
                    };
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Decides one call of cost `n` (1 ≤ n ≤ burst, checked by the caller) at `now`,
    /// waiting at most `max_wait`: [`decide`](Self::decide) with `n` slots taken at
    /// once.
    #[inline]
    pub(crate) fn decide_n(&self, tat: &AtomicU64, now: u64, max_wait: u64, n: u32) -> Decision {
        let increment = self.interval.saturating_mul(u64::from(n));
        // The first slot is the one `tau` allows; the other `n - 1` follow it.
        let extra = increment - self.interval;
        let mut current = tat.load(Ordering::Relaxed);
        loop {
            let earliest = current.saturating_add(extra).saturating_sub(self.tau);
            let wait = earliest.saturating_sub(now);
            if wait > max_wait {
                return Decision::Refused { retry_after: wait };
            }
            let next = current.max(now).saturating_add(increment);
            match tat.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) if wait == 0 => return Decision::Now,
                Ok(_) => {
                    return Decision::Wait {
                        at: earliest,
                        wait,
                        prev: current,
                        reserved: next,
                    };
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// How many calls would be admitted at once at `now`.
    pub(crate) fn available(&self, tat: &AtomicU64, now: u64) -> u64 {
        let current = tat.load(Ordering::Relaxed);
        // Calls fit while tat − tau <= now, tat growing by T per call.
        let room = now.saturating_add(self.tau).saturating_add(self.interval);
        room.saturating_sub(current.max(now)) / self.interval
    }
}

/// A slot reserved for a waiting call. Dropped before [`keep`](Self::keep) (the call
/// was cancelled while it waited), it gives the slot back if no later call reserved
/// one since; otherwise the slot stays used, which keeps every later reservation valid.
pub(crate) struct Reservation<'a> {
    tat: &'a AtomicU64,
    prev: u64,
    reserved: u64,
}

impl<'a> Reservation<'a> {
    pub(crate) fn new(tat: &'a AtomicU64, prev: u64, reserved: u64) -> Self {
        Reservation {
            tat,
            prev,
            reserved,
        }
    }

    /// The call went ahead: the slot is used.
    pub(crate) fn keep(self) {
        std::mem::forget(self);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let _ = self.tat.compare_exchange(
            self.reserved,
            self.prev,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}
