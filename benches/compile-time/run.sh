#!/usr/bin/env bash
# Compile-time cost of the attributes: a generated crate of N annotated async methods
# (a mix of all six attributes) against the same crate with the attributes removed.
#
#   benches/compile-time/run.sh [N=100] [RUNS=5] [CLEAN_RUNS=3]
#
# Prints, as medians of RUNS (CLEAN_RUNS for clean builds):
#   - `cargo check` and `cargo build --release` of the crate alone (dependencies built,
#     the crate's source touched): the ratio with/without and the time added per function;
#   - `cargo check` from an empty target directory (every dependency too);
#   - the macro crate's own clean release build (with syn, quote, proc-macro2).
# The figures also go to target/resilience-bench/compile-time.tsv for the report.
set -euo pipefail
shopt -s inherit_errexit
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-100}
runs=${2:-5}
clean_runs=${3:-3}
work="${CARGO_TARGET_DIR:-$root/target}/compile-time"
results="${CARGO_TARGET_DIR:-$root/target}/resilience-bench"
mkdir -p "$work" "$results"

# Attribute sets, cycled over the functions: each of the six attributes alone with
# typical arguments, and the common retry-over-timeout pair.
mix=(
  '#[retry(max_attempts = 3, backoff = fixed("10ms"))]'
  '#[timeout("2s")]'
  '#[retry(max_attempts = 2)] #[timeout("1s")]'
  '#[fallback(default)]'
  '#[circuit_breaker(failure_rate = 0.5)]'
  '#[bulkhead(max_concurrent = 8)]'
  '#[rate_limit(rate = "100/s")]'
)

gen() { # $1 = dir, $2 = with attributes (1/0)
  local dir=$1 attrs=$2
  mkdir -p "$dir/src"
  cat > "$dir/Cargo.toml" <<TOML
[package]
name = "$(basename "$dir")"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
resilience-runtime = { path = "$root/resilience-runtime" }
tokio = { version = "1", features = ["time"] }
[workspace]
TOML
  {
    echo '#![allow(unused_imports)]'
    echo 'use resilience_runtime::*;'
    echo '#[derive(Debug)] pub enum E { Io, Rejected(Rejection) }'
    echo 'impl From<Rejection> for E { fn from(r: Rejection) -> Self { E::Rejected(r) } }'
    echo 'pub struct Svc { pub base: u32 }'
    echo 'impl Svc {'
    for i in $(seq 1 "$n"); do
      if [ "$attrs" = 1 ]; then
        echo "    ${mix[$((i % ${#mix[@]}))]}"
      fi
      echo "    pub async fn f$i(&self, key: &str, n: u32) -> Result<u32, E> {"
      echo "        if key.is_empty() { return Err(E::Io); }"
      echo "        Ok(self.base + n + $i)"
      echo "    }"
    done
    echo '}'
  } > "$dir/src/lib.rs"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

quiet() { # runs "$@" with its output kept back, shown only if it fails
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "failed: $*" >&2
    exit 1
  fi
  rm -f "$log"
}

seconds() { # runs "$@" quietly, prints the wall time in seconds
  local t0 t1
  t0=$(date +%s.%N)
  quiet "$@"
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}

measure() { # $1 = dir, rest = cargo arguments: the crate alone, dependencies built
  local dir=$1; shift
  quiet bash -c "cd '$dir' && cargo $*" # dependencies, once
  for _ in $(seq 1 "$runs"); do
    touch "$dir/src/lib.rs"
    seconds bash -c "cd '$dir' && cargo $*"
  done | median
}

measure_clean() { # $1 = dir: `cargo check` from an empty target directory
  local dir=$1
  quiet bash -c "cd '$dir' && cargo fetch"
  for _ in $(seq 1 "$clean_runs"); do
    rm -rf "$dir/target-clean"
    seconds bash -c "cd '$dir' && CARGO_TARGET_DIR=target-clean cargo check"
  done | median
  rm -rf "$dir/target-clean"
}

gen "$work/with_attrs" 1
gen "$work/without_attrs" 0
tsv="functions	$n"$'\n'
report() { # $1 = key, $2 = what, $3 = with, $4 = without
  local ratio per_fn
  ratio=$(echo "scale=2; $3 / $4" | bc)
  per_fn=$(echo "scale=2; ($3 - $4) * 1000 / $n" | bc)
  printf '%-44s with: %7.3fs  without: %7.3fs  ratio: %sx  per function: %+.2f ms\n' \
    "$2" "$3" "$4" "$ratio" "$per_fn"
  tsv+="$1	$3	$4"$'\n'
}
for mode in "check" "build --release"; do
  # shellcheck disable=SC2086
  with=$(measure "$work/with_attrs" $mode)
  # shellcheck disable=SC2086
  without=$(measure "$work/without_attrs" $mode)
  report "${mode/ --/-}" "cargo $mode (crate only)" "$with" "$without"
done
with=$(measure_clean "$work/with_attrs")
without=$(measure_clean "$work/without_attrs")
report "clean-check" "cargo check (clean, all dependencies)" "$with" "$without"

# The macro crate's own clean build (what a user's first build pays for it).
cd "$root"
rm -rf "$work/macros-clean"
t=$(seconds bash -c "CARGO_TARGET_DIR='$work/macros-clean' cargo build -p resilience-macros --release")
rm -rf "$work/macros-clean"
printf 'resilience-macros clean release build (with syn, quote, proc-macro2): %.1fs\n' "$t"
tsv+="macros-clean-build	$t"$'\n'
printf '%s' "$tsv" > "$results/compile-time.tsv"
