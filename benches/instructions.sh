#!/usr/bin/env bash
# Instructions per call of each case, counted with callgrind (the same on a busy
# machine as on a quiet one): the difference between runs of LOW and HIGH calls.
#   benches/instructions.sh [CASE_ID ...]     (default: every case)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p resilience-bench --release --bin calls ${FEATURES:+--features "$FEATURES"} >&2
bin=target/release/calls
low=${LOW:-2000}
high=${HIGH:-12000}
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  mapfile -t cases < <("$bin" --list)
fi
for id in "${cases[@]}"; do
  a=$(count "$id" "$low")
  b=$(count "$id" "$high")
  awk -v id="$id" -v a="$a" -v b="$b" -v n=$((high - low)) 'BEGIN { printf "%-36s %8.1f\n", id, (b - a) / n }'
done
