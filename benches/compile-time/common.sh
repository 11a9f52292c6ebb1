# Helpers shared by the compile-time scripts (sourced by run.sh and stacks.sh).

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

manifest() { # $1 = a generated crate's dir, $2 = extra dependency lines: its Cargo.toml,
             # a workspace of its own on this checkout's runtime ($root, set by the caller)
  cat > "$1/Cargo.toml" <<TOML
[package]
name = "$(basename "$1")"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
resilience-runtime = { path = "$root/resilience-runtime" }
tokio = { version = "1", features = ["time"] }
$2
[workspace]
TOML
}
