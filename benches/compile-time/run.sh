#!/usr/bin/env bash
# Compile-time cost of the attributes: a generated crate of N annotated async methods
# (a mix of all six attributes) against the same crate with the attributes removed.
#
#   benches/compile-time/run.sh [N=100] [RUNS=10] [CLEAN_RUNS=5]
#
# Prints, as medians of RUNS (CLEAN_RUNS for clean builds), the two crates' runs
# interleaved so that a change in the machine's load hits both alike:
#   - `cargo check` of the crate alone as cargo runs it by default (dependencies built,
#     the crate's source touched, incremental compilation on): the method of the issue
#     that set the 1.5x target, where tracing's `#[instrument]` gives 3.0x; the same
#     crate with `#[instrument]` on every function is measured beside it, to calibrate;
#   - `cargo check` and `cargo build --release` of the crate alone with incremental
#     compilation off, so that the crate is really type-checked again (stricter: the
#     incremental cache no longer hides the cost of checking the expansions);
#   - `cargo check` from an empty target directory (every dependency too);
#   - the macro crate's own clean release build (with syn, quote, proc-macro2);
#   - per attribute: `cargo check` (the default, incremental) of N functions all
#     carrying that one attribute set.
# The figures also go to target/resilience-bench/compile-time.tsv for the report.
set -euo pipefail
shopt -s inherit_errexit
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-100}
runs=${2:-10}
clean_runs=${3:-5}
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

gen() { # $1 = dir, $2 = which attributes: all (the mix), none, an index into the mix,
        # async1 / async2: no attribute, the body in one / two nested async blocks
        # (what the expansion adds, written by hand: the reference for its cost), or
        # instrument / none-tracing: tracing's `#[instrument]`, or none, with tracing
        # as a dependency
  local dir=$1 attrs=$2 extra=""
  case $attrs in instrument | none-tracing) extra='tracing = "0.1"' ;; esac
  mkdir -p "$dir/src"
  manifest "$dir" "$extra"
  {
    echo '#![allow(unused_imports)]'
    echo 'use resilience_runtime::*;'
    echo '#[derive(Debug)] pub enum E { Io, Rejected(Rejection) }'
    echo 'impl From<Rejection> for E { fn from(r: Rejection) -> Self { E::Rejected(r) } }'
    echo 'pub struct Svc { pub base: u32 }'
    echo 'impl Svc {'
    for i in $(seq 1 "$n"); do
      case $attrs in
        all) echo "    ${mix[$((i % ${#mix[@]}))]}" ;;
        instrument) echo "    #[tracing::instrument(skip(self))]" ;;
        none* | async*) ;;
        *) echo "    ${mix[$attrs]}" ;;
      esac
      echo "    pub async fn f$i(&self, key: &str, n: u32) -> Result<u32, E> {"
      local body="if key.is_empty() { return Err(E::Io); } Ok(self.base + n + $i)"
      case $attrs in
        async1) echo "        async move { $body }.await" ;;
        async2) echo "        async move { async move { $body }.await }.await" ;;
        *) echo "        $body" ;;
      esac
      echo "    }"
    done
    echo '}'
  } > "$dir/src/lib.rs"
}

# shellcheck source=common.sh
source "$root/benches/compile-time/common.sh"

# The crates' own builds share one target directory, so dependencies build once.
shared="$work/target"
# A re-check of a touched but unchanged file would reuse the incremental cache's
# type-checking results and measure almost nothing: the crate-only builds are full
# ones. (Clean builds keep cargo's default, as a user's first check has it.)
crate_env="CARGO_INCREMENTAL=0 CARGO_TARGET_DIR='$shared'"

# cargo's default: incremental, in a target directory of its own (the setting is part
# of the dependencies' fingerprint).
incr_env="CARGO_TARGET_DIR='$work/target-incremental'"

# $1 = "crate" (the crate alone: touched, dependencies built, not incremental),
# "incr" (the same, incremental as cargo has it by default) or "clean" (an empty
# target directory), $2 = runs, $3 = cargo arguments, rest = crate dirs. Prints one
# median per crate, on one line; the crates take turns run by run.
measure() {
  local kind=$1 count=$2 args=$3; shift 3
  local dir env=$crate_env
  [ "$kind" = incr ] && env=$incr_env
  for dir in "$@"; do
    quiet bash -c "cd '$dir' && $env cargo $args" # dependencies
    quiet bash -c "cd '$dir' && touch src/lib.rs && $env cargo $args" # the cache
    : > "$dir/times"
  done
  for _ in $(seq 1 "$count"); do
    for dir in "$@"; do
      if [ "$kind" = clean ]; then
        rm -rf "$dir/target-clean"
        seconds bash -c "cd '$dir' && CARGO_TARGET_DIR=target-clean cargo $args" >> "$dir/times"
        rm -rf "$dir/target-clean"
      else
        touch "$dir/src/lib.rs"
        seconds bash -c "cd '$dir' && $env cargo $args" >> "$dir/times"
      fi
    done
  done
  for dir in "$@"; do
    median < "$dir/times"
  done | tr '\n' ' '
}

with="$work/with_attrs"
without="$work/without_attrs"
gen "$with" all
gen "$without" none
tsv="functions	$n"$'\n'
report() { # $1 = key, $2 = what, $3 = with, $4 = without
  local ratio per_fn
  ratio=$(echo "scale=2; $3 / $4" | bc)
  per_fn=$(echo "scale=2; ($3 - $4) * 1000 / $n" | bc)
  printf '%-48s with: %7.3fs  without: %7.3fs  ratio: %sx  per function: %+.2f ms\n' \
    "$2" "$3" "$4" "$ratio" "$per_fn"
  tsv+="$1	$3	$4"$'\n'
}
# shellcheck disable=SC2046
report check-incr "cargo check (crate only, incremental: default)" \
  $(measure incr "$runs" check "$with" "$without")
gen "$work/instrument" instrument
gen "$work/none-tracing" none-tracing
# shellcheck disable=SC2046
report check-incr-instrument "  the same with tracing's #[instrument]" \
  $(measure incr "$runs" check "$work/instrument" "$work/none-tracing")
# shellcheck disable=SC2046
report check "cargo check (crate only, not incremental)" \
  $(measure crate "$runs" check "$with" "$without")
# shellcheck disable=SC2046
report build-release "cargo build --release (crate only)" \
  $(measure crate "$runs" "build --release" "$with" "$without")
# shellcheck disable=SC2046
report clean-check "cargo check (clean, all dependencies)" \
  $(measure clean "$clean_runs" check "$with" "$without")

# Each attribute alone on every function, and the body in one or two async blocks by
# hand: where the checking time goes.
for k in "${!mix[@]}"; do
  gen "$work/only_$k" "$k"
done
gen "$work/async1" async1
gen "$work/async2" async2
dirs=("$without" "$work/async1" "$work/async2")
for k in "${!mix[@]}"; do dirs+=("$work/only_$k"); done
read -r -a times <<< "$(measure incr "$runs" check "${dirs[@]}")"
report check-async-1 "  no attribute, body in an async block" "${times[1]}" "${times[0]}"
report check-async-2 "  no attribute, body in 2 nested async blocks" "${times[2]}" "${times[0]}"
for k in "${!mix[@]}"; do
  report "check-only-$k" "  only ${mix[$k]}" "${times[$((k + 3))]}" "${times[0]}"
  tsv+="attribute-$k	${mix[$k]}"$'\n'
done

# The macro crate's own clean build (what a user's first build pays for it).
cd "$root"
rm -rf "$work/macros-clean"
t=$(seconds bash -c "CARGO_TARGET_DIR='$work/macros-clean' cargo build -p resilience-macros --release")
rm -rf "$work/macros-clean"
printf 'resilience-macros clean release build (with syn, quote, proc-macro2): %.1fs\n' "$t"
tsv+="macros-clean-build	$t"$'\n'
printf '%s' "$tsv" > "$results/compile-time.tsv"
