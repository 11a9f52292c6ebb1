#!/usr/bin/env bash
# Compile time of issue 16's two crates, measured as the issue measured them: 100 async
# fns with one attribute each (a quarter each of `#[retry(max_attempts = 3)]`,
# `#[timeout("1s")]`, `#[circuit_breaker(name = ..)]`, `#[fallback(default)]`), and
# the same 100 with `retry + circuit_breaker + timeout` stacked on each; beside the
# plain crate and tracing's `#[instrument]` on every fn (with tracing as a dependency
# of its plain twin), all in one run, taking turns.
#
#   benches/compile-time/stacks.sh [N=100] [RUNS=10] [CLEAN_RUNS=5]
#
# Prints medians: `cargo check` as cargo runs it by default (incremental; the crate's
# source touched, then checked again) and a clean check of the crate alone
# (`cargo clean -p` of it, its dependencies built). Figures also go to
# target/resilience-bench/compile-stacks.tsv.
set -euo pipefail
shopt -s inherit_errexit
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-100}
runs=${2:-10}
clean_runs=${3:-5}
work="${CARGO_TARGET_DIR:-$root/target}/compile-stacks"
results="${CARGO_TARGET_DIR:-$root/target}/resilience-bench"
mkdir -p "$work" "$results"

gen() { # $1 = dir, $2 = plain | mix | stack | instrument | plain-tracing
  local dir=$1 kind=$2 extra=""
  case $kind in instrument | plain-tracing) extra='tracing = "0.1"' ;; esac
  mkdir -p "$dir/src"
  manifest "$dir" "$extra"
  {
    echo '#![allow(unused_imports)]'
    echo 'use resilience_runtime::*;'
    echo '#[derive(Debug, Default)] pub struct V(pub u32);'
    echo '#[derive(Debug)] pub enum E { Io, Rejected(Rejection) }'
    echo 'impl From<Rejection> for E { fn from(r: Rejection) -> Self { E::Rejected(r) } }'
    for i in $(seq 1 "$n"); do
      case $kind in
        mix)
          case $((i % 4)) in
            0) echo '#[retry(max_attempts = 3)]' ;;
            1) echo '#[timeout("1s")]' ;;
            2) echo "#[circuit_breaker(name = \"f$i\")]" ;;
            3) echo '#[fallback(default)]' ;;
          esac
          ;;
        stack)
          echo '#[retry(max_attempts = 3)]'
          echo "#[circuit_breaker(name = \"f$i\")]"
          echo '#[timeout("1s")]'
          ;;
        instrument) echo '#[tracing::instrument]' ;;
      esac
      echo "pub async fn f$i(key: &str, n: u32) -> Result<V, E> {"
      echo "    if key.is_empty() { return Err(E::Io); }"
      echo "    Ok(V(n + $i))"
      echo "}"
    done
  } > "$dir/src/lib.rs"
}

# shellcheck source=common.sh
source "$root/benches/compile-time/common.sh"

# $1 = touch | clean, $2 = runs, rest = crate dirs (each its own target directory,
# as a user's crate has). Prints one median per crate on one line; the crates take
# turns run by run, so that a change in the machine's load hits them alike.
measure() {
  local kind=$1 count=$2; shift 2
  local dir
  for dir in "$@"; do
    quiet bash -c "cd '$dir' && cargo check" # dependencies
    quiet bash -c "cd '$dir' && touch src/lib.rs && cargo check" # the cache
    : > "$dir/times"
  done
  for _ in $(seq 1 "$count"); do
    for dir in "$@"; do
      if [ "$kind" = clean ]; then
        quiet bash -c "cd '$dir' && cargo clean -p '$(basename "$dir")'"
      else
        touch "$dir/src/lib.rs"
      fi
      seconds bash -c "cd '$dir' && cargo check" >> "$dir/times"
    done
  done
  for dir in "$@"; do
    median < "$dir/times"
  done | tr '\n' ' '
}

for kind in plain mix stack instrument plain-tracing; do
  gen "$work/$kind" "$kind"
done
dirs=("$work/plain" "$work/mix" "$work/stack" "$work/plain-tracing" "$work/instrument")
tsv="functions	$n"$'\n'
for kind in touch clean; do
  count=$runs
  [ "$kind" = clean ] && count=$clean_runs
  read -r -a t <<< "$(measure "$kind" "$count" "${dirs[@]}")"
  ratio() { echo "scale=2; $1 / $2" | bc; }
  printf '%-6s plain %6.3fs | one attribute each %6.3fs = %sx | retry+breaker+timeout %6.3fs = %sx | #[instrument] %6.3fs = %sx (its plain twin %6.3fs)\n' \
    "$kind" "${t[0]}" "${t[1]}" "$(ratio "${t[1]}" "${t[0]}")" "${t[2]}" "$(ratio "${t[2]}" "${t[0]}")" \
    "${t[4]}" "$(ratio "${t[4]}" "${t[3]}")" "${t[3]}"
  tsv+="$kind	${t[0]}	${t[1]}	${t[2]}	${t[3]}	${t[4]}"$'\n'
done
printf '%s' "$tsv" > "$results/compile-stacks.tsv"
