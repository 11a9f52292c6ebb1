#!/usr/bin/env bash
# One run of everything BENCHMARKS.md reports, then its tables rewritten from it:
# the criterion suite (one and two threads), allocations per call, compile time.
# Takes about 7 minutes on 2 cores; run it when the machine is otherwise idle.
#
#   benches/run.sh            # everything, then BENCHMARKS.md updated
#   benches/run.sh --no-write # everything, tables printed only
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
results="$target/resilience-bench"

# Start from nothing, so that every figure in the tables comes from this run.
rm -rf "$results" "$target/criterion/one_thread" "$target/criterion/two_threads"
mkdir -p "$results"
load() { cut -d' ' -f1-3 /proc/loadavg; }
printf 'started\t%s\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(load)" > "$results/run.tsv.part"

cargo bench -p resilience-bench --bench overhead
cargo run -p resilience-bench --release --bin alloc_count -- --check
benches/compile-time/run.sh 100 10 5
benches/compile-time/stacks.sh 100 10 5

printf 'finished\t%s\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(load)" >> "$results/run.tsv.part"
mv "$results/run.tsv.part" "$results/run.tsv"
if [ "${1:-}" = "--no-write" ]; then
  cargo run -q -p resilience-bench --release --bin report
else
  cargo run -q -p resilience-bench --release --bin report -- --write
fi
