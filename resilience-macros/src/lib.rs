//! Attribute macros for `resilience-runtime`. Depend on `resilience-runtime` and use
//! the macros it re-exports.

use proc_macro::TokenStream;

/// See `resilience_runtime`'s documentation.
#[proc_macro_attribute]
pub fn retry(_args: TokenStream, item: TokenStream) -> TokenStream { item }
/// See `resilience_runtime`'s documentation.
#[proc_macro_attribute]
pub fn timeout(_args: TokenStream, item: TokenStream) -> TokenStream { item }
/// See `resilience_runtime`'s documentation.
#[proc_macro_attribute]
pub fn circuit_breaker(_args: TokenStream, item: TokenStream) -> TokenStream { item }
/// See `resilience_runtime`'s documentation.
#[proc_macro_attribute]
pub fn fallback(_args: TokenStream, item: TokenStream) -> TokenStream { item }
/// See `resilience_runtime`'s documentation.
#[proc_macro_attribute]
pub fn bulkhead(_args: TokenStream, item: TokenStream) -> TokenStream { item }
/// See `resilience_runtime`'s documentation.
#[proc_macro_attribute]
pub fn rate_limit(_args: TokenStream, item: TokenStream) -> TokenStream { item }
