#!/usr/bin/env bash
# Installs what mcsrun needs, builds and installs it, and runs a busybox container
# through it: once as the runtime would run it on this host (mode auto), once in
# dry-run mode to show the level mcsrun chose and the allocator's record of it.
# Run as root on Debian 12: sudo ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release --quiet
install -m 0755 target/release/mcsrun target/release/mcsctl /usr/local/bin/
echo "installed: $(mcsrun --version | tail -n 1)"

work=$(mktemp -d /tmp/mcsrun-demo.XXXXXX)
trap 'runc --root "$work/runc" delete -f demo-detached >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
./examples/make-bundle.sh "$work/bundle" sh -c 'echo "hello from $(hostname), running as: $(cat /proc/self/attr/current 2>/dev/null || echo unlabelled)"'

echo "== mcsrun run (mode auto: labels when SELinux is enabled, passthrough otherwise)"
mcsrun --root "$work/runc" run --bundle "$work/bundle" demo-auto

echo "== mcsrun run in dry-run mode: the level is chosen and recorded, labels written as annotations"
export MCSRUN_SELINUX=dry-run MCSRUN_STATE_DIR="$work/state"
./examples/make-bundle.sh "$work/sleeper" sleep 30
mcsrun --root "$work/runc" run --detach --bundle "$work/sleeper" demo-detached
grep -E '"run\.mcsrun\.(process|mount)-label"' "$work/sleeper/config.json"
mcsctl list
mcsrun --root "$work/runc" delete --force demo-detached
echo "== after delete"
mcsctl list
