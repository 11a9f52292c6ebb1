//! Fault-tolerance policies for async Rust, as attributes checked by the compiler.
//!
//! (Crate documentation is completed in `docs` below.)
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backoff;
mod bulkhead;
pub mod circuit_breaker;
mod config;
mod keyed;
mod rate_limit;
pub mod registry;
mod rejection;
pub mod retry;
mod sync;
pub mod timeout;

pub use backoff::{Backoff, Jitter};
pub use circuit_breaker::{CircuitBreaker, CircuitState, KeyedCircuitBreaker};
pub use config::ConfigError;
pub use rejection::{FromRejection, Rejection};
pub use retry::Retry;
pub use timeout::Timeout;

#[cfg(feature = "macros")]
pub use resilience_macros::{bulkhead, circuit_breaker, fallback, rate_limit, retry, timeout};

#[doc(hidden)]
pub mod __private;
