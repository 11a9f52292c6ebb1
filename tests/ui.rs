//! Compile-time diagnostics of the attribute macros (`tests/ui/fail`, each with the
//! compiler output it must produce) and the function shapes that must compile cleanly
//! under `#![deny(warnings)]` (`tests/ui/pass`).
//!
//! Re-bless after a deliberate change to a message:
//! `TRYBUILD=overwrite cargo test --test ui`, then read every changed `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
