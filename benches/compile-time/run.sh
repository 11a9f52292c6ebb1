#!/usr/bin/env bash
# Compile-time cost of the attributes: a generated crate of N annotated functions
# against the same crate with the attributes removed. Prints `cargo check` and
# `cargo build --release` times (median of RUNS) and the macro crate's clean build.
#
#   benches/compile-time/run.sh [N=100] [RUNS=5]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-100}
runs=${2:-5}
work="$root/target/compile-time"
mkdir -p "$work"

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
    echo 'use resilience_runtime::*;'
    echo '#[derive(Debug)] pub enum E { Io, Rejected(Rejection) }'
    echo 'impl From<Rejection> for E { fn from(r: Rejection) -> Self { E::Rejected(r) } }'
    echo 'pub struct Svc { pub base: u32 }'
    echo 'impl Svc {'
    for i in $(seq 1 "$n"); do
      if [ "$attrs" = 1 ]; then
        case $((i % ${MIX:-4})) in
          0) echo '    #[retry(max_attempts = 3, backoff = fixed("10ms"))]' ;;
          1) echo '    #[timeout("2s")]' ;;
          2) echo '    #[retry(max_attempts = 2)]'; echo '    #[timeout("1s")]' ;;
          3) echo '    #[fallback(default)]' ;;
          4) echo '    #[circuit_breaker(failure_rate = 0.5)]' ;;
          5) echo '    #[bulkhead(max_concurrent = 8)]' ;;
          6) echo '    #[rate_limit(rate = "100/s")]' ;;
        esac
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

measure() { # $1 = dir, $2 = cargo subcommand args
  local dir=$1; shift
  (cd "$dir" && cargo "$@" -q >/dev/null 2>&1) # dependencies, once
  for _ in $(seq 1 "$runs"); do
    touch "$dir/src/lib.rs"
    local t0 t1
    t0=$(date +%s.%N)
    (cd "$dir" && cargo "$@" -q >/dev/null)
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
  done | median
}

gen "$work/with_attrs" 1
gen "$work/without_attrs" 0
for mode in "check" "build --release"; do
  # shellcheck disable=SC2086
  with=$(measure "$work/with_attrs" $mode)
  # shellcheck disable=SC2086
  without=$(measure "$work/without_attrs" $mode)
  ratio=$(echo "scale=2; $with / $without" | bc)
  per_fn=$(echo "scale=2; ($with - $without) * 1000 / $n" | bc)
  printf 'cargo %-15s  with: %6.3fs  without: %6.3fs  ratio: %sx  per function: +%s ms\n' \
    "$mode" "$with" "$without" "$ratio" "$per_fn"
done

# The macro crate's own clean build (what a user's first build pays for it).
cd "$root"
t0=$(date +%s.%N)
CARGO_TARGET_DIR="$work/macros-clean" cargo build -q -p resilience-macros --release 2>/dev/null
t1=$(date +%s.%N)
rm -rf "$work/macros-clean"
printf 'resilience-macros clean release build (with syn, quote, proc-macro2): %.1fs\n' "$(echo "$t1 - $t0" | bc)"
