//! Benchmarks of `resilience-runtime`'s attributes against the crates users would
//! pick instead: the shared cases, the one- and two-thread harness, and the
//! allocation counter. Not published.
//!
//! - [`cases`]: every attribute on the same trivial body, and the anchors configured
//!   the same way.
//! - [`harness`]: runs a case's calls with the runtime entered once per batch, on one
//!   thread or on two threads sharing one instance, keeping only two-thread samples
//!   in which both threads really ran at once.
//! - [`alloc`]: a counting global allocator and allocations per call.
//!
//! See `BENCHMARKS.md` at the repository root for the commands and the figures.

pub mod alloc;
pub mod cases;
pub mod harness;
pub mod results;
pub mod suite;
