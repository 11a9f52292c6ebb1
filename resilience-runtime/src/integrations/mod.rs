//! Integrations with the ecosystem, each behind its cargo feature.

#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "tracing")]
pub(crate) mod tracing;
