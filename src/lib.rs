//! Support code for the workspace's examples and integration tests: not published.
//!
//! - [`Backend`]: a scripted HTTP server on loopback whose failure rate, latency and
//!   availability change over time ([`Script`], [`Phase`]), reproducibly (a seed).
//! - [`get`]: a tiny HTTP client for it.
#![deny(missing_docs)]

pub mod backend;
pub mod client;

pub use backend::{Backend, Outcome, Phase, Player, Reply, Script, Stats};
pub use client::{HttpError, get};

/// The README's code blocks, compiled and run as doc tests so the quick start stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
