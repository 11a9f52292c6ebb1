//! The per-call cost of each attribute, success path, next to the floor (a bare call)
//! and the crates a user would otherwise pick; one thread, then two threads sharing
//! one instance for every stateful case. The cases are in `resilience_bench::cases`.
//!
//! ```text
//! cargo bench -p resilience-bench --bench overhead
//! ```

use resilience_bench::cases::CASES;
use resilience_bench::suite;

fn main() {
    suite::run(CASES);
}
