//! The per-call cost of each attribute, success path, next to the floor (a bare call)
//! and the crates a user would otherwise pick; one thread, then two threads sharing
//! one instance for every stateful case. The cases are in `resilience_bench::cases`.
//!
//! ```text
//! cargo bench -p resilience-bench --bench overhead
//! ```

use resilience_bench::cases::{CASES, warm_up};
use resilience_bench::suite;

fn main() {
    warm_up();
    let mut c = suite::criterion();
    suite::one_thread(&mut c, CASES);
    suite::two_threads(&mut c, CASES);
    suite::save_overlap_stats();
    c.final_summary();
}
