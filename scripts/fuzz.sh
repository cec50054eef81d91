#!/usr/bin/env bash
# Builds mcsrun's fuzz targets (fuzz/, cargo-fuzz + libFuzzer) and runs each one in turn.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  default 600; TARGETs default to every target in fuzz/fuzz_targets.
#   Env FUZZ_SANITIZER=address|none forces the sanitizer (default: address when it builds
#   with this toolchain, else none).
#
# Corpora grow in fuzz/corpus/<target> (seeded from fuzz/seeds/<target>), crashing inputs
# land in fuzz/artifacts/<target>, libFuzzer's output in fuzz/target/logs/<target>.log;
# all git-ignored. Prints per target the runs executed, the corpus size and the new
# crashes; exits 1 if any target crashed (after running the others), 2 on a usage error.
# Each target runs as one libFuzzer process, i.e. one job on one core.
#
# cargo fuzz passes nightly-only flags to rustc; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them. cargo-fuzz itself is installed when missing.
set -euo pipefail
fuzz_dir="$(cd "$(dirname "$0")/../fuzz" && pwd)"
cd "$fuzz_dir"
export RUSTC_BOOTSTRAP=1
# cargo fuzz builds into fuzz/target; a CARGO_TARGET_DIR meant for the main workspace
# would mix instrumented and plain builds.
unset CARGO_TARGET_DIR

seconds="${1:-600}"
case "$seconds" in
  ''|*[!0-9]*) echo "fuzz.sh: SECONDS_PER_TARGET must be a number, got '$seconds'" >&2; exit 2 ;;
esac
[ $# -gt 0 ] && shift
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for source in fuzz_targets/*.rs; do
    name="${source##*/}"
    targets+=("${name%.rs}")
  done
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz"
  install_start=$(date +%s)
  cargo install cargo-fuzz --locked --quiet
  echo "fuzz.sh: cargo-fuzz installed in $(( $(date +%s) - install_start )) s"
fi

sanitizer="${FUZZ_SANITIZER:-}"
if [ -z "$sanitizer" ]; then
  mkdir -p target
  if cargo fuzz build -a --sanitizer address "${targets[@]:0:1}" >/dev/null 2>target/build-address.log; then
    sanitizer=address
  else
    echo "fuzz.sh: the address sanitizer does not build here (see fuzz/target/build-address.log); fuzzing without"
    sanitizer=none
  fi
fi
build_start=$(date +%s)
for target in "${targets[@]}"; do
  cargo fuzz build -a --sanitizer "$sanitizer" "$target"
done
echo "fuzz.sh: built ${#targets[@]} targets (sanitizer: $sanitizer) in $(( $(date +%s) - build_start )) s"

count_files() { find "$1" -maxdepth 1 -type f 2>/dev/null | wc -l; }

crashed=0
summary=()
for target in "${targets[@]}"; do
  corpus="corpus/$target"
  artifacts="artifacts/$target"
  mkdir -p "$corpus" "$artifacts" "seeds/$target"
  crashes_before=$(count_files "$artifacts")
  dict=()
  [ -f "dict/$target.dict" ] && dict=("-dict=dict/$target.dict")
  log="$fuzz_dir/target/logs/$target.log"
  mkdir -p "${log%/*}"
  echo "fuzz.sh: $target for $seconds s (log: $log)"
  status=0
  cargo fuzz run -a --sanitizer "$sanitizer" "$target" "$corpus" "seeds/$target" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 "${dict[@]}" \
    >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  crashes=$(( $(count_files "$artifacts") - crashes_before ))
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    # libFuzzer failed without writing an input (e.g. the target did not start).
    crashes=1
    tail -n 20 "$log" >&2
  fi
  if [ "$crashes" -gt 0 ]; then
    crashed=1
    grep -E "panicked at|ERROR: |SUMMARY: |Test unit written to" "$log" | head -n 8 >&2 || true
  fi
  summary+=("$(printf '%-14s %4s s  runs %10s  corpus %6s  crashes %s' \
    "$target" "$seconds" "${runs:-?}" "$(count_files "$corpus")" "$crashes")")
done

echo "fuzz.sh: summary"
printf '  %s\n' "${summary[@]}"
exit "$crashed"
