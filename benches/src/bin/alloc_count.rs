//! Heap allocations per call of every case, after warm-up, counted by a global
//! allocator that counts.
//!
//! ```text
//! cargo run -p resilience-bench --release --bin alloc_count            # print the table
//! cargo run -p resilience-bench --release --bin alloc_count -- --check # also fail if ours allocate
//! ```
//!
//! With `--check` the exit status is 1 when any of our hot paths (the success path of
//! each attribute: closed breaker, free bulkhead slot, admitted rate-limit call, ...)
//! allocates. The figures also go to `target/resilience-bench/allocations.tsv`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use resilience_bench::alloc::{CountingAllocator, allocations_per_call};
use resilience_bench::cases::{CASES, Role};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Calls per counted batch.
const CALLS: u64 = 100_000;

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    // As the criterion suite does: with `RESILIENCE_BENCH_LISTENER=1`, one event
    // listener subscribed throughout (with `--features metrics`: the issue's setting).
    let _listener = std::env::var_os("RESILIENCE_BENCH_LISTENER").map(|_| {
        resilience_runtime::events::subscribe(|event| {
            std::hint::black_box(event);
        })
    });
    let mut failures = Vec::new();
    let mut rows = BTreeMap::new();
    println!("{:<36} {:>14}", "case", "allocs/call");
    for case in CASES {
        let per_call = allocations_per_call(case, CALLS);
        println!("{:<36} {:>14.3}", case.id, per_call);
        rows.insert(case.id.to_owned(), vec![format!("{per_call:.3}")]);
        if case.role == Role::Ours && per_call > 0.0 {
            failures.push((case.id, per_call));
        }
    }
    if let Err(e) = resilience_bench::results::merge("allocations.tsv", rows) {
        eprintln!("could not save the figures: {e}");
    }
    if check && !failures.is_empty() {
        for (id, per_call) in failures {
            eprintln!("error: `{id}` allocates {per_call} times per call on its hot path");
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
