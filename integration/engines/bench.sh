#!/usr/bin/env bash
# What mcsrun adds to a container's life through the engines: the wall time of
#   docker run --rm IMG true          (--runtime mcsrun vs --runtime runc)
#   ctr run --rm IMG ID true          (--runc-binary mcsrun vs --runc-binary runc)
# the two runtimes alternating, N timed runs each after 2 warm-up runs; prints the
# medians and their ratio. The engines are the end-to-end suite's private containerd and
# dockerd (started with `engines_e2e -- --up`, removed with `-- --down` at exit).
#
# Usage (root):  integration/engines/bench.sh [N]        N defaults to 20
# Env: BENCH_PROFILE  cargo profile of mcsrun and the harness (default release)
#      BENCH_SELINUX  mcsrun's mode during the runs (default dry-run: decides, allocates
#                     and rewrites config.json as on an SELinux host, minus the kernel)
#      MCSRUN_E2E_DIR where the engines live (default /tmp/mcsrun-engines)
set -euo pipefail

runs=${1:-20}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [N]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: run as root (it starts containerd and dockerd)" >&2; exit 1; }
command -v jq >/dev/null || { echo "$0: needs jq (apt-get install jq)" >&2; exit 1; }
profile=${BENCH_PROFILE:-release}
export MCSRUN_E2E_SELINUX=${BENCH_SELINUX:-dry-run}
dir=${MCSRUN_E2E_DIR:-/tmp/mcsrun-engines}
cd "$(dirname "$0")/../.."

echo "building mcsrun and the engines harness ($profile)..." >&2
harness=$(cargo test --profile "$profile" --test engines_e2e --no-run --message-format=json 2>/dev/null |
  jq -r 'select(.reason == "compiler-artifact" and .target.name == "engines_e2e" and .executable != null) | .executable' |
  tail -n 1)
[ -x "$harness" ] || { echo "$0: could not build the engines_e2e harness" >&2; exit 1; }

"$harness" --up >&2
trap '"$harness" --down >&2 || true' EXIT
# shellcheck disable=SC1091
source "$dir/env.sh"
read -r -a docker <<<"$E2E_DOCKER"
read -r -a ctr <<<"$E2E_CTR"

now_ns() { date +%s%N; }

# time_ms CMD...: runs CMD (output discarded), prints its wall time in ms; fails with it.
time_ms() {
  local start end
  start=$(now_ns)
  "$@" >/dev/null
  end=$(now_ns)
  echo $(((end - start) / 1000000))
}

median() { sort -n | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

docker_run() { "${docker[@]}" run --rm --network none --runtime "$1" "$E2E_DOCKER_IMAGE" true; }
ctr_serial=0
ctr_run() {
  ctr_serial=$((ctr_serial + 1))
  "${ctr[@]}" run --rm --runc-binary "$1" --runc-root "$E2E_RUNC_ROOT" \
    "$E2E_CONTAINERD_IMAGE" "bench-$ctr_serial" true
}

# bench NAME RUNNER MCSRUN_ARG RUNC_ARG: prints one result line.
bench() {
  local name=$1 runner=$2 with_mcsrun=$3 with_runc=$4 i
  local mcsrun_times=() runc_times=()
  for i in 1 2; do "$runner" "$with_mcsrun" >/dev/null; "$runner" "$with_runc" >/dev/null; done
  for ((i = 0; i < runs; i++)); do
    if ((i % 2)); then
      runc_times+=("$(time_ms "$runner" "$with_runc")")
      mcsrun_times+=("$(time_ms "$runner" "$with_mcsrun")")
    else
      mcsrun_times+=("$(time_ms "$runner" "$with_mcsrun")")
      runc_times+=("$(time_ms "$runner" "$with_runc")")
    fi
  done
  local m r
  m=$(printf '%s\n' "${mcsrun_times[@]}" | median)
  r=$(printf '%s\n' "${runc_times[@]}" | median)
  awk -v name="$name" -v m="$m" -v r="$r" \
    'BEGIN {printf "%-34s %9.1f %9.1f %7.3f %+8.1f\n", name, r, m, m / r, m - r}'
}

echo "mcsrun: $E2E_RUNTIME (mode $MCSRUN_SELINUX); runc: $E2E_RUNC; $runs runs each, medians in ms"
printf '%-34s %9s %9s %7s %8s\n' "" runc mcsrun ratio delta
bench "docker run --rm IMG true" docker_run "$E2E_DOCKER_RUNTIME_NAME" runc
bench "ctr run --rm IMG x true" ctr_run "$E2E_RUNTIME" "$E2E_RUNC"
