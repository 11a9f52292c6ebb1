//! The largest values the runtime honours, so that a literal beyond one is a compile
//! error that names it rather than a value the runtime clamps without a word (the
//! generated code builds every policy with `register_clamped`).
//!
//! This crate cannot depend on `resilience-runtime`, so each is a copy of the runtime's
//! constant or of the bound its types set. `tests/ui/pass/limits_at_maximum.rs` ties the
//! copies to the runtime: it asserts that each runtime constant has the value written
//! here, and that a literal at each limit compiles and reaches the policy unclamped;
//! the `tests/ui/fail/*_above_maximum.rs` cases show that one more is refused.

/// `window = count(N)`: `resilience_runtime::circuit_breaker::MAX_WINDOW_CALLS` (the
/// window's counters are packed 21 bits each).
pub(crate) const MAX_WINDOW_CALLS: u64 = 1_000_000;

/// `half_open_calls`: `resilience_runtime::circuit_breaker::MAX_HALF_OPEN_CALLS` (the
/// trial counters are packed 12 bits each).
pub(crate) const MAX_HALF_OPEN_CALLS: u64 = 4_095;

/// `max_concurrent` and the bounds of `adaptive(..)`:
/// `resilience_runtime::bulkhead::MAX_CONCURRENT` (`u32::MAX`: calls in flight are
/// counted in 32 bits).
pub(crate) const MAX_CONCURRENT: u64 = 4_294_967_295;

/// `max_waiting`: `resilience_runtime::bulkhead::MAX_WAITING` (2³¹ − 1).
pub(crate) const MAX_WAITING: u64 = 2_147_483_647;

/// Every other whole-number setting (`max_attempts`, `min_calls`,
/// `consecutive_failures`, `burst`, `max_keys`): the runtime takes them as `u32`
/// (`max_keys` as a `usize`, held to the same bound so that it means the same on every
/// target).
pub(crate) const MAX_COUNT: u64 = 4_294_967_295;

/// `max_hedges`: `resilience_runtime::hedge::MAX_HEDGES`.
pub(crate) const MAX_HEDGES: u64 = 10;

/// The longest duration, in nanoseconds: the policies keep time in 64-bit nanoseconds
/// (a breaker's open time and window, a rate limiter's slots and waits), and would cut
/// a longer one to this (about 584 years) without a word.
pub(crate) const MAX_DURATION_NANOS: u128 = 18_446_744_073_709_551_615;

/// The fastest rate: the limiter spaces calls by `period / count` whole nanoseconds,
/// at least 1 (`resilience_runtime::rate_limit::Rate`: at most 10⁹ calls a second).
pub(crate) const MIN_RATE_INTERVAL_NANOS: u128 = 1;

/// `"18446744073709551615ns (about 584 years)"`, for messages.
pub(crate) fn max_duration_text() -> String {
    format!("{MAX_DURATION_NANOS}ns (about 584 years)")
}

// The bounds the runtime's types set, as they are derived there.
const _: () = {
    assert!(MAX_CONCURRENT == u32::MAX as u64);
    assert!(MAX_COUNT == u32::MAX as u64);
    assert!(MAX_WAITING == (1 << 31) - 1);
    assert!(MAX_HALF_OPEN_CALLS == (1 << 12) - 1);
    assert!(MAX_WINDOW_CALLS < 1 << 21);
    assert!(MAX_DURATION_NANOS == u64::MAX as u128);
};
