#!/usr/bin/env bash
# What mcsrun costs, in one run: builds mcsrun, mcsctl and the benchmark examples
# (alloc_bench, relabel_speed) in release, then runs integration/bench/bench.py, which
# prints one markdown table (state, container life, relabel, allocator, each against runc,
# `chcon -R` or its own figure at another size) and a few lines of detail. README's cost
# table comes from a full run on an idle machine.
#
# Usage (root):  scripts/bench.sh [--quick] [--runs N] [--only SECTIONS]
#   --quick   small counts, under 2 minutes once built (a check of the script, not figures)
#   --runs N  pairs per comparison (default 30, quick 5); `state` uses 4N
#   --only S  only these sections, comma-separated: state,life,relabel,alloc,rss
# Needs runc, busybox (static), chcon; uses perf, valgrind and GNU time when present.
# Exits non-zero only when a command fails (a broken run), never on a slow figure.
set -euo pipefail

usage() { echo "usage: $0 [--quick] [--runs N] [--only SECTIONS]" >&2; exit 2; }
args=()
while (($#)); do
  case $1 in
    --quick) args+=(--quick) ;;
    --runs)
      [[ ${2-} =~ ^[1-9][0-9]*$ ]] || usage
      args+=(--runs "$2")
      shift
      ;;
    --only)
      [[ ${2-} =~ ^(state|life|relabel|alloc|rss)(,(state|life|relabel|alloc|rss))*$ ]] || usage
      args+=(--only "$2")
      shift
      ;;
    -h | --help) usage ;;
    *) usage ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "$0: run as root (runc containers, security.selinux xattrs)" >&2; exit 1; }
for tool in runc busybox chcon python3 cargo; do
  command -v "$tool" >/dev/null || { echo "$0: needs $tool" >&2; exit 1; }
done
cd "$(dirname "$0")/.."

# The binaries the packages ship: release, static PIEs for the host triple, as
# scripts/package.sh builds them (crt-static needs an explicit --target).
host=$(rustc -vV | sed -n 's/^host: //p')
echo "building mcsrun, mcsctl and the benchmark examples (release, static, $host)..." >&2
RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static" \
  cargo build --release --quiet --target "$host" -p mcsrun -p mcs-alloc -p fs-label \
  --bin mcsrun --bin mcsrun-core --bin mcsctl --example alloc_bench --example relabel_speed

target=${CARGO_TARGET_DIR:-target}/$host
exec python3 integration/bench/bench.py --target "$target" "${args[@]}"
