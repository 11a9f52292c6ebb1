//! Integrations with the ecosystem, each behind its cargo feature.

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "redis")]
pub mod cluster;
#[cfg(feature = "config")]
pub(crate) mod config;
#[cfg(feature = "metrics")]
pub mod metrics;
#[cfg(feature = "reqwest")]
pub mod reqwest;
#[cfg(feature = "tower")]
pub mod tower;
#[cfg(feature = "tracing")]
pub(crate) mod tracing;
