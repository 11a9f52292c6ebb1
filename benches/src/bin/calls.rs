//! Runs one case's calls, for counting instructions per call with callgrind, which
//! gives the same count on a busy machine as on a quiet one (wall-clock figures do
//! not): `N` calls after a warm-up of the same size.
//!
//! ```text
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/calls breaker_ours 10000
//! ```
//!
//! The difference between the totals of two runs (say 2 000 and 12 000 calls) over
//! 10 000 is the case's instructions per call; `benches/instructions.sh` does this for
//! every case of ours.

use std::process::ExitCode;

use resilience_bench::cases::CASES;
use resilience_bench::harness::time_one;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("--list") {
        for case in CASES {
            println!("{}", case.id);
        }
        return ExitCode::SUCCESS;
    }
    let (Some(id), Some(calls)) = (first, args.next()) else {
        eprintln!("usage: calls CASE_ID CALLS, or calls --list");
        return ExitCode::from(2);
    };
    let Ok(calls) = calls.parse::<u64>() else {
        eprintln!("CALLS must be a whole number, not {calls:?}");
        return ExitCode::from(2);
    };
    let Some(case) = CASES.iter().find(|c| c.id == id) else {
        eprintln!(
            "no case {id:?}; cases: {}",
            CASES.iter().map(|c| c.id).collect::<Vec<_>>().join(", ")
        );
        return ExitCode::from(2);
    };
    time_one(case.make, 1_000);
    time_one(case.make, calls);
    ExitCode::SUCCESS
}
