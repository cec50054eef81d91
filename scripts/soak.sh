#!/usr/bin/env bash
# Crash soak of mcsrun's level allocator. Builds mcsrun and mcsctl (release) and the soak
# driver (scripts/soak), then, in a private world (state dir, config with
# categories = "c0.c9" = 45 pairs and selinux = "force", a recording fake runtime with its
# own --root): P workers run mcsrun create/delete cycles while a killer SIGKILLs random
# mcsrun processes every 0-20 ms. Afterwards `mcsctl gc --grace-seconds 0` and
# `mcsctl list` must show: no level with two owners, exactly one level per live container
# (matching its config.json), nothing held for dead ones, and a second gc with no work.
#
# Usage: scripts/soak.sh [--cycles N] [--procs P] [--seconds S] [--keep]
#                        [--max-live L] [--grace-seconds G] [--seed X] [--no-kill]
#   defaults: no cycle limit, 4 procs, 60 s, at most 15 containers left alive at once,
#   gc_grace_seconds = 3 in the world's config. --keep keeps the world's directory.
# Exit status: 0 clean, 1 on any violation, 2 on a usage or setup error.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

keep=0
driver_args=()
for arg in "$@"; do
  case "$arg" in
    --keep) keep=1 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) driver_args+=("$arg") ;;
  esac
done

cargo build --release --quiet --bin mcsrun --bin mcsrun-core --bin mcsctl
cargo build --release --quiet --manifest-path scripts/soak/Cargo.toml

world=$(mktemp -d "${TMPDIR:-/tmp}/mcsrun-soak.XXXXXX")
status=0
"$CARGO_TARGET_DIR/release/mcsrun-soak" \
  --mcsrun "$CARGO_TARGET_DIR/release/mcsrun" \
  --mcsctl "$CARGO_TARGET_DIR/release/mcsctl" \
  --work "$world" "${driver_args[@]}" || status=$?

# Keep the world for a look when asked or when the soak found violations.
if [ "$keep" -eq 1 ] || [ "$status" -eq 1 ]; then
  echo "soak: world kept in $world"
else
  rm -rf "$world"
fi
exit "$status"
