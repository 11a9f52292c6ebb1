//! Running cases under criterion: one thread, then two threads sharing one instance.

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::Criterion;

use crate::cases::Case;
use crate::harness::{overlap_stats, reset_overlap_stats, time_one, time_two};

/// Runs `cases` the way every bench of this crate does: each warmed up (its runtime,
/// statics and registries made), then one thread, then two threads for the shared ones,
/// the two-thread tally saved for the report.
///
/// With `RESILIENCE_BENCH_LISTENER=1` in the environment, one event listener is
/// subscribed for the whole run (to measure what a subscribed listener costs).
pub fn run(cases: &[Case]) {
    let _listener = std::env::var_os("RESILIENCE_BENCH_LISTENER").map(|_| {
        resilience_runtime::events::subscribe(|event| {
            std::hint::black_box(event);
        })
    });
    for case in cases {
        time_one(case.make, 1_000);
    }
    let mut c = criterion();
    one_thread(&mut c, cases);
    two_threads(&mut c, cases);
    save_overlap_stats();
    c.final_summary();
}

/// Criterion set up for a shared 2-core machine: 1s of warm-up and 2s of measurement
/// per case, 50 samples; command-line options override these.
pub fn criterion() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
        .configure_from_args()
}

/// Times each case on one thread: group `one_thread`, benchmark `case.id`.
pub fn one_thread(c: &mut Criterion, cases: &[Case]) {
    let mut group = c.benchmark_group("one_thread");
    for case in cases {
        group.bench_function(case.id, |b| {
            b.iter_custom(|calls| time_one(case.make, calls))
        });
    }
    group.finish();
}

/// Times each shared case on two threads at once: group `two_threads`, benchmark
/// `case.id`; the time is per thread, per call.
pub fn two_threads(c: &mut Criterion, cases: &[Case]) {
    let mut group = c.benchmark_group("two_threads");
    for case in cases.iter().filter(|c| c.shared) {
        reset_overlap_stats(case.id);
        group.bench_function(case.id, |b| {
            b.iter_custom(|calls| time_two(case.id, case.make, calls))
        });
    }
    group.finish();
}

/// Saves the two-thread tally of the cases timed so far to
/// `target/resilience-bench/two-threads.tsv` (`id, kept, dropped, forced, mean overlap,
/// median ns per call over the kept samples`).
pub fn save_overlap_stats() {
    let rows: BTreeMap<String, Vec<String>> = overlap_stats()
        .into_iter()
        .map(|(id, s)| {
            let fields = vec![
                s.kept.to_string(),
                s.dropped.to_string(),
                s.forced.to_string(),
                format!("{:.3}", s.mean_overlap()),
                s.median_kept_ns()
                    .map_or(String::new(), |ns| format!("{ns:.3}")),
            ];
            (id, fields)
        })
        .collect();
    if let Err(e) = crate::results::merge("two-threads.tsv", rows) {
        eprintln!("could not save the two-thread tally: {e}");
    }
}
